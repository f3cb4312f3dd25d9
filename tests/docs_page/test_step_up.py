"""Step-up (RFC 9470) in Swagger UI, in a real Chromium: a moderator's deletion refused 401
insufficient_user_authentication shows what the API asks of a new login and a button; the login it starts asks the
local issuer for the challenge's acr_values and max_age with prompt=login (PKCE and DPoP as every page login), and
the refused call is sent again with the new token."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc import jwt

from security.step_up import MFA_ACR
from tests.support.browser import DocsPage
from tests.support.live_server import live_on_own_port

pytestmark = pytest.mark.browser

MESSAGES = "/api/messages"
ITEM = "/api/messages/{message_id}"
STEP_UP = {"AUTH_STEP_UP_ACR": f"{MFA_ACR},phr", "AUTH_STEP_UP_MAX_AGE": "300"}


def moderator_logged_in(page, url: str) -> DocsPage:
    """The local issuer's code login with delete:messages, as a moderator logs in from the page."""
    docs = DocsPage(page, url).open()
    form = docs.scheme("authorization_code")
    docs.tick_scope(form, "delete:messages")
    with page.expect_popup():
        docs.authorize(form)
    docs.wait_authorized(form)
    docs.close_dialog()
    return docs


def alices_message(http, server) -> str:
    issuer = server.app.extensions["local_issuer"]
    alice = issuer.mint(subject="alice", scopes=["write:messages"])
    posted = http.post(server.url + MESSAGES, json={"text": "Alice's"}, headers={"Authorization": f"Bearer {alice}"})
    assert posted.status_code == 201, posted.text
    return posted.json()["id"]


def test_a_step_up_refusal_offers_a_stronger_login_then_retries(make_local_app, page, http, screenshots):
    with live_on_own_port(lambda port: make_local_app(port, **STEP_UP)) as server:
        issuer = server.app.extensions["local_issuer"]
        sent: list = []  # the local issuer approves at once: its popup is gone before a test could read its URL
        page.context.on("request", lambda request: sent.append(request) if request.method != "OPTIONS" else None)
        message_id = alices_message(http, server)
        docs = moderator_logged_in(page, server.url)

        status, shown, headers = docs.execute(ITEM, "delete", parameters={"message_id": message_id})
        assert status == 401 and "insufficient_user_authentication" in headers["www-authenticate"], shown
        block = docs.trying(ITEM, "delete")
        offer = block.locator(".step-up-offer")
        assert f"{MFA_ACR} phr" in offer.inner_text() and "300 seconds" in offer.inner_text()
        screenshots.append(docs.screenshot("docs-step-up-offer", of=block.locator("div:has(> .step-up-offer)")))

        logins_before = len([r for r in sent if urlsplit(r.url).path == "/authorize"])
        with page.expect_popup():
            offer.locator("button", has_text="Log in again (stronger login)").click()
        block.locator(".live-responses-table tbody .response-col_status", has_text="204").wait_for()
        assert block.locator(".step-up-offer").count() == 0

        authorizes = [r for r in sent if urlsplit(r.url).path == "/authorize"]
        assert len(authorizes) == logins_before + 1
        asked = {k: v[0] for k, v in parse_qs(urlsplit(authorizes[-1].url).query).items()}
        assert (asked["acr_values"], asked["max_age"], asked["prompt"]) == (f"{MFA_ACR} phr", "300", "login")
        assert (asked["response_type"], asked["code_challenge_method"]) == ("code", "S256")
        assert asked["scope"] == "delete:messages"  # the moderator's login, asked again

        token_request = [r for r in sent if urlsplit(r.url).path == "/oauth/token"][-1]
        assert "dpop" in token_request.all_headers()  # bound to the page's key, as every login of the page
        token = token_request.response().json()["access_token"]
        claims = jwt.decode(token, issuer.key).claims
        assert claims["acr"] == MFA_ACR and time.time() - claims["auth_time"] < 60

        deletes = [r for r in sent if r.method == "DELETE" and message_id in r.url]
        assert [r.response().status for r in deletes] == [401, 204]  # the refused call, sent again once
        assert deletes[-1].all_headers()["authorization"] == f"DPoP {token}"
        assert http.get(f"{server.url}{MESSAGES}/{message_id}", headers={
            "Authorization": f"Bearer {issuer.mint(subject='alice', scopes=['read:messages'])}"}).status_code == 404
