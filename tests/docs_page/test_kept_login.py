"""A login that survives a reload: the page's DPoP key in IndexedDB as a non-extractable CryptoKey, the tab's
token in sessionStorage; logout and the token's expiry clear both; nothing in localStorage."""

from __future__ import annotations

import time

import pytest

from tests.support.browser import DocsPage

pytestmark = pytest.mark.browser

SCOPED = "/api/private-scoped"
STORED = "docs-logins"

STORED_KEY = """async () => {
    const db = await new Promise((resolve, reject) => {
        const opening = indexedDB.open("docs-page", 1);
        opening.onupgradeneeded = () => opening.result.createObjectStore("keys");
        opening.onsuccess = () => resolve(opening.result);
        opening.onerror = () => reject(opening.error);
    });
    const pair = await new Promise((resolve) => {
        const read = db.transaction("keys").objectStore("keys").get("dpop");
        read.onsuccess = () => resolve(read.result);
    });
    db.close();
    if (!pair) {
        return null;
    }
    const exported = await crypto.subtle.exportKey("jwk", pair.privateKey).then(() => true, () => false);
    return {kind: pair.privateKey.constructor.name, extractable: pair.privateKey.extractable, exported};
}"""


@pytest.fixture(scope="module")
def docs_server(module_local_server):
    return module_local_server


def storage(page) -> dict:
    return page.evaluate(f"""async () => ({{session: sessionStorage.getItem("{STORED}"), local: localStorage.length,
                                             key: await ({STORED_KEY})(), jkt: (await window.dpopSigner.key).jkt}})""")


def reload(docs: DocsPage) -> None:
    docs.page.reload()
    docs.page.locator(".opblock").first.wait_for()
    docs.page.wait_for_function("() => window.ui && window.ui.specSelectors.securityDefinitions()")


def logged_in(docs: DocsPage, scheme: str) -> bool:
    """Whether the Authorize dialog shows the scheme logged in (it is opened and closed again)."""
    shown = docs.scheme(scheme).locator("button.btn.modal-btn.auth", has_text="Logout").count() == 1
    docs.close_dialog()
    return shown


def code_login(docs: DocsPage):
    form = docs.scheme("authorization_code")
    docs.tick_scope(form, "read:messages")
    with docs.page.expect_popup():
        docs.authorize(form)
    docs.wait_authorized(form)
    docs.close_dialog()
    return form


def test_a_login_survives_a_reload(docs_server, page):
    sent: list[dict] = []
    page.on("request", lambda request: sent.append(request.all_headers()) if SCOPED in request.url else None)
    docs = DocsPage(page, docs_server.url).open()
    code_login(docs)
    assert docs.try_route(SCOPED)[0] == 200
    before = storage(page)
    assert before["session"] and before["local"] == 0
    assert before["key"] == {"kind": "CryptoKey", "extractable": False, "exported": False}
    reload(docs)
    after = storage(page)
    assert after == before  # the same token, the same key: no new login
    docs.wait_authorized(docs.scheme("authorization_code"))
    docs.close_dialog()
    assert docs.try_route(SCOPED)[0] == 200  # the token is bound to the key kept over the reload
    first, second = sent
    assert first["authorization"] == second["authorization"] and first["authorization"].startswith("DPoP ")
    assert "clientSecret" not in after["session"] and "client_secret" not in after["session"]


def test_logout_clears_the_token_and_the_key(docs_server, page):
    docs = DocsPage(page, docs_server.url).open()
    code_login(docs)
    old = storage(page)
    form = docs.scheme("authorization_code")
    form.locator("button.btn.modal-btn.auth", has_text="Logout").click()
    docs.close_dialog()
    page.wait_for_function(f"() => sessionStorage.getItem('{STORED}') === null")
    gone = storage(page)
    assert gone["session"] is None and gone["local"] == 0
    assert gone["jkt"] != old["jkt"]  # the next login binds its token to a new key
    reload(docs)
    assert not logged_in(docs, "authorization_code")
    assert docs.try_route(SCOPED)[0] == 401


def test_the_tokens_expiry_clears_it(docs_server, page):
    issuer = docs_server.app.extensions["local_issuer"]
    docs = DocsPage(page, docs_server.url).open()
    key_before = storage(page)["jkt"]
    form = docs.scheme("bearer")
    form.locator("input").first.fill(issuer.mint(subject="browser", scopes=issuer.scopes, expires_in=3))
    docs.authorize(form)
    docs.wait_authorized(form)
    assert storage(page)["session"]
    time.sleep(3.5)
    page.wait_for_function(f"() => sessionStorage.getItem('{STORED}') === null", timeout=5_000)
    assert form.locator("button", has_text="Logout").count() == 0  # logged out at the token's expiry
    left = storage(page)
    assert left["local"] == 0 and left["jkt"] != key_before
    docs.close_dialog()
    reload(docs)
    assert not logged_in(docs, "bearer")
    assert docs.try_route(SCOPED)[0] == 401


def test_the_token_is_the_tabs_only(docs_server, page):
    docs = DocsPage(page, docs_server.url).open()
    code_login(docs)
    other = DocsPage(page.context.new_page(), docs_server.url).open()
    other.page.wait_for_function("() => window.ui && window.ui.specSelectors.securityDefinitions()")
    assert other.page.evaluate(f"() => sessionStorage.getItem('{STORED}')") is None
    assert not logged_in(other, "authorization_code")
    assert logged_in(docs, "authorization_code")
