"""Swagger UI in a real Chromium: every way of authorizing, then trying the routes (issue 3's four flows)."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.support.browser import DocsPage
from tests.support.documents import operations
from tests.support.live_server import live
from tests.support.tokens import AUDIENCE

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


def needs_no_input(operation) -> bool:
    """Whether Try it out can Execute it as the page fills it (a body is prefilled with its example)."""
    return not any(p.get("required") and p["in"] != "body" for p in operation.parameters)


@pytest.mark.parametrize("prefix, every_route", [("", True), ("Bearer ", False)], ids=["bare", "prefixed"])
def test_pasted_token(docs_server, page, screenshots, served, prefix, every_route):
    scoped = next(o for o in served if o.path == "/api/private-scoped")
    routes = [o for o in served if needs_no_input(o)] if every_route else [scoped]
    issuer = docs_server.app.extensions["local_issuer"]
    token = issuer.mint(subject="browser", scopes=issuer.scopes)
    docs = DocsPage(page, docs_server.url).open()
    form = docs.scheme("bearer")
    form.locator("input").first.fill(prefix + token)  # bare: the page adds "Bearer "
    docs.authorize(form)
    docs.wait_authorized(form)
    docs.close_dialog()
    statuses = [docs.try_route(o.path, o.method)[0] for o in routes]
    assert statuses == [int(o.success) for o in routes]
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
    """The examples under 200 and 403 are what the route really answers, and the 403's header names its scope
    (for the routes that take no parameter; tests/routes/test_examples.py holds every example of every route)."""
    issuer = docs_server.app.extensions["local_issuer"]
    docs = DocsPage(page, docs_server.url).open()
    for operation in (o for o in served if not o.parameters):
        token = None if operation.public else issuer.mint(subject="browser", scopes=operation.scopes)
        answer = http.request(operation.method, docs_server.url + operation.path,
                              headers=bearer(token) if token else {})
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


def test_a_message_posted_edited_with_its_etag_and_deleted_in_the_page(docs_server, page, screenshots, http):
    """Logged in through the local issuer with read and write, the page posts a message, edits it with the
    ETag the post answered, and deletes it; the API then has no such message."""
    docs = DocsPage(page, docs_server.url).open()
    form = docs.scheme("authorization_code")
    for scope in ("read:messages", "write:messages"):
        docs.tick_scope(form, scope)
    with page.expect_popup():
        docs.authorize(form)
    docs.wait_authorized(form)
    docs.close_dialog()

    status, shown, headers = docs.execute("/api/messages", "post", body='{"text": "Posted from the docs page"}')
    assert (status, headers["etag"]) == (201, '"1"'), shown
    posted = json.loads(shown)
    assert headers["location"] == f"/api/messages/{posted['id']}"
    status, shown, headers = docs.execute("/api/messages/{message_id}", "patch", body='{"text": "Edited in the page"}',
                                          parameters={"message_id": posted["id"], "If-Match": '"1"'})
    assert (status, headers["etag"]) == (200, '"2"'), shown
    assert json.loads(shown)["text"] == "Edited in the page"
    screenshots.append(docs.screenshot("docs-message-edited"))
    status, _, _ = docs.execute("/api/messages/{message_id}", "delete", parameters={"message_id": posted["id"]})
    assert status == 204
    issuer = docs_server.app.extensions["local_issuer"]
    reader = bearer(issuer.mint(subject="checker", scopes=["read:messages"]))
    assert http.get(f"{docs_server.url}/api/messages/{posted['id']}", headers=reader).status_code == 404
