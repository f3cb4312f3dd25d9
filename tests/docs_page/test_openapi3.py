"""The docs page shows the OpenAPI 3 document: named examples in a selector, links, both documents in its header."""

from __future__ import annotations

import json

import pytest

from tests.support.browser import DocsPage

pytestmark = pytest.mark.browser

ITEM = "/api/messages/{message_id}"


@pytest.fixture(scope="module")
def docs_server(module_local_server):
    return module_local_server


def test_the_page_loads_openapi_json_and_links_both_documents(docs_server, page, http):
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url.removeprefix(docs_server.url)))
    DocsPage(page, docs_server.url).open()
    assert "/openapi.json" in requested and "/swagger.json" not in requested
    links = page.locator("nav.docs-documents a")
    assert [links.nth(i).get_attribute("href") for i in range(links.count())] == ["/openapi.json", "/swagger.json"]
    assert links.first.is_visible()
    assert http.get(docs_server.url + "/openapi.json").json()["openapi"].startswith("3.")
    assert http.get(docs_server.url + "/swagger.json").json()["swagger"] == "2.0"  # still there, for 2.0 tools


def test_each_named_example_is_selectable(docs_server, page, http):
    """Under PATCH's 403, both cases: the missing scope (the first) and someone else's message."""
    documented = http.get(docs_server.url + "/openapi.json").json()
    examples = documented["paths"][ITEM]["patch"]["responses"]["403"]["content"]["application/json"]["examples"]
    assert set(examples) == {"insufficient_scope", "not_author"}
    row = DocsPage(page, docs_server.url).open().expanded(ITEM, "patch").locator('tr.response[data-code="403"]')
    selector = row.locator("select.examples-select-element")
    assert selector.locator("option").all_inner_texts() == [e["summary"] for e in examples.values()]
    for name, shown in examples.items():
        selector.select_option(name)
        assert json.loads(row.locator("pre.example").inner_text()) == shown["value"]


def test_the_links_are_shown(docs_server, page, http):
    documented = http.get(docs_server.url + "/openapi.json").json()
    links = documented["paths"]["/api/messages"]["post"]["responses"]["201"]["links"]
    row = DocsPage(page, docs_server.url).open().expanded("/api/messages", "post").locator(
        'tr.response[data-code="201"]')
    shown = row.locator(".response-col_links").inner_text()
    assert all(name in shown for name in links) and "EditMessage" in links


def test_a_token_in_the_dpop_field_is_sent_with_the_dpop_scheme(docs_server, page):
    """OpenAPI 3 spells the scheme `http`/`DPoP`, which Swagger UI 4.19 leaves out: the page draws its field and
    sends the token as `Authorization: DPoP`, with a proof of its key (the token is bound to that key here)."""
    issuer = docs_server.app.extensions["local_issuer"]
    sent: list[dict] = []
    page.on("request", lambda request: sent.append(request.all_headers()) if "/api/private-scoped" in request.url
            else None)
    docs = DocsPage(page, docs_server.url).open()
    jkt = page.evaluate("async () => (await window.dpopSigner.key).jkt")
    token = issuer.mint(subject="browser", scopes=issuer.scopes, jkt=jkt)
    form = docs.scheme("dpop")
    assert "(http, DPoP)" in form.locator("h4").inner_text()
    form.locator("input").first.fill(token)
    docs.authorize(form)
    docs.wait_authorized(form)
    docs.close_dialog()
    assert docs.try_route("/api/private-scoped")[0] == 200
    (headers,) = sent
    assert headers["authorization"] == f"DPoP {token}" and headers["dpop"].count(".") == 2
