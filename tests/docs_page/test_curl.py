"""Curls that run: the Curl box never shows a spent DPoP proof as if it could be reused, a switch in the Authorize
dialog gets plain Bearer tokens when AUTH_DPOP allows them (the copied curl then runs as shown), and the dialog
says in one paragraph what the page does with DPoP."""

from __future__ import annotations

import json
import shlex
import subprocess

import pytest

from tests.support import live_on_own_port, require_tool
from tests.support.browser import DocsPage

pytestmark = pytest.mark.browser

SCOPED = "/api/private-scoped"


@pytest.fixture(scope="module")
def docs_server(module_local_server):
    return module_local_server


def log_in(docs: DocsPage, bearer: bool | None = None) -> None:
    form = docs.scheme("client_credentials")
    if bearer is not None:
        docs.page.locator(".bearer-switch input").set_checked(bearer)
    docs.tick_scope(form, "read:messages")
    docs.authorize(form)
    docs.wait_authorized(form)
    docs.close_dialog()


def shown_curl(docs: DocsPage, path: str) -> str:
    return docs.expanded(path).locator(".curl-command pre").inner_text()


def run(curl: str) -> tuple[int, str]:
    """The command as the page shows it, run by curl itself (no shell)."""
    args = shlex.split(curl.replace("\\\n", " "))
    assert args[0] == "curl"
    done = subprocess.run([require_tool("curl", install="Debian: apt-get install -y curl"), *args[1:], "-s",
                           "-w", "\n%{http_code}"], capture_output=True, text=True, timeout=20, check=True)
    body, _, status = done.stdout.rpartition("\n")
    return int(status), body


def test_a_signed_calls_curl_shows_no_spent_proof(docs_server, page):
    sent: list[dict] = []
    page.on("request", lambda request: sent.append(request.all_headers()) if SCOPED in request.url else None)
    docs = DocsPage(page, docs_server.url).open()
    log_in(docs)
    assert docs.try_route(SCOPED)[0] == 200
    (headers,) = sent
    assert headers["authorization"].startswith("DPoP ")
    curl = shown_curl(docs, SCOPED)
    assert headers["dpop"] not in curl
    assert "DPoP: <spent: a DPoP proof is single-use>" in curl
    note = docs.expanded(SCOPED).locator(".spent-proof").inner_text()
    assert "single-use" in note and "cannot be replayed outside the page" in note
    status, body = run(curl)  # as the note says: refused, and not as if the proof could be reused
    assert status == 400 and "invalid_dpop_proof" in body


def test_the_bearer_switch_gives_a_curl_that_runs(docs_server, page):
    docs = DocsPage(page, docs_server.url).open()
    log_in(docs, bearer=True)
    status, shown = docs.try_route(SCOPED)
    assert status == 200
    curl = shown_curl(docs, SCOPED)
    assert "Authorization: Bearer " in curl and "DPoP" not in curl
    assert docs.expanded(SCOPED).locator(".spent-proof").count() == 0
    for _ in range(2):  # and again: nothing in it is single-use
        status, body = run(curl)
        assert (status, json.loads(body)) == (200, json.loads(shown))


@pytest.mark.parametrize("mode, paragraph, switch", [("allowed", True, True), ("required", True, False),
                                                     ("off", False, False)])
def test_the_dialog_explains_dpop_and_offers_the_switch_when_bearer_is_taken(make_local_app, page, mode,
                                                                             paragraph, switch):
    with live_on_own_port(lambda port: make_local_app(port, AUTH_DPOP=mode)) as server:
        docs = DocsPage(page, server.url).open()
        docs.scheme("authorization_code")
        explained = page.locator(".auth-container .dpop-explained, .dpop-explained")
        assert explained.count() == int(paragraph)
        assert page.locator(".bearer-switch input").count() == int(switch)
        if paragraph:
            text = explained.inner_text()
            for needle in ("cannot export", "proof", "single-use", "use_dpop_nonce", "pasted here cannot work"):
                assert needle in text, needle
