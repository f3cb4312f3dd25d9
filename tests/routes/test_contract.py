"""Auth0's API contract and its shared quickstart test matrix, over real HTTP."""

from __future__ import annotations

import json

import pytest

from namespaces.private import PRIVATE_MESSAGE, SCOPED_MESSAGE
from namespaces.public import PUBLIC_MESSAGE
from tests.support.http import raw_get

PRIVATE_ROUTES = ["/api/private", "/api/private-scoped"]


def test_public_route_needs_no_token(server, http):
    response = http.get(server.url + "/api/public")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {
        "message": "Hello from a public endpoint! You don't need to be authenticated to see this."
    } == {"message": PUBLIC_MESSAGE}


def test_private_route_with_a_token(server, http, tokens):
    response = http.get(server.url + "/api/private", headers={"Authorization": f"Bearer {tokens.make()}"})
    assert response.status_code == 200
    assert response.json() == {
        "message": "Hello from a private endpoint! You need to be authenticated to see this."
    } == {"message": PRIVATE_MESSAGE}
    assert response.headers["Cache-Control"] == "no-store"


def test_scoped_route_with_the_scope(server, http, tokens):
    token = tokens.make(scope="read:messages")
    response = http.get(server.url + "/api/private-scoped", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.json() == {"message": SCOPED_MESSAGE}
    assert "scope of read:messages" in SCOPED_MESSAGE
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("route", PRIVATE_ROUTES)
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer ", " ", "Bearer invalidToken", "Bearer invalidToken abc", "BAD_SIGNATURE"],
    ids=["no-header", "bearer-empty", "blank", "invalid-token", "two-words", "bad-signature"],
)
def test_quickstart_matrix_refusals(server, http, tokens, attacker_key, route, authorization):
    if authorization == "BAD_SIGNATURE":
        authorization = f"Bearer {tokens.make(key=attacker_key, scope='read:messages')}"
    headers = {} if authorization is None else {"Authorization": authorization}
    status, response_headers, body = raw_get(server.url + route, headers)
    assert status == 401
    assert response_headers["WWW-Authenticate"].startswith('Bearer realm="api"')
    assert set(json.loads(body)) == {"error", "error_description"}


@pytest.mark.parametrize(
    "grant, private, scoped",
    [
        ({}, 200, 403),
        ({"scope": "read:messages"}, 200, 200),
        ({"scope": "write:messages"}, 200, 403),
        ({"scope": "read:messages write:messages"}, 200, 200),
        ({"permissions": ["read:messages"]}, 200, 200),
        ({"permissions": ["write:messages"], "scope": "openid"}, 200, 403),
    ],
    ids=["no-scope", "read", "write", "both", "rbac-permissions", "rbac-other"],
)
def test_quickstart_matrix_scopes(server, http, tokens, grant, private, scoped):
    headers = {"Authorization": f"Bearer {tokens.make(**grant)}"}
    assert http.get(server.url + "/api/private", headers=headers).status_code == private
    response = http.get(server.url + "/api/private-scoped", headers=headers)
    assert response.status_code == scoped
    if scoped == 403:
        assert response.json()["error"] == "insufficient_scope"


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_scheme_name_is_case_insensitive(server, http, tokens, scheme):
    response = http.get(server.url + "/api/private", headers={"Authorization": f"{scheme} {tokens.make()}"})
    assert response.status_code == 200


def test_token_in_query_string_is_ignored(server, http, tokens):
    token = tokens.make(scope="read:messages")
    for name in ("access_token", "token"):
        response = http.get(server.url + "/api/private", params={name: token})
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith('Bearer realm="api", resource_metadata="')


def test_default_port_is_3010_and_port_overrides(make_app):
    assert make_app().config["SETTINGS"].port == 3010
    assert make_app(PORT="8123").config["SETTINGS"].port == 8123


def test_responses_are_json_everywhere(server, http):
    for method, path in [("get", "/api/public"), ("get", "/nowhere"), ("post", "/api/public"),
                         ("delete", "/api/private"), ("get", "/api/private")]:
        response = http.request(method, server.url + path)
        assert response.headers["Content-Type"].startswith("application/json"), (method, path)
        assert "message" not in response.json() or path == "/api/public"
