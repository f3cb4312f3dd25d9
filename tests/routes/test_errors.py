"""The error shape: RFC 6750 challenges, one JSON body on every route, and never a 500."""

from __future__ import annotations

import re

import pytest
from flask_restx import Namespace, Resource

from refusals import Refusal
from security.dpop import DEFAULT_ALGORITHMS

CHALLENGE_ITEM = r'(realm|error|error_description|scope|algs|resource_metadata)="[^"\\]*"'
CHALLENGE = re.compile(rf"Bearer {CHALLENGE_ITEM}(, {CHALLENGE_ITEM})*, DPoP {CHALLENGE_ITEM}(, {CHALLENGE_ITEM})*")
#: By default (AUTH_DPOP=allowed) every challenge offers DPoP beside Bearer; the error goes on Bearer's.
DPOP = f'DPoP algs="{" ".join(DEFAULT_ALGORITHMS)}"'


def metadata(server) -> str:
    """The resource_metadata parameter every scheme of a challenge carries (RFC 9728 §5.1)."""
    return f'resource_metadata="{server.url}/.well-known/oauth-protected-resource"'


def _get(server, http, path, authorization=None):
    headers = {"Authorization": authorization} if authorization is not None else {}
    return http.get(server.url + path, headers=headers)


def assert_error(response, status, error, challenge=True):
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"error", "error_description"}, body
    assert body["error"] == error
    assert body["error_description"]
    assert response.headers["Content-Type"] == "application/json"
    if challenge:
        assert CHALLENGE.fullmatch(response.headers["WWW-Authenticate"]), response.headers["WWW-Authenticate"]
    return body


@pytest.mark.parametrize("authorization", [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer a b",
                                           "Token abc", "Bearer\tabc", "Bearer ab\u00e9"])
def test_no_usable_credentials_get_a_bare_challenge(server, http, authorization):
    if authorization is not None and not authorization.isascii():
        authorization = authorization.encode("utf-8").decode("latin-1")
    response = _get(server, http, "/api/private", authorization)
    assert_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"] == f'Bearer realm="api", {metadata(server)}, {DPOP}, {metadata(server)}'


def test_invalid_token_challenge_names_the_reason(server, http, tokens):
    response = _get(server, http, "/api/private", f"Bearer {tokens.make(exp=1)}")
    body = assert_error(response, 401, "invalid_token")
    assert body["error_description"] == "The token has expired."
    assert response.headers["WWW-Authenticate"] == (
        f'Bearer realm="api", error="invalid_token", error_description="The token has expired.", {metadata(server)}, '
        f'{DPOP}, {metadata(server)}'
    )


def test_insufficient_scope_challenge_names_the_scope(server, http, tokens):
    response = _get(server, http, "/api/private-scoped", f"Bearer {tokens.make(scope='openid')}")
    assert_error(response, 403, "insufficient_scope")
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="api", error="insufficient_scope", error_description="')
    assert challenge.endswith(f', scope="read:messages", {metadata(server)}, {DPOP}, {metadata(server)}')


def test_error_description_never_echoes_the_token(server, http, tokens, attacker_key):
    for token in [tokens.make(exp=1), tokens.make(key=attacker_key), tokens.make(aud="other"), "x" * 50]:
        response = _get(server, http, "/api/private-scoped", f"Bearer {token}")
        assert token not in response.text
        assert token not in response.headers.get("WWW-Authenticate", "")
        sig = token.rsplit(".", 1)[-1]
        assert sig not in response.text


def test_keys_unavailable_is_503_with_retry_after(provider, make_app, tokens, http, caplog):
    from tests.support.live_server import live

    provider.down = True
    with live(make_app()) as server:
        response = _get(server, http, "/api/private", f"Bearer {tokens.make()}")
    assert_error(response, 503, "temporarily_unavailable", challenge=False)
    assert int(response.headers["Retry-After"]) > 0
    assert "WWW-Authenticate" not in response.headers
    # an outcome, logged in one line where it arises: no traceback per request
    assert not [record for record in caplog.records if record.exc_info], caplog.text


def test_http_errors_use_the_same_shape(server, http):
    assert_error(http.get(server.url + "/api/missing"), 404, "not_found", challenge=False)
    assert_error(http.get(server.url + "/missing"), 404, "not_found", challenge=False)
    response = http.post(server.url + "/api/private")
    assert_error(response, 405, "method_not_allowed", challenge=False)
    assert "GET" in response.headers["Allow"]
    response = http.get(server.url + "/api/public", headers={"X-Fields": "message{"})  # flask-restx's field masks
    assert assert_error(response, 400, "invalid_request", challenge=False)["error_description"] == (
        "Mask parse error: Missing closing bracket")


def _raise(kind):
    if kind == "refusal":
        raise Refusal(429, "slow_down", "Too many requests; retry later.", {"Retry-After": "7"})
    raise RuntimeError("a bug")


def test_one_handler_answers_every_route_alike(make_app, http, caplog):
    """A Refusal and a bug, raised by a Flask-RESTX resource or by a plain Flask view, get the same answer."""
    from tests.support.live_server import live

    app = make_app()
    ns = Namespace("broken")

    @ns.route("/broken/<kind>")
    class Broken(Resource):
        def get(self, kind):
            _raise(kind)

    app.extensions["contract_api"].add_namespace(ns, path="/api")
    app.add_url_rule("/broken/<kind>", "broken", _raise)
    with live(app) as server:
        for path in ("/api/broken", "/broken"):
            refused = http.get(f"{server.url}{path}/refusal")
            assert_error(refused, 429, "slow_down", challenge=False)
            assert (refused.headers["Retry-After"], refused.headers["Cache-Control"]) == ("7", "no-store")
            assert_error(http.get(f"{server.url}{path}/bug"), 500, "server_error", challenge=False)
    assert [r.getMessage() for r in caplog.records if r.exc_info] == ["unhandled error"] * 2  # the bugs, once each


def test_refusals_are_logged_without_the_token(server, http, tokens, caplog):
    token = tokens.make(exp=1)
    with caplog.at_level("INFO", logger="security"):
        _get(server, http, "/api/private", f"Bearer {token}")
    lines = [r.getMessage() for r in caplog.records if r.name == "security.refused"]
    assert lines == [f'auth refused route="/api/private" status=401 reason=expired kid="key-1" iss="{tokens.issuer}" '
                     'actor=-']
    assert all(token.split(".")[1] not in r.getMessage() for r in caplog.records)
