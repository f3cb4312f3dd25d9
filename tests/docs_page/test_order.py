"""The docs page lists operations in the order people use them, and tags in the README's order."""

from __future__ import annotations

import pytest

from namespaces import NAMESPACES
from tests.support.browser import DocsPage

pytestmark = pytest.mark.browser


def shown_operations(page, tag: str) -> list[str]:
    section = page.locator(f'.opblock-tag-section:has(h3.opblock-tag[data-tag="{tag}"])')
    return [block.locator(".opblock-summary-method").inner_text() + " "
            + (block.locator("[data-path]").first.get_attribute("data-path") or "")
            for block in section.locator(".opblock").all()]


def test_messages_read_list_create_get_edit_delete(module_local_server, page):
    docs = DocsPage(page, module_local_server.url).open()
    assert shown_operations(docs.page, "messages") == [
        "GET /api/messages",  # list
        "POST /api/messages",  # create
        "GET /api/messages/{message_id}",  # get
        "PATCH /api/messages/{message_id}",  # edit
        "DELETE /api/messages/{message_id}",  # delete
    ]


def test_tags_in_the_readmes_order(module_local_server, page, http):
    """The README calls public, then private, then the messages: the order of NAMESPACES and of the document."""
    docs = DocsPage(page, module_local_server.url).open()
    tags = docs.page.locator("h3.opblock-tag").evaluate_all("tags => tags.map(t => t.dataset.tag)")
    assert tags == [ns.name for ns, _ in NAMESPACES] == ["public", "private", "messages"]
    assert [t["name"] for t in http.get(module_local_server.url + "/openapi.json").json()["tags"]] == tags
    assert shown_operations(docs.page, "private") == ["GET /api/private", "GET /api/private-scoped"]
