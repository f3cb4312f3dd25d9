"""Driving Swagger UI in Debian's Chromium through Playwright: launching, authorizing, trying routes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from werkzeug.wrappers import Request, Response

from tests.support import ROOT
from tests.support.tools import require_tool

SCREENSHOTS = ROOT / "build" / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 10_000
SCREENSHOT = "screenshot"  # the user property a test's report carries for each screenshot it saved


# Reports each violation as a console line too (Chromium prints its own "Refused to ..." line as well).
_CSP_WATCH = """document.addEventListener("securitypolicyviolation", (event) => console.error(
    `CSP violation: ${event.effectiveDirective} blocked ${event.blockedURI || "inline"} in ${event.documentURI}`));"""


def csp_violations(context) -> list[str]:
    """A list that fills with every Content-Security-Policy violation in the context's pages, popups included."""
    found: list[str] = []
    context.add_init_script(_CSP_WATCH)

    def on_console(message) -> None:
        if "Content Security Policy" in message.text or message.text.startswith("CSP violation"):
            found.append(message.text)

    context.on("console", on_console)
    return found


class Screenshots:
    """The screenshots one test saved, carried by its report (so from any xdist worker) to the run's summary."""

    def __init__(self, item):
        self.item = item

    def append(self, path: Path) -> None:
        self.item.user_properties.append((SCREENSHOT, str(path)))


def chromium_executable() -> str:
    """The Chromium executable (Debian's package); see ``require_tool`` for what happens without one."""
    return require_tool("chromium", "chromium-browser", install="Debian: apt-get install -y chromium")


class DocsPage:
    """The Swagger UI page, with the few actions the tests need."""

    def __init__(self, page, url: str):
        self.page = page
        self.url = url
        page.set_default_timeout(TIMEOUT_MS)

    def open(self) -> "DocsPage":
        self.page.goto(self.url + "/docs")
        self.page.locator(".opblock").first.wait_for()
        return self

    def scheme(self, name: str):
        """The Authorize dialog's form for one security scheme (opening the dialog if needed)."""
        if not self.page.locator(".auth-container").first.is_visible():
            self.page.locator("button.btn.authorize").first.click()
        return self.page.locator(".auth-container").filter(has=self.page.locator("h4", has_text=name))

    def tick_scope(self, form, scope: str) -> None:
        form.locator("label", has_text=scope).click()

    def authorize(self, form) -> None:
        form.locator("button.btn.modal-btn.auth.authorize").click()

    def wait_authorized(self, form) -> None:
        form.locator("button.btn.modal-btn.auth", has_text="Logout").wait_for()

    def close_dialog(self) -> None:
        self.page.locator("button.btn-done").first.click()
        self.page.locator(".auth-container").first.wait_for(state="detached")

    def expanded(self, path: str, method: str = "get"):
        """The operation's block, expanded."""
        block = self.page.locator(f".opblock.opblock-{method}").filter(has=self.page.locator(f'[data-path="{path}"]'))
        if not block.locator("button.execute, button.try-out__btn").first.is_visible():
            block.locator(".opblock-summary").first.click()
        return block

    def trying(self, path: str, method: str = "get"):
        """The operation's block, expanded and in Try it out (OpenAPI 3's then shows Cancel and Reset)."""
        block = self.expanded(path, method)
        block.locator("button.try-out__btn").first.wait_for()  # drawn once the block is open
        try_out = block.locator("button.try-out__btn", has_text="Try it out")
        if try_out.count():
            try_out.click()
        return block

    def response_example(self, path: str, status: int, method: str = "get") -> tuple[dict, list[str]]:
        """Under one documented response: the example body shown, and the header values its table quotes."""
        row = self.expanded(path, method).locator(f'tr.response[data-code="{status}"]')
        body = json.loads(row.locator("pre.example").inner_text())
        return body, row.locator("table.headers code").all_inner_texts()

    def try_route(self, path: str, method: str = "get", parameters: dict[str, str] | None = None,
                  body: str | None = None) -> tuple[int, str]:
        """Expand the operation, Try it out, fill in ``parameters`` (by name) and the ``body``, Execute; the
        status and body the page shows."""
        status, shown, _ = self.execute(path, method, parameters, body)
        return status, shown

    def execute(self, path: str, method: str = "get", parameters: dict[str, str] | None = None,
                body: str | None = None) -> tuple[int, str, dict[str, str]]:
        """As ``try_route``, and the response headers the page lists (names in lower case)."""
        block = self.trying(path, method)
        for name, value in (parameters or {}).items():
            block.locator(f'tr[data-param-name="{name}"] input').fill(value)
        if body is not None:
            block.locator("textarea.body-param__text").fill(body)
        block.locator("button.execute").click()
        answer = block.locator(".live-responses-table tbody tr.response").first
        status = answer.locator(".response-col_status")
        status.wait_for()
        body = answer.locator(".highlight-code pre")  # none for a 204
        shown = body.first.inner_text() if body.count() else ""
        headers = {}
        for line in answer.locator("span.headerline").all_inner_texts():
            name, _, value = line.strip().partition(":")
            headers[name.strip().lower()] = value.strip()
        return int(status.inner_text().strip()), shown, headers

    def screenshot(self, name: str, full_page: bool = True, of=None) -> Path:
        """The page (``full_page=False``: what the window shows), or the element ``of`` locates, in
        build/screenshots."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        if of is not None:
            of.screenshot(path=str(path))
        else:
            self.page.screenshot(path=str(path), full_page=full_page)
        return path


def serve_provider_login(provider, token_answer: Callable[[Request], dict]) -> dict:
    """The provider's side of a code + PKCE login from the docs page, on another origin as Auth0 is:
    ``/authorize`` sends the browser back at once with the code ``code-1``, ``/oauth/token`` answers CORS
    (preflight included) with the body ``token_answer(request)`` gives. Returns what each endpoint was
    asked, filled in as the login goes: ``seen["authorize"]`` (query) and ``seen["token"]`` (form)."""
    seen: dict = {}
    cors = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Headers": "*"}

    def authorize(request):
        seen["authorize"] = request.args.to_dict()
        back = f"{request.args['redirect_uri']}?code=code-1&state={request.args['state']}"
        return Response(status=302, headers={"Location": back})

    def token(request):
        if request.method == "OPTIONS":
            return Response(status=204, headers=cors)
        seen["token"] = request.form.to_dict()
        return Response(json.dumps(token_answer(request)), content_type="application/json", headers=cors)

    provider.server.expect_request("/authorize").respond_with_handler(authorize)
    provider.server.expect_request("/oauth/token").respond_with_handler(token)
    return seen
