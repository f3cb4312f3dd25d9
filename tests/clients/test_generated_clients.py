"""Clients generated from the served documents work against the live API on the first try.

openapi-generator (Java) makes a Python and a TypeScript (fetch) client from /swagger.json and converts
it to OpenAPI 3; openapi-python-client, which refuses Swagger 2.0, makes its client from /openapi.json.
Each runs once per session; the generated clients then call a live server that trusts the fake
provider's keys: every route that takes no parameter, with and without a token, and the messages routes
in a round trip (post, page through, read, edit with the ETag, delete), the TypeScript one compiled with
`tsc` and run with node.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from datetime import datetime
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
from tests.support import ROOT
from tests.support.documents import Operation, operations
from tests.support.generators import (
    OPC_PACKAGE,
    SDK_PACKAGE,
    importable,
    openapi_generator,
    openapi_python_client,
    typescript_compiler,
)
from tests.support.live_server import live


def unauthorized_challenge(server) -> str:
    """What a protected route answers without a token, by default (AUTH_DPOP=allowed: both schemes offered),
    each scheme naming the resource's metadata (RFC 9728 §5.1)."""
    metadata = f'resource_metadata="{server.url}/.well-known/oauth-protected-resource"'
    return f'Bearer realm="api", {metadata}, DPoP algs="{" ".join(DEFAULT_ALGORITHMS)}", {metadata}'

#: Our document plus every other Swagger 2.0 scheme type, so the converter is held to
#: openapi-generator's on all of them, whichever ones the app declares today.
EVERY_SCHEME = {
    "code": {"type": "oauth2", "flow": "accessCode", "authorizationUrl": "https://id.example/authorize",
             "tokenUrl": "https://id.example/oauth/token", "scopes": {"read:things": "Read."},
             "description": "Log in."},
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
    """Every operation of the document the clients are made from that takes no parameter: each one is called
    below as it is (the ones that take some, the messages routes, go through the round trips instead)."""
    return [operation for operation in operations(served["swagger"]) if not operation.parameters]


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
    """openapi-generator's Python and TypeScript clients, and its OpenAPI 3 conversions of our document and of
    every_scheme."""
    out = tmp_path_factory.mktemp("openapi-generator")
    (out / "every-scheme.json").write_text(json.dumps(every_scheme))
    spec_url = contract_server.url + "/swagger.json"
    return openapi_generator(out, {
        "python": {"generatorName": "python", "inputSpec": spec_url,
                   "additionalProperties": {"packageName": SDK_PACKAGE}},
        "openapi": {"generatorName": "openapi", "inputSpec": spec_url},
        "typescript": {"generatorName": "typescript-fetch", "inputSpec": spec_url,
                       "additionalProperties": {"supportsES6": True}},
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
    marker, the Authorization apiKeys that ours (on purpose) turns into http bearer and DPoP schemes, the
    named examples ours adds where theirs has 2.0's one example (which must be one of ours), and the
    links ours makes of the 2.0 `x-links` that theirs copies as they are."""
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
            "type": "http", "scheme": "DPoP",
            "description": theirs["components"]["securitySchemes"][DPOP]["description"],
        }
        ours["components"]["securitySchemes"][DPOP] = theirs["components"]["securitySchemes"][DPOP]
    for url, item in ours["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            for status, response in operation["responses"].items():
                their_response = theirs["paths"][url][method]["responses"][status]
                # the links: OpenAPI 3 `links` in ours, their copy of the 2.0 vendor field in theirs
                assert response.pop("links", None) == their_response.pop("x-links", None), (url, method, status)
                if "content" not in response:  # a body-less answer (204, 304): theirs says so with `content: {}`
                    assert their_response.pop("content", {}) == {}, (url, method, status)
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


def test_sdk_names(sdk, served):
    for operation in operations(served["swagger"]):
        assert operation.spec["operationId"] in dir(sdk_api(sdk, operation)), operation
    assert set(sdk.Greeting.model_fields) == {"message"}
    assert {"id", "text", "author", "version"} <= set(sdk.Message.model_fields)  # the stored message
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
                assert error.headers["WWW-Authenticate"] == unauthorized_challenge(server)


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


EXTENDING = ROOT / "docs" / "extending.md"


def readme_snippet() -> str:
    """The Python block of the "Generate a client" section of docs/extending.md."""
    section = EXTENDING.read_text(encoding="utf-8").split("## Generate a client", 1)[1]
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
            assert response.headers["WWW-Authenticate"] == unauthorized_challenge(server)


def test_opc_without_the_scope_gets_a_parsed_403_error(opc, server, tokens, routes):
    with opc.AuthenticatedClient(base_url=server.url, token=tokens.make(), raise_on_unexpected_status=True) as client:
        for operation in (o for o in routes if o.scopes):
            response = opc_call(operation, client)
            assert response.status_code == 403
            assert isinstance(response.parsed, opc_models().Error)
            assert response.parsed.error == "insufficient_scope"
            assert all(scope in response.parsed.error_description for scope in operation.scopes)


# -- the messages round trip, through each client ------------------------------------------------------

WRITER = "read:messages write:messages"
TEXTS = ["one", "two", "three"]


def assert_round_trip(done: dict, author: str, server_url: str) -> None:
    """What every client must have seen: three messages posted (a retry of the first gave the first back),
    two pages newest first, an edit with the ETag, the old ETag refused, the message deleted and gone."""
    ids = [message["id"] for message in done["created"]]
    assert [(m["status"], m["text"], m["author"], m["etag"]) for m in done["created"]] == [
        (201, text, author, '"1"') for text in TEXTS]
    assert [m["location"] for m in done["created"]] == [f"/api/messages/{message_id}" for message_id in ids]
    assert done["replayed"] == ids[0]
    assert done["pages"] == [[ids[2], ids[1]], [ids[0]]]
    assert done["etag"] == '"1"'
    assert done["edited"] == {"status": 200, "version": 2, "text": "edited", "etag": '"2"', "dates": True}
    assert done["stale"] == {"status": 412, "error": "precondition_failed"}
    assert done["deleted"] == 204
    assert done["gone"] == {"status": 404, "error": "not_found"}
    with requests.get(f"{server_url}/api/messages/{ids[1]}") as unauthenticated:
        assert unauthenticated.status_code == 401  # the others are still there, behind their scope


def refused(call) -> dict:
    try:
        call()
    except Exception as error:  # the client's own exception type, with the status and the parsed Error
        return {"status": error.status, "error": error.data.error}
    raise AssertionError("the call was not refused")


def test_sdk_messages_round_trip(sdk, server, tokens):
    author = "sdk-python"
    with sdk_client(sdk, server.url, tokens.make(sub=author, scope=WRITER)) as client:
        api = sdk.MessagesApi(client)
        created = []
        for text in TEXTS:
            answer = api.create_message_with_http_info(sdk.MessageText(text=text), idempotency_key=f"python-{text}")
            message = answer.data
            assert isinstance(message, sdk.Message)
            created.append({"status": answer.status_code, "id": message.id, "text": message.text,
                            "author": message.author, "etag": answer.headers["ETag"],
                            "location": answer.headers["Location"]})
        replayed = api.create_message(sdk.MessageText(text="one"), idempotency_key="python-one").id
        pages, cursor = [], None
        while True:
            page = api.list_messages(limit=2, cursor=cursor, author=author)
            pages.append([message.id for message in page.items])
            if (cursor := page.next_cursor) is None:
                break
        first = created[0]["id"]
        etag = api.get_message_with_http_info(first).headers["ETag"]
        editing = api.edit_message_with_http_info(first, etag, sdk.MessageText(text="edited"))
        stale = refused(lambda: api.edit_message(first, etag, sdk.MessageText(text="lost")))
        deleted = api.delete_message_with_http_info(first).status_code
        gone = refused(lambda: api.get_message(first))
    edited = {"status": editing.status_code, "version": editing.data.version, "text": editing.data.text,
              "etag": editing.headers["ETag"], "dates": isinstance(editing.data.created_at, datetime)}
    assert_round_trip({"created": created, "replayed": replayed, "pages": pages, "etag": etag, "edited": edited,
                       "stale": stale, "deleted": deleted, "gone": gone}, author, server.url)


def test_sdk_messages_refusals(sdk, server, tokens):
    """Someone else's message, and a token without the scope: the SDK's exceptions, with the Error parsed."""
    with sdk_client(sdk, server.url, tokens.make(sub="alice", scope=WRITER)) as client:
        posted = sdk.MessagesApi(client).create_message(sdk.MessageText(text="mine"))
    with sdk_client(sdk, server.url, tokens.make(sub="bob", scope=WRITER)) as client:
        api = sdk.MessagesApi(client)
        assert refused(lambda: api.edit_message(posted.id, '"1"', sdk.MessageText(text="x"))) == {
            "status": 403, "error": "not_author"}
        assert refused(lambda: api.delete_message(posted.id)) == {"status": 403, "error": "not_author"}
    with sdk_client(sdk, server.url, tokens.make(sub="bob", scope="read:messages")) as client:
        assert refused(lambda: sdk.MessagesApi(client).create_message(sdk.MessageText(text="x"))) == {
            "status": 403, "error": "insufficient_scope"}


def opc_module(operation_id: str):
    return importlib.import_module(f"{OPC_PACKAGE}.api.messages.{operation_id}")


def test_opc_messages_round_trip(opc, server, tokens):
    author = "sdk-opc"
    models = opc_models()
    with opc.AuthenticatedClient(base_url=server.url, token=tokens.make(sub=author, scope=WRITER)) as client:
        def call(operation_id: str, *args, **kwargs):
            return opc_module(operation_id).sync_detailed(*args, client=client, **kwargs)

        created = []
        for text in TEXTS:
            answer = call("create_message", body=models.MessageText(text=text), idempotency_key=f"opc-{text}")
            assert isinstance(answer.parsed, models.Message)
            created.append({"status": answer.status_code, "id": answer.parsed.id, "text": answer.parsed.text,
                            "author": answer.parsed.author, "etag": answer.headers["ETag"],
                            "location": answer.headers["Location"]})
        replayed = call("create_message", body=models.MessageText(text="one"), idempotency_key="opc-one").parsed.id
        pages, cursor = [], opc.types.UNSET
        while True:
            page = call("list_messages", limit=2, cursor=cursor, author=author).parsed
            pages.append([message.id for message in page.items])
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        first = created[0]["id"]
        etag = call("get_message", first).headers["ETag"]
        editing = call("edit_message", first, body=models.MessageText(text="edited"), if_match=etag)
        stale = call("edit_message", first, body=models.MessageText(text="lost"), if_match=etag)
        deleted = call("delete_message", first)
        gone = call("get_message", first)
    edited = {"status": editing.status_code, "version": editing.parsed.version, "text": editing.parsed.text,
              "etag": editing.headers["ETag"], "dates": isinstance(editing.parsed.created_at, datetime)}
    assert isinstance(stale.parsed, models.Error) and isinstance(gone.parsed, models.Error)
    assert_round_trip({"created": created, "replayed": replayed, "pages": pages, "etag": etag, "edited": edited,
                       "stale": {"status": stale.status_code, "error": stale.parsed.error},
                       "deleted": deleted.status_code,
                       "gone": {"status": gone.status_code, "error": gone.parsed.error}},
                      author, server.url)


ROUND_TRIP_TS = Path(__file__).resolve().parent / "typescript" / "round_trip.ts"
TSCONFIG = {"compilerOptions": {"target": "ES2022", "module": "commonjs", "lib": ["ES2022", "DOM"], "strict": True,
                                "skipLibCheck": True, "outDir": "out"}, "files": ["round_trip.ts"]}


def test_typescript_messages_round_trip(java_made, server, tokens, tmp_path):
    """The typescript-fetch client and typescript/round_trip.ts beside this file, compiled by `tsc` (strict) and run
    by node."""
    tsc, node = typescript_compiler()
    build = tmp_path / "typescript"
    shutil.copytree(java_made["typescript"], build)
    shutil.copy(ROUND_TRIP_TS, build / "round_trip.ts")
    (build / "tsconfig.json").write_text(json.dumps(TSCONFIG))
    compiled = subprocess.run([tsc, "-p", str(build)], cwd=build, capture_output=True, text=True, timeout=180)
    assert compiled.returncode == 0, compiled.stdout[-4000:]
    author = "sdk-typescript"
    env = {**os.environ, "BASE_URL": server.url, "TOKEN": tokens.make(sub=author, scope=WRITER), "AUTHOR": author}
    ran = subprocess.run([node, str(build / "out" / "round_trip.js")], env=env, capture_output=True, text=True,
                         timeout=60)
    assert ran.returncode == 0, ran.stderr[-4000:]
    assert_round_trip(json.loads(ran.stdout), author, server.url)
