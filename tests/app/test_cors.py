"""CORS: configured origins get preflights without a token; other origins get no CORS headers."""

from __future__ import annotations

import pytest

from tests.support.live_server import live, live_on_own_port

ORIGIN = "https://app.example.com"
ROUTES = ["/api/public", "/api/private", "/api/private-scoped"]


@pytest.fixture
def cors_server(make_app):
    with live(make_app(CORS_ORIGINS=f"{ORIGIN},http://localhost:5173")) as server:
        yield server


def _preflight(server, http, route, origin):
    return http.options(server.url + route, headers={
        "Origin": origin,
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization",
    })


@pytest.mark.parametrize("route", ROUTES)
def test_preflight_from_a_configured_origin(cors_server, http, route):
    response = _preflight(cors_server, http, route, ORIGIN)
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "authorization" in response.headers["Access-Control-Allow-Headers"].lower()
    assert "GET" in response.headers["Access-Control-Allow-Methods"]


@pytest.mark.parametrize("route", ROUTES)
def test_other_origins_get_no_cors_headers(cors_server, http, route):
    response = _preflight(cors_server, http, route, "https://evil.example")
    assert not [h for h in response.headers if h.lower().startswith("access-control-")]


def test_actual_request_exposes_the_challenge(cors_server, http):
    response = http.get(cors_server.url + "/api/private", headers={"Origin": ORIGIN})
    assert response.status_code == 401
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "WWW-Authenticate" in response.headers["Access-Control-Expose-Headers"]


def test_no_cors_by_default(server, http):
    response = _preflight(server, http, "/api/private", ORIGIN)
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.fixture
def local_cors_server(make_local_app):
    """Local mode, where /docs embeds the client secret and the issuer's own routes exist."""
    with live_on_own_port(lambda port: make_local_app(port, CORS_ORIGINS=ORIGIN)) as server:
        yield server


NOT_API = ["/docs", "/swagger.json", "/openapi.json", "/healthz", "/", "/swaggerui/oauth2-redirect.html",
           "/static/docs.js", "/authorize", "/oauth/token", "/.well-known/jwks.json",
           "/.well-known/openid-configuration"]


@pytest.mark.parametrize("route", NOT_API)
def test_cors_covers_the_api_routes_only(local_cors_server, http, route):
    for response in (_preflight(local_cors_server, http, route, ORIGIN),
                     http.get(local_cors_server.url + route, headers={"Origin": ORIGIN}, allow_redirects=False),
                     http.post(local_cors_server.url + route, headers={"Origin": ORIGIN}, allow_redirects=False,
                               data={"grant_type": "client_credentials"})):
        assert not [h for h in response.headers if h.lower().startswith("access-control-")], (
            route, response.request.method)
    assert _preflight(local_cors_server, http, "/api/private", ORIGIN).headers["Access-Control-Allow-Origin"] == ORIGIN


@pytest.mark.parametrize("origins", [ORIGIN, f"{ORIGIN},http://localhost:5173"], ids=["one-origin", "two-origins"])
@pytest.mark.parametrize("origin", [ORIGIN, "https://evil.example", None], ids=["allowed", "other", "none"])
@pytest.mark.parametrize("method", ["GET", "OPTIONS"])
def test_api_answers_vary_on_origin(make_app, http, origins, origin, method):
    """A shared cache must not hand the answer for one Origin to another: every API answer says so, once."""
    headers = {"Origin": origin, "Access-Control-Request-Method": "GET"} if origin else {}
    with live(make_app(CORS_ORIGINS=origins)) as server:
        for route in ROUTES:
            response = http.request(method, server.url + route, headers=headers)
            assert [v.strip() for v in response.headers.get("Vary", "").split(",")].count("Origin") == 1, route
            if origin:
                assert (response.headers.get("Access-Control-Allow-Origin") == ORIGIN) == (origin == ORIGIN)
