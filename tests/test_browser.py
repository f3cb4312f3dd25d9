"""Swagger UI in a real Chromium: every way of authorizing, then trying the routes (issue 3's four flows)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.browser import DocsPage
from tests.support import AUDIENCE, live, operations

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def docs_server(module_local_server):
    """The app in local mode (nothing configured), as `make run` serves it."""
    return module_local_server


@pytest.fixture(scope="module")
def served(docs_server):
    """The operations of the served document: the routes the page shows."""
    with requests.Session() as session:
        return operations(session.get(docs_server.url + "/swagger.json").json())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("prefix, every_route", [("", True), ("Bearer ", False)], ids=["bare", "prefixed"])
def test_pasted_token(docs_server, page, screenshots, served, prefix, every_route):
    routes = [o.path for o in served] if every_route else ["/api/private-scoped"]
    issuer = docs_server.app.extensions["local_issuer"]
    token = issuer.mint(subject="browser", scopes=issuer.scopes)
    docs = DocsPage(page, docs_server.url).open()
    form = docs.scheme("bearer")
    form.locator("input").first.fill(prefix + token)  # bare: the page adds "Bearer "
    docs.authorize(form)
    docs.wait_authorized(form)
    docs.close_dialog()
    statuses = [docs.try_route(path)[0] for path in routes]
    assert statuses == [200] * len(routes)
    if not prefix:
        screenshots.append(docs.screenshot("docs-authorized-bearer"))


@pytest.mark.parametrize("host, scope, expected", [
    ("127.0.0.1", "read:messages", 200),
    ("127.0.0.1", None, 403),
    ("localhost", "read:messages", 200),
], ids=["with-scope", "no-scope", "at-localhost"])
def test_code_and_pkce_login_against_the_local_issuer(docs_server, page, screenshots, host, scope, expected):
    docs = DocsPage(page, f"http://{host}:{docs_server.port}").open()
    form = docs.scheme("authorization_code")
    if scope:
        docs.tick_scope(form, scope)
    with page.expect_popup() as popup:
        docs.authorize(form)
    login = urlsplit(popup.value.url)
    assert login.hostname == host
    assert login.path in ("/authorize", "/swaggerui/oauth2-redirect.html")
    docs.wait_authorized(form)
    docs.close_dialog()
    status, body = docs.try_route("/api/private-scoped")
    assert status == expected
    if expected == 403:
        assert "insufficient_scope" in body  # the refusal is shown in the page
    elif host == "127.0.0.1":
        screenshots.append(docs.screenshot("docs-authorized-pkce"))


def test_each_route_shows_its_own_answers(docs_server, page, screenshots, served, http):
    """The examples under 200 and 403 are what the route really answers, and the 403's header names its scope."""
    issuer = docs_server.app.extensions["local_issuer"]
    docs = DocsPage(page, docs_server.url).open()
    for operation in served:
        token = None if operation.public else issuer.mint(subject="browser", scopes=operation.scopes)
        answer = http.request(operation.method, docs_server.url + operation.path, headers=bearer(token) if token else {})
        assert answer.status_code == 200
        assert docs.response_example(operation.path, 200) == (answer.json(), []), operation
        if operation.scopes:
            refused = http.request(operation.method, docs_server.url + operation.path,
                                   headers=bearer(issuer.mint(subject="browser")))
            assert refused.status_code == 403
            shown = docs.response_example(operation.path, 403)
            assert shown == (refused.json(), [refused.headers["WWW-Authenticate"]]), operation
    screenshots.append(docs.screenshot("docs-examples"))


def test_local_client_credentials(docs_server, page):
    docs = DocsPage(page, docs_server.url).open()
    form = docs.scheme("client_credentials")
    docs.tick_scope(form, "read:messages")
    docs.authorize(form)
    docs.wait_authorized(form)
    docs.close_dialog()
    assert docs.try_route("/api/private-scoped")[0] == 200


def test_provider_login_goes_to_the_provider_with_pkce_audience_and_client(provider, make_app, page):
    provider.server.expect_request("/authorize").respond_with_data("<p>provider login</p>", content_type="text/html")
    with live(make_app(SWAGGER_UI_OAUTH_CLIENT_ID="spa-client-1")) as server:
        docs = DocsPage(page, server.url).open()
        form = docs.scheme("authorization_code")
        assert form.locator("input#client_id").input_value() == "spa-client-1"
        docs.tick_scope(form, "read:messages")
        with page.expect_popup() as popup:
            docs.authorize(form)
        popup.value.wait_for_load_state()
        url = urlsplit(popup.value.url)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        assert f"{url.scheme}://{url.netloc}{url.path}" == provider.server.url_for("/authorize")
        assert query["response_type"] == "code"
        assert query["code_challenge_method"] == "S256"
        assert len(query["code_challenge"]) == 43
        assert query["audience"] == AUDIENCE
        assert query["client_id"] == "spa-client-1"
        assert query["redirect_uri"] == server.url + "/swaggerui/oauth2-redirect.html"
        assert "read:messages" in query["scope"].split()
        assert "provider login" in popup.value.content()
