"""Helpers for driving the local issuer's OAuth2 endpoints over HTTP, as a client would."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlsplit


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def redirect_uri(server) -> str:
    return f"{server.url}/swaggerui/oauth2-redirect.html"


def client_of(server):
    return server.app.extensions["local_issuer"].client


def authorize(http, server, **params):
    """GET /authorize without following the redirect; returns the response."""
    return http.get(server.url + "/authorize", params=params, allow_redirects=False)


def location_params(response) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}


def get_code(http, server, scope="read:messages", challenge=None, **extra):
    """Run /authorize as Swagger UI does (``extra``: more parameters); returns (code, verifier)."""
    verifier, made = pkce_pair()
    response = authorize(
        http, server, response_type="code", client_id=client_of(server).client_id,
        redirect_uri=redirect_uri(server), scope=scope, state="xyz",
        code_challenge=challenge or made, code_challenge_method="S256", **extra,
    )
    assert response.status_code == 302, response.text
    params = location_params(response)
    assert params["state"] == "xyz"
    return params["code"], verifier


def exchange(http, server, code, verifier, headers=None, **extra):
    data = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
            "client_id": client_of(server).client_id, "redirect_uri": redirect_uri(server), **extra}
    return http.post(server.url + "/oauth/token", data={k: v for k, v in data.items() if v is not None},
                     headers=headers)
