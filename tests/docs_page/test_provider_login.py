"""Any OpenID provider's login: with AUTH_ISSUER the page's login and token request name the API by RFC 8707's
`resource` (a standard provider without a default resource refuses them otherwise), with AUTH0_DOMAIN by Auth0's
`audience`; "Getting a token" names the token endpoint and parameter of the provider in force."""

from __future__ import annotations

import json
import re

import pytest
import requests
from werkzeug.wrappers import Request, Response

from app import create_app
from security.dpop import DPoPVerifier
from security.replay import MemoryReplayStore
from tests.support import AUDIENCE, Tokens, live, live_on_own_port
from tests.support.browser import DocsPage

SCOPED = "/api/private-scoped"
CLIENT = "spa-client-1"


class StrictProvider:
    """A standard OpenID provider with no default resource (as panva's oidc-provider without `defaultResource`),
    on loopback: its endpoints are not Auth0's paths (discovery names them), and a login or token request that
    does not name the API as `resource` is refused with `invalid_target` (RFC 8707 §2). A token request with a
    DPoP proof gets a token bound to the proof's key. ``seen`` holds what each endpoint was asked."""

    def __init__(self, server, key):
        self.server, self.seen = server, {}
        self.issuer = server.url_for("/")
        self.token_endpoint = server.url_for("/connect/token")
        self.tokens = Tokens(self.issuer, key)
        document = {"issuer": self.issuer, "jwks_uri": server.url_for("/jwks"),
                    "authorization_endpoint": server.url_for("/connect/authorize"),
                    "token_endpoint": self.token_endpoint}
        server.expect_request("/.well-known/openid-configuration").respond_with_json(document)
        server.expect_request("/jwks").respond_with_json({"keys": [key.as_dict(private=False)]})
        server.expect_request("/connect/authorize").respond_with_handler(self.authorize)
        server.expect_request("/connect/token").respond_with_handler(self.token)

    def authorize(self, request: Request) -> Response:
        self.seen["authorize"] = request.args.to_dict()
        back = request.args["redirect_uri"] + f"?state={request.args['state']}&"
        back += "code=code-1" if request.args.get("resource") == AUDIENCE else "error=invalid_target"
        return Response(status=302, headers={"Location": back})

    def token(self, request: Request) -> Response:
        cors = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Headers": "*"}
        if request.method == "OPTIONS":
            return Response(status=204, headers=cors)
        self.seen["token"] = form = request.form.to_dict()
        if form.get("resource") != AUDIENCE:
            return Response(json.dumps({"error": "invalid_target", "error_description": "resource is required"}),
                            status=400, content_type="application/json", headers=cors)
        claims, kind = {"scope": "read:messages"}, "Bearer"
        if "DPoP" in request.headers:
            proof = DPoPVerifier(replay_store=MemoryReplayStore(since=0)).verify(
                request.headers["DPoP"], method=request.method, url=request.url.split("?")[0])
            claims, kind = {**claims, "cnf": {"jkt": proof.jkt}}, "DPoP"
        answer = {"access_token": self.tokens.make(**claims), "token_type": kind, "expires_in": 3600}
        return Response(json.dumps(answer), content_type="application/json", headers=cors)


@pytest.fixture
def strict(other_server, signing_key):
    return StrictProvider(other_server, signing_key)


@pytest.fixture
def strict_app(strict, namespaces, tmp_path):
    config = {"AUTH_ISSUER": strict.issuer, "AUTH0_AUDIENCE": AUDIENCE, "SWAGGER_UI_OAUTH_CLIENT_ID": CLIENT}
    with live(create_app(config, instance_path=tmp_path / "instance", namespaces=namespaces)) as server:
        yield server


def test_the_fake_provider_refuses_a_token_request_without_resource(strict):
    form = {"grant_type": "authorization_code", "code": "code-1", "client_id": CLIENT}
    refused = requests.post(strict.token_endpoint, data=form, timeout=5)
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_target")
    taken = requests.post(strict.token_endpoint, data={**form, "resource": AUDIENCE}, timeout=5)
    assert taken.status_code == 200


@pytest.mark.browser
def test_a_login_through_the_page_at_a_provider_without_default_resource(strict, strict_app, page):
    docs = DocsPage(page, strict_app.url).open()
    form = docs.scheme("authorization_code")
    docs.tick_scope(form, "read:messages")
    docs.authorize(form)
    docs.wait_authorized(form)
    docs.close_dialog()
    status, shown = docs.try_route(SCOPED)
    assert status == 200, shown
    assert strict.seen["authorize"]["resource"] == AUDIENCE  # the login names the API
    assert strict.seen["authorize"]["code_challenge_method"] == "S256"
    assert strict.seen["token"]["resource"] == AUDIENCE  # and the token request too, in its body
    assert strict.seen["token"]["code_verifier"]


@pytest.mark.browser
def test_getting_a_token_names_the_providers_own_endpoint(strict, strict_app, page):
    DocsPage(page, strict_app.url).open()
    folded = page.locator(".information-container .info details")
    folded.locator("summary").click()
    text = folded.inner_text()
    assert f"POST {strict.token_endpoint}" in text and f"resource={AUDIENCE}" in text
    assert "oauth/token" not in text  # not Auth0's path


def described(url: str) -> tuple[str, dict]:
    """The served description, and the page's settings."""
    with requests.Session() as http:
        text = http.get(url + "/openapi.json", timeout=10).json()["info"]["description"]
        page = http.get(url + "/docs", timeout=10).text
    block = re.search(r'<script type="application/json" id="docs-settings">(.*?)</script>', page, re.DOTALL)
    return text, json.loads(block.group(1))


def test_with_auth0_the_page_asks_for_the_audience(tmp_path, namespaces):
    config = {"AUTH0_DOMAIN": "tenant.eu.auth0.com", "AUTH0_AUDIENCE": AUDIENCE}
    with live_on_own_port(lambda port: create_app({**config, "PORT": str(port)}, instance_path=tmp_path,
                                                  namespaces=namespaces)) as server:
        text, settings = described(server.url)
    assert settings["oauth"]["additionalQueryStringParams"] == {"audience": AUDIENCE}
    assert settings["resource"] is None
    assert "POST https://tenant.eu.auth0.com/oauth/token` with `grant_type=client_credentials`" in text
    assert f"audience={AUDIENCE}" in text and "resource=" not in text and "Auth0 dashboard" in text


def test_with_auth_issuer_the_page_asks_for_the_resource(strict, strict_app):
    text, settings = described(strict_app.url)
    assert settings["oauth"]["additionalQueryStringParams"] == {"audience": AUDIENCE, "resource": AUDIENCE}
    assert settings["resource"] == AUDIENCE
    assert f"`POST {strict.token_endpoint}`" in text


def test_in_local_mode_the_page_says_how_to_get_a_local_token(module_local_server):
    text, settings = described(module_local_server.url)
    assert settings["resource"] is None
    assert "**Local issuer**" in text and "make token" in text
