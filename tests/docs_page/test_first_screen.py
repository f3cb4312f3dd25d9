"""The docs page's first screen, at 1280×800, starts the work: the title, a short intro, Authorize and the first
routes, without scrolling; the longer text (getting a token, scopes, errors, DPoP) is one click away."""

from __future__ import annotations

import pytest

from tests.support import live
from tests.support.browser import DocsPage, csp_violations

pytestmark = pytest.mark.browser

WIDTH, HEIGHT = 1280, 800


@pytest.fixture
def small_page(browser):
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
    violations = csp_violations(context)
    try:
        yield context.new_page()
    finally:
        context.close()
    assert violations == []


def on_screen(locator) -> bool:
    box = locator.bounding_box()
    return box is not None and locator.is_visible() and 0 <= box["y"] and box["y"] + box["height"] <= HEIGHT


@pytest.fixture(params=["local", "provider"])
def docs_url(request):
    """The page in local mode, and against a provider (whose description is shorter)."""
    if request.param == "local":
        yield request.getfixturevalue("module_local_server").url
    else:
        with live(request.getfixturevalue("make_app")()) as server:
            yield server.url


def test_the_first_screen(docs_url, small_page, screenshots, module_local_server):
    docs = DocsPage(small_page, docs_url).open()
    page = docs.page
    info = page.locator(".information-container .info")
    assert on_screen(info.locator("h2.title"))
    intro = info.locator(".description p").first
    assert on_screen(intro) and "Authorize" in intro.inner_text()
    assert on_screen(page.locator("button.btn.authorize"))
    operations = page.locator(".opblock")
    assert operations.count() >= 4 and all(on_screen(operations.nth(i)) for i in range(4))
    assert on_screen(page.locator("nav.docs-documents"))
    # the longer text: folded, one click away
    folded = info.locator("details")
    assert folded.get_attribute("open") is None
    heading = info.locator("h2", has_text="Getting a token")
    assert heading.is_hidden()
    if docs_url == module_local_server.url:
        screenshots.append(docs.screenshot("docs-first-screen", full_page=False))
    folded.locator("summary").click()
    assert heading.is_visible() and info.locator("h2", has_text="Errors").is_visible()
    assert "README" in folded.inner_text()
