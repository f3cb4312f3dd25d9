"""The protector on plain Flask views, over HTTP: every answer a view may return is marked no-store,
``optional=True`` lets only a request without credentials through, and ``any_of`` one of several scopes."""

from __future__ import annotations

import pytest
from authlib.integrations.flask_oauth2 import current_token as authlib_current_token
from authlib.integrations.flask_oauth2 import token_authenticated
from flask import Flask, Response

from app import build_key_sets, build_token_validator, load_settings
from security import BearerProtector, current_token
from swagger import Scope
from tests.support.live_server import live
from tests.support.tokens import AUDIENCE


class FullPathsCounted(BearerProtector):
    """The protector, counting the requests that take the full path (Authlib's ``acquire_token``)."""

    full_paths = 0

    def acquire_token(self, scopes=None, **kwargs):
        self.full_paths += 1
        return super().acquire_token(scopes, **kwargs)


protect = FullPathsCounted()

ANSWERS = {
    "dict": lambda: {"message": "hi"},
    "text": lambda: "hi",
    "response": lambda: Response("hi", status=202, headers={"X-Kept": "yes"}),
    "status": lambda: ({"message": "hi"}, 201),
    "headers": lambda: ({"message": "hi"}, {"X-Kept": "yes"}),
    "status-and-headers": lambda: ("hi", 201, {"X-Kept": "yes", "Cache-Control": "max-age=60"}),
    "header-list": lambda: ("hi", 201, [("X-Kept", "yes")]),
}
ACCEPTED: list = []  # what /accepted saw as Authlib's current_token, request by request
EXPECTED = {"dict": (200, None), "text": (200, None), "response": (202, "yes"), "status": (201, None),
            "headers": (200, "yes"), "status-and-headers": (201, "yes"), "header-list": (201, "yes")}


@pytest.fixture
def server(provider):
    app = Flask(__name__)
    settings = load_settings({"AUTH_ISSUER": provider.issuer, "AUTH0_AUDIENCE": AUDIENCE, "AUTH_JWKS_TIMEOUT": "1"})
    protect.init_app(app, build_token_validator(settings, build_key_sets(settings)))
    for name, answer in ANSWERS.items():
        app.add_url_rule(f"/answer/{name}", name, protect()(answer))

    @app.get("/bare")
    @protect
    def bare():
        return {"sub": current_token.claims["sub"]}

    @app.get("/accepted")
    @protect("read:messages")
    def accepted():
        # Authlib's own proxy, not our re-export: it must find the token where the protector put it
        seen = authlib_current_token._get_current_object()
        ACCEPTED.append(seen)
        return {"sub": seen.claims["sub"] if seen is not None else None}

    @app.get("/optional")
    @protect(optional=True)
    def optional():
        return {"sub": current_token.claims["sub"] if current_token else None}

    @app.get("/either")
    @protect(any_of=["write:messages", "delete:messages"])
    def either():
        return {"scopes": sorted(current_token.scopes)}

    with live(app) as running:
        yield running


@pytest.mark.parametrize("name", ANSWERS)
def test_every_answer_form_is_marked_no_store(server, http, tokens, name):
    for _ in range(2):  # full check, then from the token cache
        response = http.get(f"{server.url}/answer/{name}", headers={"Authorization": f"Bearer {tokens.make()}"})
        status, kept = EXPECTED[name]
        assert response.status_code == status
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers.get("X-Kept") == kept
        assert "hi" in response.text


def test_the_decorator_works_bare(server, http, tokens):
    assert http.get(f"{server.url}/bare").status_code == 401
    token = tokens.make(sub="auth0|bare")
    response = http.get(f"{server.url}/bare", headers={"Authorization": f"Bearer {token}"})
    assert response.json() == {"sub": "auth0|bare"}


def test_optional_lets_only_an_absent_header_through(server, http, tokens, attacker_key):
    anonymous = http.get(f"{server.url}/optional")
    assert anonymous.status_code == 200 and anonymous.json() == {"sub": None}
    assert anonymous.headers["Cache-Control"] == "no-store"
    signed_in = http.get(f"{server.url}/optional", headers={"Authorization": f"Bearer {tokens.make(sub='auth0|me')}"})
    assert signed_in.json() == {"sub": "auth0|me"}
    for header in ("Bearer", "Basic dXNlcjpwYXNz", f"Bearer {tokens.make(key=attacker_key)}", "Bearer a.b.c"):
        refused = http.get(f"{server.url}/optional", headers={"Authorization": header})
        assert refused.status_code == 401, header


def test_both_paths_accept_a_token_the_way_authlib_reads_it(server, http, tokens):
    """The full path (a cache miss, or a header spelled otherwise) and the short path (a cached token in
    the canonical header) both send Authlib's signal and leave the token where Authlib's ``current_token``
    reads it: an Authlib that moves that attribute fails here."""
    token = tokens.make(sub="auth0|paths", scope="read:messages")
    signalled = []

    def on_token(sender, token, **extra):
        signalled.append(token)

    ACCEPTED.clear()
    full_paths = protect.full_paths
    with token_authenticated.connected_to(on_token):
        for header in (f"Bearer {token}", f"Bearer {token}", f"bearer {token}"):  # full, short, full
            response = http.get(f"{server.url}/accepted", headers={"Authorization": header})
            assert response.json() == {"sub": "auth0|paths"}
    assert protect.full_paths - full_paths == 2  # the second request took the short path
    assert len(ACCEPTED) == 3 and all(seen is not None and seen.claims["sub"] == "auth0|paths" for seen in ACCEPTED)
    assert ACCEPTED[1] is ACCEPTED[2]  # the cached token, on both paths
    assert signalled == ACCEPTED


@pytest.mark.parametrize("scope, status", [("write:messages", 200), ("delete:messages", 200),
                                           ("read:messages write:messages", 200), ("read:messages", 403), (None, 403)])
def test_any_of_lets_in_a_token_with_one_of_the_scopes(server, http, tokens, scope, status):
    """What a documented route with several scopes asks (one security alternative per scope), on a plain view."""
    headers = {"Authorization": f"Bearer {tokens.make(**({'scope': scope} if scope else {}))}"}
    for _ in range(2):  # full check, then from the token cache
        response = http.get(f"{server.url}/either", headers=headers)
        assert response.status_code == status
        assert response.headers["Cache-Control"] == "no-store"
    if status == 403:
        assert response.json() == {"error": "insufficient_scope", "error_description": (
            "The access token does not grant any of the scopes this route accepts: write:messages or delete:messages.")}
        assert 'scope="write:messages delete:messages"' in response.headers["WWW-Authenticate"]
    else:
        assert set(response.json()["scopes"]) >= set(scope.split())


@pytest.mark.parametrize("name", ["read messages", "read:messages\u00a0", "read:\tmessages", 'say:"hi"', "café"])
def test_a_scope_no_token_can_grant_is_refused_where_a_route_names_it(name):
    """A scope is 1*NQCHAR (RFC 6749 §3.3): a route needing anything else could never be opened."""
    with pytest.raises(ValueError, match="not a scope"):
        Scope(name, "What it would grant.")
    with pytest.raises(ValueError, match="not a scope"):
        protect(name)
    with pytest.raises(ValueError, match="not a scope"):
        protect(any_of=["read:messages", name])
