"""The published contract: /swagger.json and /openapi.json, valid and complete, equal to the snapshots."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from app.snapshot import snapshot_app
from swagger import BEARER, info
from swagger.auth_schemes import DPOP
from swagger.contract import render
from tests.support import ROOT
from tests.support.documents import operations
from tests.support.live_server import live

SNAPSHOTS = ROOT / "openapi"
AUTH_ERRORS = {"400", "401", "403", "503"}  # 400: DPoP refusals (AUTH_DPOP is `allowed` by default)


@pytest.fixture
def documents(server, http):
    """Both documents as served over HTTP by the app under test."""
    swagger = http.get(server.url + "/swagger.json")
    openapi = http.get(server.url + "/openapi.json")
    assert swagger.status_code == openapi.status_code == 200
    assert swagger.headers["Content-Type"] == openapi.headers["Content-Type"] == "application/json"
    return swagger.json(), openapi.json()


def test_both_documents_are_valid(documents):
    swagger, openapi = documents
    assert swagger["swagger"] == "2.0"
    assert openapi["openapi"].startswith("3.0.")
    validate(swagger)
    validate(openapi)


def test_the_validator_does_catch_a_broken_document(documents):
    """Guards the test above: an undescribed response, as flask-restx emits by default, is refused."""
    swagger, _ = documents
    swagger["responses"] = {"HTTPException": {}}
    with pytest.raises(OpenAPIValidationError):
        validate(swagger)


def test_info(documents, scopes):
    for document in documents:
        about = document["info"]
        assert about["title"] == info.TITLE
        assert about["version"] == info.VERSION
        assert about["contact"] == {"name": info.CONTACT["name"], "email": info.CONTACT["email"]}
        assert about["license"] == info.LICENSE
        text = about["description"]
        # the provider in force (AUTH_ISSUER here); tests/docs_page/test_provider_login.py has each mode's text
        for needle in ("OpenID Connect provider", "Auth0", "client-credentials", "Authorize",
                       "`unauthorized`", "`invalid_token`", "`insufficient_scope`", "`temporarily_unavailable`",
                       '{"error": "...", "error_description": "..."}', *scopes, *scopes.values()):
            assert needle in text, needle


def test_tags_are_the_namespaces_with_descriptions(documents, namespaces):
    for document in documents:
        assert [tag["name"] for tag in document["tags"]] == [namespace.name for namespace, _ in namespaces]
        assert all(tag["description"] for tag in document["tags"])


def test_swagger_operations(documents, namespaces):
    """Every route: named, tagged, summarised; a protected one documents each auth error it can answer."""
    swagger, _ = documents
    tags = {namespace.name for namespace, _ in namespaces}
    for operation in operations(swagger):
        spec, responses = operation.spec, operation.spec["responses"]
        assert spec["operationId"] and spec["summary"], operation
        assert len(spec["tags"]) == 1 and spec["tags"][0] in tags, operation
        assert spec["produces"] == ["application/json"], operation
        if operation.public:
            assert not AUTH_ERRORS & set(responses), operation
        else:
            assert {BEARER: []} in spec["security"], operation
            expected = AUTH_ERRORS if operation.scopes else AUTH_ERRORS - {"403"}
            assert AUTH_ERRORS & set(responses) == expected, operation
        if operation.success != "204":  # 204: no content
            model = responses[operation.success]["schema"]["$ref"].removeprefix("#/definitions/")
            assert model in swagger["definitions"], operation
        for status, response in responses.items():
            assert response["description"], (operation, status)
            if status in AUTH_ERRORS:
                assert response["schema"] == {"$ref": "#/definitions/Error"}, (operation, status)
        for status in {"400", "401", "403"} & set(responses):
            assert responses[status]["headers"]["WWW-Authenticate"]["type"] == "string"
        if "401" in responses:
            assert responses["401"]["headers"]["DPoP-Nonce"]["type"] == "string"
        if "503" in responses:
            assert responses["503"]["headers"]["Retry-After"]["type"] == "integer"


def test_swagger_models_and_security(documents):
    swagger, _ = documents
    assert swagger["definitions"]["Greeting"]["required"] == ["message"]
    assert set(swagger["definitions"]["Greeting"]["properties"]) == {"message"}
    assert "version" in swagger["definitions"]["Message"]["required"]  # the stored message
    assert swagger["definitions"]["Error"]["required"] == ["error"]
    assert set(swagger["definitions"]["Error"]["properties"]) == {"error", "error_description"}
    bearer = swagger["securityDefinitions"][BEARER]
    assert (bearer["type"], bearer["in"], bearer["name"]) == ("apiKey", "header", "Authorization")
    assert "responses" not in swagger  # flask-restx's undescribed error-handler entries are gone


def test_openapi3_twin(documents):
    swagger, openapi = documents
    schemes = openapi["components"]["securitySchemes"]
    assert set(schemes) == set(swagger["securityDefinitions"])
    assert schemes[BEARER]["type"] == "http"
    assert schemes[BEARER]["scheme"] == "bearer"
    assert schemes[BEARER]["bearerFormat"] == "JWT"
    assert (schemes[DPOP]["type"], schemes[DPOP]["scheme"]) == ("http", "DPoP")
    assert "x-auth-scheme" not in schemes[DPOP]
    for name, scheme in swagger["securityDefinitions"].items():
        if scheme["type"] == "oauth2":
            flow = {"accessCode": "authorizationCode", "application": "clientCredentials"}[scheme["flow"]]
            assert set(schemes[name]["flows"]) == {flow}
    assert set(openapi["components"]["schemas"]) == set(swagger["definitions"])
    assert openapi["servers"] == [{"url": "/"}]
    for operation in operations(swagger):
        twin, original = openapi["paths"][operation.path][operation.method], operation.spec
        for key in ("operationId", "tags", "summary", "security"):
            assert twin[key] == original[key]
        assert set(twin["responses"]) == set(original["responses"])
        for status, response in twin["responses"].items():
            if "schema" not in original["responses"][status]:  # 204, 304: no body
                assert "content" not in response, (operation, status)
            else:
                model = original["responses"][status]["schema"]["$ref"].rsplit("/", 1)[1]
                assert list(response["content"]) == ["application/json"]
                assert response["content"]["application/json"]["schema"] == {"$ref": f"#/components/schemas/{model}"}
            for header in original["responses"][status].get("headers", {}):
                assert response["headers"][header]["schema"]["type"]
            assert response.get("links") == original["responses"][status].get("x-links"), (operation, status)
        body = [p for p in original.get("parameters", []) if p["in"] == "body"]
        assert ("requestBody" in twin) == bool(body), operation
        if body:
            schema = body[0]["schema"]["$ref"].replace("#/definitions/", "#/components/schemas/")
            assert twin["requestBody"]["content"] == {"application/json": {"schema": {"$ref": schema}}}
            assert twin["requestBody"]["required"] is True
        for parameter in twin.get("parameters", []):
            assert "type" not in parameter and parameter["schema"]["type"], (operation, parameter["name"])


def test_the_spec_command_prints_either_document(make_app):
    app = make_app()
    runner = app.test_cli_runner()
    with app.test_request_context("/", base_url=app.config["SETTINGS"].auth.issuer):  # where the command asks
        expected = {fmt: render(app.extensions["contract_api"].document(fmt)) for fmt in ("swagger", "openapi")}
    assert runner.invoke(args=["spec"]).output == expected["swagger"]
    assert runner.invoke(args=["spec", "--format", "swagger"]).output == expected["swagger"]
    assert runner.invoke(args=["spec", "--format", "openapi"]).output == expected["openapi"]
    refused = runner.invoke(args=["spec", "--format", "yaml"])
    assert refused.exit_code == 2
    assert "'yaml' is not one of 'swagger', 'openapi'" in refused.output


@pytest.mark.parametrize("name, route", [("swagger.json", "/swagger.json"), ("openapi.json", "/openapi.json")])
def test_live_spec_matches_the_committed_snapshot(http, instance, name, route):
    """Every change to the contract shows up in review as a diff of openapi/: run `make spec` and commit."""
    app = snapshot_app(instance)
    published_host = urlsplit(app.config["SETTINGS"].auth.issuer).netloc  # as `make run` serves it
    with live(app) as server:
        served = http.get(server.url + route, headers={"Host": published_host}).json()
    committed = (SNAPSHOTS / name).read_text(encoding="utf-8")
    assert render(served) == committed, f"openapi/{name} is out of date: run `make spec` and commit the diff"
