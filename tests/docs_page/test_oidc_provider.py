"""A login through the docs page at a real standard OpenID provider: panva's oidc-provider (certified), with no
default resource, so the login gets a token for this API only because the page sends `resource` (RFC 8707)."""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from app import create_app
from tests.support import AUDIENCE, free_port, live, missing, require_tool
from tests.support.browser import DocsPage

pytestmark = pytest.mark.browser

FOLDER = Path(__file__).resolve().parent / "oidc_provider"


@contextlib.contextmanager
def oidc_provider(port: int, redirect_uri: str):
    """``tests/docs_page/oidc_provider/provider.js`` on loopback ``port``, until the block ends."""
    node = require_tool("node", install="Debian's nodejs; `.ci/run` installs it with npm")
    if not (FOLDER / "node_modules" / "oidc-provider").exists():
        missing("oidc-provider is not installed: run `npm ci --prefix tests/docs_page/oidc_provider` (`.ci/run` does)")
    process = subprocess.Popen([node, "provider.js", str(port), AUDIENCE, redirect_uri], cwd=FOLDER,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in process.stdout:  # its start-up warnings go to stderr
            if line.startswith("listening "):
                break
        else:
            pytest.fail(f"oidc-provider did not start: {process.stderr.read()}")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()
        process.stderr.close()


def test_a_login_through_the_page_at_oidc_provider(namespaces, tmp_path, page):
    port = free_port()
    config = {"AUTH_ISSUER": f"http://127.0.0.1:{port}", "AUTH0_AUDIENCE": AUDIENCE,
              "SWAGGER_UI_OAUTH_CLIENT_ID": "docs-page"}
    # its development pages load web fonts from outside: nothing leaves loopback
    page.context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("http://127.0.0.1")
                       else route.abort())
    with live(create_app(config, instance_path=tmp_path / "instance", namespaces=namespaces)) as server, \
            oidc_provider(port, server.url + "/swaggerui/oauth2-redirect.html"):
        tokens = []
        page.context.on("response", lambda response: tokens.append(response)
                        if urlsplit(response.url).path == "/token" and response.request.method == "POST" else None)
        docs = DocsPage(page, server.url).open()
        form = docs.scheme("authorization_code")
        docs.tick_scope(form, "read:messages")
        with page.expect_popup() as opened:
            docs.authorize(form)
        login = opened.value
        login.locator('input[name="login"]').fill("alice")
        login.locator('input[name="password"]').fill("any")
        login.locator('button[type="submit"]').click()
        login.locator('button[type="submit"]', has_text="Continue").click()  # the consent page
        docs.wait_authorized(form)
        docs.close_dialog()
        status, shown = docs.try_route("/api/private-scoped")
        assert status == 200, shown
        (exchange,) = tokens
        assert parse_qs(exchange.request.post_data)["resource"] == [AUDIENCE]
        answer = exchange.json()
        assert answer["token_type"] == "DPoP" and answer["access_token"].count(".") == 2  # a JWT, bound to the page
