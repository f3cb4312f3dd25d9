"""DPoP in Swagger UI, in a real Chromium: the page's own WebCrypto key binds the logins' tokens (the local
issuer's and a provider's), every call carries a fresh proof, and a pasted bound token gets a clear note."""

from __future__ import annotations

import base64
import json

import pytest
from joserfc import jwt

from security.dpop import DPoPVerifier
from security.replay import MemoryReplayStore
from tests.support.browser import DocsPage, serve_provider_login
from tests.support.live_server import live, live_on_own_port
from tests.support.tokens import ec_key

pytestmark = pytest.mark.browser

SCOPED = "/api/private-scoped"


@pytest.fixture(scope="module")
def docs_server(module_local_server):
    return module_local_server


class Traffic:
    """The page's requests to the token endpoint and the API, with the headers the browser really sent."""

    def __init__(self, page):
        self.requests = []
        page.on("request", lambda request: self.requests.append(request))

    def to(self, path: str) -> list:
        return [r for r in self.requests if path in r.url and r.method != "OPTIONS"]

    @staticmethod
    def headers(request) -> dict[str, str]:
        return request.all_headers()


def verified(proof: str, request, **expected):
    """The API's own check of a proof the page sent (a verifier of its own, so the API's use of it does not count,
    whose records go back before the proof)."""
    verifier = DPoPVerifier(replay_store=MemoryReplayStore(since=0))
    return verifier.verify(proof, method=request.method, url=request.url, **expected)


def proof_claims(proof: str) -> dict:
    payload = proof.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def log_in(docs: DocsPage, flow: str) -> None:
    form = docs.scheme(flow)
    docs.tick_scope(form, "read:messages")
    docs.authorize(form)
    docs.wait_authorized(form)
    docs.close_dialog()


def assert_bound_calls(traffic: Traffic, token_endpoint: str, decode) -> str:
    """The token request carried a proof for itself; the token came back bound to that proof's key; each API call
    sent it with the DPoP scheme and a fresh proof of the same key, with its hash. Returns the key's thumbprint."""
    (token_request,) = traffic.to(token_endpoint)
    jkt = verified(traffic.headers(token_request)["dpop"], token_request).jkt
    answer = token_request.response().json()
    assert answer["token_type"] == "DPoP"
    assert decode(answer["access_token"])["cnf"] == {"jkt": jkt}
    calls = traffic.to(SCOPED)
    assert calls
    proofs = set()
    for call in calls:
        headers = traffic.headers(call)
        assert headers["authorization"] == f"DPoP {answer['access_token']}"
        verified(headers["dpop"], call, access_token=answer["access_token"], bound_to=jkt)
        proofs.add(headers["dpop"])
    assert len(proofs) == len(calls)  # a new proof every time
    return jkt


@pytest.mark.parametrize("flow", ["client_credentials", "authorization_code"])
def test_the_local_logins_bind_the_token_to_the_pages_key(docs_server, page, flow):
    issuer = docs_server.app.extensions["local_issuer"]
    traffic = Traffic(page)
    docs = DocsPage(page, docs_server.url).open()
    log_in(docs, flow)
    assert [docs.try_route(SCOPED)[0] for _ in range(2)] == [200, 200]
    assert_bound_calls(traffic, "/oauth/token", lambda token: jwt.decode(token, issuer.key).claims)


@pytest.mark.parametrize("flow", ["authorization_code", "client_credentials"])
@pytest.mark.parametrize("nonce", ["off", "on"])
def test_with_dpop_required_each_login_reaches_the_scoped_route(make_local_app, page, screenshots, flow, nonce):
    """AUTH_DPOP=required: only DPoP tokens are taken. With AUTH_DPOP_NONCE=on the first call is refused with
    use_dpop_nonce and retried once by the page with the nonce: the user sees the 200 at once."""
    with live_on_own_port(lambda port: make_local_app(port, AUTH_DPOP="required", AUTH_DPOP_NONCE=nonce)) as server:
        traffic = Traffic(page)
        docs = DocsPage(page, server.url).open()
        log_in(docs, flow)
        status, body = docs.try_route(SCOPED)
        assert status == 200, body
        statuses = [call.response().status for call in traffic.to(SCOPED)]
        assert statuses == ([401, 200] if nonce == "on" else [200])
        if nonce == "on":
            first, retried = traffic.to(SCOPED)
            assert "use_dpop_nonce" in first.response().headers["www-authenticate"]
            assert proof_claims(traffic.headers(retried)["dpop"])["nonce"] == first.response().headers["dpop-nonce"]
        if flow == "authorization_code" and nonce == "off":
            screenshots.append(docs.screenshot("docs-authorized-dpop"))


def test_the_pages_key_cannot_be_exported(docs_server, page):
    DocsPage(page, docs_server.url).open()
    facts = page.evaluate("""async () => {
        const key = await window.dpopSigner.key;
        const exported = await crypto.subtle.exportKey("jwk", key.privateKey).then(() => true, () => false);
        return {extractable: key.privateKey.extractable, exported, algorithm: key.privateKey.algorithm, jwk: key.jwk};
    }""")
    assert facts["extractable"] is False and facts["exported"] is False
    assert facts["algorithm"] == {"name": "ECDSA", "namedCurve": "P-256"}
    assert sorted(facts["jwk"]) == ["crv", "kty", "x", "y"]  # the proofs' jwk: the public key only


def test_a_provider_login_binds_the_token_to_the_pages_key(provider, tokens, make_app, page):
    """As with Auth0: the code exchange at the provider's token endpoint (another origin) carries the proof,
    and the provider answers with a token bound to its key."""

    def bound_token(request):
        jkt = verified(request.headers["DPoP"], request).jkt
        return {"access_token": tokens.make(scope="read:messages", cnf={"jkt": jkt}), "token_type": "DPoP",
                "expires_in": 3600}

    serve_provider_login(provider, bound_token)
    with live(make_app(SWAGGER_UI_OAUTH_CLIENT_ID="spa-client-1")) as server:
        traffic = Traffic(page)
        docs = DocsPage(page, server.url).open()
        log_in(docs, "authorization_code")
        assert docs.try_route(SCOPED)[0] == 200
        assert_bound_calls(traffic, "/oauth/token", lambda token: jwt.decode(token, tokens.key).claims)


def test_a_pasted_bound_token_gets_a_note(docs_server, page):
    issuer = docs_server.app.extensions["local_issuer"]
    docs = DocsPage(page, docs_server.url).open()
    note = page.locator("#dpop-note")
    field = docs.scheme("bearer").locator("input").first
    field.fill(issuer.mint(subject="browser", scopes=issuer.scopes))
    assert note.is_hidden()  # an unbound token works as Bearer: nothing to say
    field.fill(issuer.mint(subject="browser", scopes=issuer.scopes, jkt=ec_key().thumbprint()))
    note.wait_for()
    assert "DPoP-bound" in note.inner_text() and "does not hold" in note.inner_text()
    field.fill("")
    assert note.is_hidden()


@pytest.mark.parametrize("scheme", ["Bearer", "DPoP"])
def test_a_pasted_bound_token_gets_the_note_when_sent(docs_server, page, scheme):
    """Pasted with a scheme, the token goes to the API, which refuses it: as Bearer (no downgrade), or as DPoP
    with a proof of the page's key, not the one it is bound to. The page says why it cannot work."""
    issuer = docs_server.app.extensions["local_issuer"]
    docs = DocsPage(page, docs_server.url).open()
    form = docs.scheme("bearer")
    token = issuer.mint(subject="b", scopes=issuer.scopes, jkt=ec_key().thumbprint())
    form.locator("input").first.fill(f"{scheme} {token}")
    docs.authorize(form)
    docs.close_dialog()
    page.evaluate("() => { document.getElementById('dpop-note').hidden = true; }")  # shown by the paste already
    status, _ = docs.try_route(SCOPED)
    assert status == 401
    assert page.locator("#dpop-note").is_visible()


def test_with_dpop_off_the_page_signs_nothing(make_local_app, page):
    """AUTH_DPOP=off: the API takes Bearer tokens only, so the login's token request carries no proof."""
    with live_on_own_port(lambda port: make_local_app(port, AUTH_DPOP="off")) as server:
        traffic = Traffic(page)
        docs = DocsPage(page, server.url).open()
        log_in(docs, "client_credentials")
        assert docs.try_route(SCOPED)[0] == 200
        (token_request,) = traffic.to("/oauth/token")
        assert "dpop" not in traffic.headers(token_request)
        assert token_request.response().json()["token_type"] == "Bearer"
        (call,) = traffic.to(SCOPED)
        assert traffic.headers(call)["authorization"].startswith("Bearer ") and "dpop" not in traffic.headers(call)


def test_with_dpop_required_a_bound_token_pasted_in_the_dpop_field_gets_the_note(make_local_app, page):
    with live_on_own_port(lambda port: make_local_app(port, AUTH_DPOP="required")) as server:
        issuer = server.app.extensions["local_issuer"]
        docs = DocsPage(page, server.url).open()
        field = docs.scheme("dpop").locator("input").first
        field.fill("DPoP " + issuer.mint(subject="b", scopes=issuer.scopes, jkt=ec_key().thumbprint()))
        page.locator("#dpop-note").wait_for()
        assert "does not hold" in page.locator("#dpop-note").inner_text()
