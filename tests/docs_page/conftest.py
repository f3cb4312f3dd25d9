"""The browser the docs page's tests drive: Debian's Chromium, started once per session (per xdist worker), a
fresh context (cookies, storage, pages) per test."""

from __future__ import annotations

import pytest

from tests.support.browser import CHROMIUM_ARGS, Screenshots, chromium_executable, csp_violations


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium through Playwright (skipped without it, except under CI=true)."""
    executable = chromium_executable()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def browser_context(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(browser_context):
    """A page whose test fails on any Content-Security-Policy violation, in it or in its login popups."""
    violations = csp_violations(browser_context)
    yield browser_context.new_page()
    assert violations == [], "the docs page or its login popup broke its Content-Security-Policy"


@pytest.fixture
def screenshots(request) -> Screenshots:
    """Where a test lists the screenshots it saved; the run's summary says where to look."""
    return Screenshots(request.node)
