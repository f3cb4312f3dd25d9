"""The docs page's and the OAuth2 redirect page's browser-facing headers, and Swagger UI working under them."""

from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import urlsplit

import pytest

from app import create_app
from tests.support.browser import DocsPage, csp_violations, serve_provider_login
from tests.support.live_server import live, live_on_own_port
from tests.support.tokens import AUDIENCE

BROWSER_HARDENING = {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def policy(response) -> dict[str, list[str]]:
    directives = [d.split() for d in response.headers["Content-Security-Policy"].split(";") if d.strip()]
    return {name: sources for name, *sources in directives}


def _assert_docs_policy(response, connect: list[str]) -> None:
    for name, value in BROWSER_HARDENING.items():
        assert response.headers[name] == value
    assert policy(response) == {
        "default-src": ["'none'"], "script-src": ["'self'"], "style-src": ["'self'"], "img-src": ["'self'", "data:"],
        "font-src": ["'self'"], "connect-src": ["'self'", *connect], "base-uri": ["'none'"],
        "form-action": ["'self'"], "frame-ancestors": ["'none'"],
    }


def test_local_docs_page_headers(local_server, http):
    response = http.get(local_server.url + "/docs")
    _assert_docs_policy(response, connect=[local_server.url])  # the local issuer's token endpoint
    assert response.headers["Cache-Control"] == "no-store"  # the page embeds the local client's secret
    assert '"clientSecret"' in response.text


def test_provider_docs_page_headers(provider, server, http):
    response = http.get(server.url + "/docs")
    _assert_docs_policy(response, connect=[provider.issuer.rstrip("/")])  # the provider's token endpoint
    assert "no-store" not in response.headers.get("Cache-Control", "")


def test_auth0_docs_page_connects_to_the_tenant(http, tmp_path):
    config = {"AUTH0_DOMAIN": "tenant.eu.auth0.com", "AUTH0_AUDIENCE": AUDIENCE}
    with live_on_own_port(lambda port: create_app({**config, "PORT": str(port)}, instance_path=tmp_path)) as server:
        _assert_docs_policy(http.get(server.url + "/docs"), connect=["https://tenant.eu.auth0.com"])


def test_redirect_page_allows_its_own_script_only(server, http):
    response = http.get(server.url + "/swaggerui/oauth2-redirect.html")
    assert response.status_code == 200
    for name, value in BROWSER_HARDENING.items():
        assert response.headers[name] == value
    script = re.search(r"<script>(.*?)</script>", response.text, re.DOTALL).group(1)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert policy(response) == {"default-src": ["'none'"], "script-src": [f"'sha256-{digest}'"],
                                "base-uri": ["'none'"], "form-action": ["'none'"], "frame-ancestors": ["'none'"]}


def test_the_docs_page_has_no_inline_script_or_style(server, http):
    page = http.get(server.url + "/docs").text
    assert re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", page) == [' type="application/json" id="docs-settings"']
    assert "<style" not in page and not re.search(r"\s(?:style|on[a-z]+)\s*=", page)  # no inline style, no handler


# --- in Chromium ---

@pytest.mark.browser
def test_the_policy_is_enforced_and_violations_are_seen(module_local_server, browser_context):
    """Proves the other browser tests' "no violation" check can fail: injected code is refused and reported."""
    violations = csp_violations(browser_context)
    page = browser_context.new_page()
    DocsPage(page, module_local_server.url).open()
    assert violations == []
    page.evaluate("""() => {
        const inline = document.createElement("script");
        inline.textContent = "window.injected = true";
        document.body.appendChild(inline);
        const foreign = document.createElement("script");
        foreign.src = "http://127.0.0.2:9/x.js";
        document.body.appendChild(foreign);
    }""")
    page.wait_for_function("() => true")
    assert page.evaluate("() => window.injected") is None
    page.wait_for_timeout(200)  # console events arrive asynchronously
    assert any("script-src" in v and "inline" in v for v in violations), violations
    assert any("127.0.0.2" in v for v in violations), violations


@pytest.mark.browser
@pytest.mark.parametrize("hostile", [
    {"X-Forwarded-Prefix": "//evil.example"},
    {"X-Forwarded-Prefix": "/\\evil.example"},
    {"X-Forwarded-Host": "evil.example", "X-Forwarded-Port": "443", "X-Forwarded-Proto": "https"},
], ids=["protocol-relative-prefix", "backslash-prefix", "host"])
def test_hostile_forwarded_headers_load_nothing_off_site(make_app, page, hostile):
    """The issue's attack, with every forwarded header trusted: the page still loads only from its own origin."""
    with live(make_app(TRUSTED_PROXIES=1, TRUSTED_PROXY_HEADERS="host,port,prefix")) as server:
        page.context.set_extra_http_headers(hostile)
        requested: list[str] = []
        page.context.on("request", lambda request: requested.append(request.url))
        DocsPage(page, server.url).open()
        assert page.evaluate("() => typeof window.ui") == "object"  # Swagger UI started from our own script
        origins = {f"{urlsplit(url).scheme}://{urlsplit(url).netloc}" for url in requested
                   if not url.startswith("data:")}
        assert origins == {server.url}, requested


@pytest.mark.browser
def test_provider_login_exchanges_the_code_at_the_provider_under_the_policy(provider, tokens, make_app, page):
    """Code + PKCE against a provider on another origin: the token request is the one cross-origin fetch."""
    seen = serve_provider_login(provider, lambda request: {
        "access_token": tokens.make(scope="read:messages"), "token_type": "Bearer", "expires_in": 3600})
    with live(make_app(SWAGGER_UI_OAUTH_CLIENT_ID="spa-client-1")) as server:
        docs = DocsPage(page, server.url).open()
        form = docs.scheme("authorization_code")
        docs.tick_scope(form, "read:messages")
        docs.authorize(form)
        docs.wait_authorized(form)
        docs.close_dialog()
        assert docs.try_route("/api/private-scoped")[0] == 200
    challenge = base64.urlsafe_b64encode(hashlib.sha256(seen["token"]["code_verifier"].encode()).digest())
    assert seen["authorize"]["code_challenge"] == challenge.rstrip(b"=").decode()
    assert seen["token"]["code"] == "code-1"
    assert seen["token"]["redirect_uri"] == server.url + "/swaggerui/oauth2-redirect.html"


def test_the_page_scripts_and_styles_are_served(server, http):
    for name, kind in (("docs.js", "text/javascript"), ("step-up.js", "text/javascript"), ("docs.css", "text/css")):
        response = http.get(f"{server.url}/static/{name}")
        assert response.status_code == 200 and kind in response.headers["Content-Type"]
