"""CORS: configured origins get preflights without a token; other origins get no CORS headers."""

from __future__ import annotations

import pytest

from tests.support import live

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
