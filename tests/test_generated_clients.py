"""Clients generated from the served documents work against the live API on the first try.

openapi-generator (Java) makes a Python client from /swagger.json and converts it to OpenAPI 3;
openapi-python-client, which refuses Swagger 2.0, makes its client from /openapi.json. Each runs once
per session; the generated clients then call a live server that trusts the fake provider's keys.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from app.snapshot import snapshot_app
from namespaces.private import SCOPED_MESSAGE
from namespaces.public import PUBLIC_MESSAGE
from security.dpop import DEFAULT_ALGORITHMS
from swagger import BEARER
from swagger.auth_schemes import DPOP
from swagger.openapi3 import to_openapi3
from tests.generators import OPC_PACKAGE, SDK_PACKAGE, importable, openapi_generator, openapi_python_client
from tests.support import Operation, live, operations

#: What a protected route answers without a token, by default (AUTH_DPOP=allowed: both schemes offered).
UNAUTHORIZED_CHALLENGE = f'Bearer realm="api", DPoP algs="{" ".join(DEFAULT_ALGORITHMS)}"'
#: Our document plus every other Swagger 2.0 scheme type, so the converter is held to
#: openapi-generator's on all of them, whichever ones the app declares today.
EVERY_SCHEME = {
    "code": {"type": "oauth2", "flow": "accessCode", "authorizationUrl": "https://id.example/authorize",
             "tokenUrl": "https://id.example/oauth/token", "scopes": {"read:things": "Read."}, "description": "Log in."},
    "machine": {"type": "oauth2", "flow": "application", "tokenUrl": "https://id.example/oauth/token",
                "scopes": {"read:things": "Read."}},
    "implicit": {"type": "oauth2", "flow": "implicit", "authorizationUrl": "https://id.example/authorize",
                 "scopes": {}},
    "password": {"type": "oauth2", "flow": "password", "tokenUrl": "https://id.example/oauth/token", "scopes": {}},
    "basic": {"type": "basic"},
    "query_key": {"type": "apiKey", "in": "query", "name": "key"},
}


@pytest.fixture(scope="session")
def contract_server(seeded_instance):
    """The app whose documents the clients are generated from, served for the whole session."""
    with live(snapshot_app(seeded_instance)) as server:
        yield server


@pytest.fixture(scope="session")
def served(contract_server):
    with requests.Session() as session:
        return {name: session.get(f"{contract_server.url}/{name}.json").json() for name in ("swagger", "openapi")}


@pytest.fixture(scope="session")
def routes(served) -> list[Operation]:
    """Every operation of the document the clients are made from: each one is called below."""
    return operations(served["swagger"])


@pytest.fixture(scope="session")
def granted(served) -> str:
    """A scope claim granting every scope the API declares."""
    return " ".join(served["swagger"]["securityDefinitions"]["authorization_code"]["scopes"])


def documented(operation: Operation, status: str) -> dict:
    """The body the document shows for that answer (a test elsewhere holds it to the live one)."""
    return operation.spec["responses"][status]["examples"]["application/json"]


@pytest.fixture(scope="session")
def every_scheme(served):
    """Our Swagger document with every scheme type added (see EVERY_SCHEME)."""
    schemes = {**served["swagger"]["securityDefinitions"], **EVERY_SCHEME}
    return dict(served["swagger"], securityDefinitions=schemes)


@pytest.fixture(scope="session")
def java_made(contract_server, every_scheme, tmp_path_factory):
    """openapi-generator's Python client, and its OpenAPI 3 conversions of our document and of every_scheme."""
    out = tmp_path_factory.mktemp("openapi-generator")
    (out / "every-scheme.json").write_text(json.dumps(every_scheme))
    spec_url = contract_server.url + "/swagger.json"
    return openapi_generator(out, {
        "python": {"generatorName": "python", "inputSpec": spec_url, "additionalProperties": {"packageName": SDK_PACKAGE}},
        "openapi": {"generatorName": "openapi", "inputSpec": spec_url},
        "every_scheme": {"generatorName": "openapi", "inputSpec": str(out / "every-scheme.json")},
    })


@pytest.fixture(scope="session")
def sdk(java_made):
    with importable(java_made["python"], SDK_PACKAGE) as package:
        yield package


@pytest.fixture(scope="session")
def opc(contract_server, tmp_path_factory):
    folder = openapi_python_client(contract_server.url + "/openapi.json", tmp_path_factory.mktemp("opc"))
    with importable(folder, OPC_PACKAGE) as package:
        yield package


# -- the converter against openapi-generator's ------------------------------------------------------

def _comparable(theirs: dict, ours: dict) -> tuple[dict, dict]:
    """Both conversions minus what is expected to differ: the 3.0 patch version, their provenance
    marker, the Authorization apiKeys that ours (on purpose) turns into http bearer and DPoP schemes, and the
    named examples ours adds where theirs has 2.0's one example (which must be one of ours)."""
    theirs, ours = json.loads(json.dumps(theirs)), json.loads(json.dumps(ours))
    for document in (theirs, ours):
        assert document.pop("openapi").startswith("3.0.")
    theirs.pop("x-original-swagger-version", None)
    assert theirs["components"]["securitySchemes"][BEARER]["type"] == "apiKey"
    assert ours["components"]["securitySchemes"][BEARER] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": theirs["components"]["securitySchemes"][BEARER]["description"],
    }
    ours["components"]["securitySchemes"][BEARER] = theirs["components"]["securitySchemes"][BEARER]
    if DPOP in ours["components"]["securitySchemes"]:  # the same, for the DPoP scheme (marked x-auth-scheme)
        assert theirs["components"]["securitySchemes"][DPOP]["type"] == "apiKey"
        assert ours["components"]["securitySchemes"][DPOP] == {
            "type": "http", "scheme": "DPoP", "description": theirs["components"]["securitySchemes"][DPOP]["description"],
        }
        ours["components"]["securitySchemes"][DPOP] = theirs["components"]["securitySchemes"][DPOP]
    for url, item in ours["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                their_response = theirs["paths"][url][method]["responses"][status]
                for mime, media in response.get("content", {}).items():
                    named = [example["value"] for example in media.pop("examples", {}).values()]
                    if named:
                        assert their_response["content"][mime].pop("example") in named, (url, status)
                for header in response.get("headers", {}).values():
                    header.pop("examples", None)
    return theirs, ours


def test_served_openapi3_equals_openapi_generators_conversion(java_made, served):
    theirs = json.loads((java_made["openapi"] / "openapi.json").read_text())
    theirs, ours = _comparable(theirs, served["openapi"])
    assert ours == theirs


def test_every_security_scheme_type_converts_like_openapi_generator(java_made, every_scheme):
    theirs = json.loads((java_made["every_scheme"] / "openapi.json").read_text())
    ours = to_openapi3(every_scheme)
    theirs, ours = _comparable(theirs, ours)
    assert ours == theirs
    flows = {name: list(s.get("flows", {})) for name, s in ours["components"]["securitySchemes"].items()}
    assert flows["code"] == ["authorizationCode"] and flows["machine"] == ["clientCredentials"]


# -- openapi-generator's Python client, from /swagger.json --------------------------------------------

@contextlib.contextmanager
def sdk_client(sdk, url: str, token: str | None = None, retries: int | None = None):
    config = sdk.Configuration(host=url, retries=retries)
    if token:
        config.api_key = {BEARER: token}
        config.api_key_prefix = {BEARER: "Bearer"}
    client = sdk.ApiClient(config)
    try:
        yield client
    finally:
        client.rest_client.pool_manager.clear()  # the generated client never closes its sockets


def sdk_api(sdk, operation: Operation):
    """The generated class of the operation's tag: ``private`` -> ``PrivateApi``."""
    (tag,) = operation.spec["tags"]
    return getattr(sdk, "".join(word.capitalize() for word in re.split(r"[^0-9A-Za-z]+", tag)) + "Api")


def sdk_call(sdk, client, operation: Operation):
    """One operation through its generated method: ``<Tag>Api(client).<operationId>()``."""
    return getattr(sdk_api(sdk, operation)(client), operation.spec["operationId"])()


def test_sdk_names(sdk, routes):
    for operation in routes:
        assert operation.spec["operationId"] in dir(sdk_api(sdk, operation)), operation
    assert set(sdk.Message.model_fields) == {"message"}
    assert set(sdk.Error.model_fields) == {"error", "error_description"}


def test_sdk_calls_every_route_with_a_token(sdk, server, tokens, routes, granted):
    with sdk_client(sdk, server.url, tokens.make(scope=granted)) as client:
        for operation in routes:
            answer = sdk_call(sdk, client, operation)
            assert answer.to_dict() == documented(operation, "200"), operation


def sdk_refusal(sdk, client, operation: Operation, status: int, exception):
    """The call raises the SDK's exception for ``status``, with the body parsed as the documented Error."""
    with pytest.raises(exception) as raised:
        sdk_call(sdk, client, operation)
    error = raised.value
    assert error.status == status
    assert isinstance(error.data, sdk.Error)
    assert error.data.to_dict() == documented(operation, str(status)), operation
    return error


def test_sdk_without_a_token_raises_its_401_exception(sdk, server, routes):
    with sdk_client(sdk, server.url) as client:
        for operation in routes:
            if operation.public:
                assert sdk_call(sdk, client, operation).to_dict() == documented(operation, "200")
            else:
                error = sdk_refusal(sdk, client, operation, 401, sdk.exceptions.UnauthorizedException)
                assert error.data.error == "unauthorized"
                assert error.headers["WWW-Authenticate"] == UNAUTHORIZED_CHALLENGE


def test_sdk_without_the_scope_raises_its_403_exception(sdk, server, tokens, routes):
    with sdk_client(sdk, server.url, tokens.make()) as client:
        for operation in routes:
            if not operation.scopes:
                assert sdk_call(sdk, client, operation).to_dict() == documented(operation, "200")
            else:
                error = sdk_refusal(sdk, client, operation, 403, sdk.exceptions.ForbiddenException)
                assert error.data.error == "insufficient_scope"
                assert all(f'scope="{scope}"' in error.headers["WWW-Authenticate"] for scope in operation.scopes)


def test_sdk_raises_its_503_exception_when_the_keys_are_unavailable(sdk, provider, make_app, tokens, routes):
    provider.down = True
    # retries=0: by default urllib3 waits out Retry-After and tries a 503 three more times
    with live(make_app()) as server, sdk_client(sdk, server.url, tokens.make(), retries=0) as client:
        for operation in (o for o in routes if not o.public):
            error = sdk_refusal(sdk, client, operation, 503, sdk.exceptions.ServiceException)
            assert error.data.error == "temporarily_unavailable"
            assert int(error.headers["Retry-After"]) > 0


README = Path(__file__).resolve().parent.parent / "README.md"


def readme_snippet() -> str:
    """The Python block of the README's "Generate a client" section."""
    section = README.read_text(encoding="utf-8").split("## Generate a client", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.mark.parametrize("claims, last_line", [
    ({"scope": "read:messages"}, SCOPED_MESSAGE),
    ({}, "403 insufficient_scope The access token does not grant the scope this route needs: read:messages."),
    ({"exp": 1}, "401 invalid_token The token has expired."),
])
def test_readme_snippet_works(java_made, server, tokens, claims, last_line):
    code = readme_snippet().replace("http://127.0.0.1:3010", server.url)
    env = {**os.environ, "TOKEN": tokens.make(**claims), "PYTHONPATH": str(java_made["python"])}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [PUBLIC_MESSAGE, last_line]


# -- openapi-python-client's client, from /openapi.json -------------------------------------------------

def opc_call(operation: Operation, client):
    """One operation through its generated module (``api/<tag>/<operationId>.py``)."""
    (tag,) = operation.spec["tags"]
    module = f"{OPC_PACKAGE}.api.{tag}.{operation.spec['operationId']}"
    return importlib.import_module(module).sync_detailed(client=client)


def opc_models():
    return importlib.import_module(f"{OPC_PACKAGE}.models")


# ``raise_on_unexpected_status=True`` everywhere: an undocumented status would raise UnexpectedStatus.

def test_opc_calls_every_route_with_a_token(opc, server, tokens, routes, granted):
    token = tokens.make(scope=granted)
    with opc.AuthenticatedClient(base_url=server.url, token=token, raise_on_unexpected_status=True) as client:
        for operation in routes:
            response = opc_call(operation, client)
            assert response.status_code == 200, operation
            assert response.parsed.to_dict() == documented(operation, "200"), operation


def test_opc_without_a_token_gets_a_parsed_401_error(opc, server, routes):
    with opc.Client(base_url=server.url, raise_on_unexpected_status=True) as client:
        for operation in (o for o in routes if not o.public):
            response = opc_call(operation, client)
            assert response.status_code == 401
            assert isinstance(response.parsed, opc_models().Error)
            assert response.parsed.error == "unauthorized"
            assert response.parsed.error_description
            assert response.headers["WWW-Authenticate"] == UNAUTHORIZED_CHALLENGE


def test_opc_without_the_scope_gets_a_parsed_403_error(opc, server, tokens, routes):
    with opc.AuthenticatedClient(base_url=server.url, token=tokens.make(), raise_on_unexpected_status=True) as client:
        for operation in (o for o in routes if o.scopes):
            response = opc_call(operation, client)
            assert response.status_code == 403
            assert isinstance(response.parsed, opc_models().Error)
            assert response.parsed.error == "insufficient_scope"
            assert all(scope in response.parsed.error_description for scope in operation.scopes)
