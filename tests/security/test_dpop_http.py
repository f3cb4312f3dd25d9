"""DPoP on the protected routes, over real HTTP: an independent client (requests-oauth2client) with bound
tokens, nonces, the three AUTH_DPOP modes and their challenges, the URL behind a proxy, and hostile
requests, each refused with the right status and error (RFC 9449 §7.1, §9) and never a 500."""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
import requests
from requests_oauth2client import DPoPToken

from security.dpop import DEFAULT_ALGORITHMS, MADE_BEFORE_RECORDS, UNCHECKED_CONFIRMATION, access_token_hash
from security.nonce import DPoPNonces
from tests.support.documents import opened_as_they_are, operations
from tests.support.dpop_proofs import Proofs, independent_key
from tests.support.live_server import live
from tests.support.processes import free_port
from tests.support.timing import run_together
from tests.support.tokens import ec_key

ALGS = f'algs="{" ".join(DEFAULT_ALGORITHMS)}"'
BEARER = 'Bearer realm="api"'
DPOP = f"DPoP {ALGS}"
NONCE_SECRET = "a-nonce-secret-shared-by-the-tests-0123456789"
PRIVATE = "/api/private"


def metadata(server) -> str:
    """The resource_metadata parameter that ends each scheme's challenge (RFC 9728 §5.1)."""
    return f'resource_metadata="{server.url}/.well-known/oauth-protected-resource"'


@pytest.fixture
def dpop_server(make_app):
    """Serves the app with these settings (env variable names); AUTH_DPOP is `allowed` unless given."""
    servers = []

    def serve(**settings):
        server = live(make_app(**settings))
        servers.append(server)
        return server.__enter__()

    yield serve
    for server in servers:
        server.__exit__(None, None, None)


@pytest.fixture
def server(dpop_server):
    return dpop_server()


@pytest.fixture
def client_key() -> Proofs:
    """A client's DPoP key in our own proof builder, which can change or drop any field of a proof."""
    return Proofs()


def jkt(proofs: Proofs) -> str:
    return proofs.key.thumbprint()


def proof(proofs: Proofs, url: str, token: str, method: str = "GET", **claims) -> str:
    return proofs.make(htm=method, htu=url, ath=access_token_hash(token), **claims)


def call(url: str, token: str, dpop: str | None = None, scheme: str = "DPoP", method: str = "GET", **headers):
    headers["Authorization"] = f"{scheme} {token}"
    if dpop is not None:
        headers["DPoP"] = dpop
    return requests.request(method, url, headers=headers, timeout=10)


def refused(response, status: int, error: str, challenge: str) -> dict:
    """The refusal's status and JSON error, and its challenge, which starts with ``challenge``: the
    scheme the client used, carrying the error."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "error_description"} and body["error"] == error, body
    params = f'error="{error}", error_description="'
    expected = f'{BEARER}, {params}' if challenge == "Bearer" else f"{challenge} {params}"
    assert response.headers["WWW-Authenticate"].startswith(expected), response.headers["WWW-Authenticate"]
    assert response.headers["Cache-Control"] == "no-store"
    return body


def nonces(seconds_ago: float = 0) -> DPoPNonces:
    """The API's nonces (same secret), as they were ``seconds_ago``."""
    return DPoPNonces(NONCE_SECRET, clock=lambda: time.time() - seconds_ago)


# -- an independent client -----------------------------------------------------------------------------

@pytest.mark.parametrize("nonce", ["off", "on"])
@pytest.mark.parametrize("alg", ["ES256", "PS256", "EdDSA", "RS256"])
def test_requests_oauth2client_calls_every_protected_route(dpop_server, http, tokens, caplog, nonce, alg):
    server = dpop_server(AUTH_DPOP_NONCE=nonce, AUTH_DPOP_NONCE_SECRET=NONCE_SECRET)
    key = independent_key(alg)
    token = DPoPToken(tokens.make(jkt=key.dpop_jkt, scope="read:messages"), _dpop_key=key)
    protected = [o for o in operations(http.get(server.url + "/swagger.json").json())
                 if not o.public and opened_as_they_are(o, {"read:messages"})]
    assert protected
    with caplog.at_level("INFO", logger="security.refused"):
        for operation in protected * 2:  # twice: the second time the token comes from the cache
            response = requests.request(operation.method, server.url + operation.path, auth=token, timeout=10)
            assert response.status_code == 200, (operation, response.text)
            assert response.headers["Cache-Control"] == "no-store"
            assert "DPoP-Nonce" not in response.headers  # the client's nonce is the current one
    refusals = [record.getMessage() for record in caplog.records if record.name == "security.refused"]
    if nonce == "on":  # one use_dpop_nonce round trip (the client retries on its own), then none
        assert len(refusals) == 1 and "status=401 reason=use_dpop_nonce" in refusals[0]
        assert key.rs_nonce == nonces().current()
    else:
        assert refusals == [] and key.rs_nonce is None


def test_the_next_nonce_rides_on_a_successful_answer(dpop_server, tokens, client_key):
    """A nonce of the previous time step is still accepted, and the answer hands over the current one."""
    server = dpop_server(AUTH_DPOP_NONCE="on", AUTH_DPOP_NONCE_SECRET=NONCE_SECRET)
    token, url = tokens.make(jkt=jkt(client_key)), server.url + PRIVATE
    previous = nonces(seconds_ago=nonces().step).current()
    response = call(url, token, proof(client_key, url, token, nonce=previous))
    assert response.status_code == 200
    assert response.headers["DPoP-Nonce"] == nonces().current()
    current = call(url, token, proof(client_key, url, token, nonce=nonces().current()))
    assert current.status_code == 200 and "DPoP-Nonce" not in current.headers


@pytest.mark.parametrize("case, description", [
    ("missing", "The DPoP proof lacks a nonce. Use the one in the DPoP-Nonce header."),
    ("expired", "The DPoP proof's nonce is not valid. Use the one in the DPoP-Nonce header."),
    ("made up", "The DPoP proof's nonce is not valid. Use the one in the DPoP-Nonce header."),
])
def test_a_proof_without_a_current_nonce_gets_use_dpop_nonce(dpop_server, tokens, client_key, case, description):
    server = dpop_server(AUTH_DPOP_NONCE="on", AUTH_DPOP_NONCE_SECRET=NONCE_SECRET)
    nonce = {"missing": None, "expired": nonces(seconds_ago=2 * nonces().step).current(), "made up": "x" * 24}[case]
    token, url = tokens.make(jkt=jkt(client_key)), server.url + PRIVATE
    response = call(url, token, proof(client_key, url, token, nonce=nonce))
    refused(response, 401, "use_dpop_nonce", "DPoP")
    assert response.headers["WWW-Authenticate"] == (
        f'DPoP error="use_dpop_nonce", error_description="{description}", {ALGS}, {metadata(server)}, '
        f'{BEARER}, {metadata(server)}')
    assert response.headers["DPoP-Nonce"] == nonces().current()


# -- modes and challenges --------------------------------------------------------------------------------

@pytest.mark.parametrize("mode, schemes", [("off", [BEARER]), ("allowed", [BEARER, DPOP]), ("required", [DPOP])])
def test_the_challenge_names_the_schemes_each_mode_takes(dpop_server, tokens, client_key, mode, schemes):
    server = dpop_server(AUTH_DPOP=mode)
    url = server.url + PRIVATE
    anonymous = requests.get(url, timeout=10)
    assert (anonymous.status_code, anonymous.json()["error"]) == (401, "unauthorized")
    assert anonymous.headers["WWW-Authenticate"] == ", ".join(f"{scheme}, {metadata(server)}" for scheme in schemes)
    bearer, bound = tokens.make(), tokens.make(jkt=jkt(client_key))
    assert call(url, bearer, scheme="Bearer").status_code == (401 if mode == "required" else 200)
    assert call(url, bound, proof(client_key, url, bound)).status_code == (401 if mode == "off" else 200)
    expired = tokens.make(exp=1, jkt=jkt(client_key))
    answer = call(url, expired, proof(client_key, url, expired))
    if mode == "off":  # the DPoP scheme is not taken: no usable credentials
        assert (answer.status_code, answer.headers["WWW-Authenticate"]) == (401, f"{BEARER}, {metadata(server)}")
    else:  # the error on the DPoP challenge, the other scheme bare
        refused(answer, 401, "invalid_token", "DPoP")
        bare_bearer = f", {BEARER}, {metadata(server)}" if mode == "allowed" else ""
        assert answer.headers["WWW-Authenticate"].endswith(f"{ALGS}, {metadata(server)}{bare_bearer}")


def test_a_missing_scope_is_refused_on_the_scheme_used(server, tokens, client_key):
    token, url = tokens.make(jkt=jkt(client_key)), server.url + "/api/private-scoped"
    response = call(url, token, proof(client_key, url, token))
    refused(response, 403, "insufficient_scope", "DPoP")
    assert response.headers["WWW-Authenticate"].endswith(
        f', scope="read:messages", {ALGS}, {metadata(server)}, {BEARER}, {metadata(server)}')


def test_cors_lets_browsers_send_proofs_and_read_nonces(dpop_server, http):
    origin = "https://app.example.com"
    server = dpop_server(CORS_ORIGINS=origin, AUTH_DPOP_NONCE="on")
    preflight = http.options(server.url + PRIVATE, headers={
        "Origin": origin, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization,dpop"})
    assert "dpop" in preflight.headers["Access-Control-Allow-Headers"].lower()
    answer = http.get(server.url + PRIVATE, headers={"Origin": origin})
    assert "dpop-nonce" in answer.headers["Access-Control-Expose-Headers"].lower()


# -- the URL the proof must name ------------------------------------------------------------------------

def test_htu_is_the_url_as_it_reached_us_behind_a_trusted_proxy(dpop_server, tokens, client_key):
    server = dpop_server(TRUSTED_PROXIES="1", TRUSTED_PROXY_HEADERS="host")
    token, url = tokens.make(jkt=jkt(client_key)), server.url + PRIVATE
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "api.example", "X-Forwarded-For": "203.0.113.9"}
    public_url = "https://api.example" + PRIVATE
    assert call(url, token, proof(client_key, public_url, token), **forwarded).status_code == 200
    refused(call(url, token, proof(client_key, url, token), **forwarded), 400, "invalid_dpop_proof", "DPoP")


def test_forwarded_headers_count_for_nothing_without_a_trusted_proxy(server, tokens, client_key):
    token, url = tokens.make(jkt=jkt(client_key)), server.url + PRIVATE
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "api.example"}
    refused(call(url, token, proof(client_key, "https://api.example" + PRIVATE, token), **forwarded),
            400, "invalid_dpop_proof", "DPoP")
    assert call(url, token, proof(client_key, url, token), **forwarded).status_code == 200


# -- hostile requests -----------------------------------------------------------------------------------

def raw(url: str, headers: list[tuple[str, str]]) -> tuple[int, dict, str]:
    """A GET with exactly these header lines (two DPoP lines included), through http.client."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.putrequest("GET", parts.path)
        for name, value in headers:
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        connection.close()


def test_two_dpop_headers_are_refused(server, tokens, client_key):
    token, url = tokens.make(jkt=jkt(client_key)), server.url + PRIVATE
    good = proof(client_key, url, token)
    status, headers, body = raw(url, [("Authorization", f"DPoP {token}"), ("DPoP", good),
                                      ("DPoP", proof(client_key, url, token))])
    assert (status, json.loads(body)["error"]) == (400, "invalid_dpop_proof")
    assert headers["WWW-Authenticate"].startswith('DPoP error="invalid_dpop_proof"')
    assert call(url, token, good).status_code == 200  # refused before its jti was used up


@dataclass
class Sender:
    """What a hostile case starts from: the client's key, the live URL, and tokens of the test's provider."""

    key: Proofs
    url: str
    bound: str  # bound to ``key``
    unbound: str
    other: str  # bound to another key

    def proof(self, token: str | None = None, url: str | None = None, **claims) -> str:
        return proof(self.key, url or self.url, token or self.bound, **claims)


HOSTILE = {  # what is sent (token, DPoP header, scheme), and the refusal: status, error, scheme of the challenge
    "a comma in the DPoP header": (lambda s: dict(token=s.bound, dpop=f"{s.proof()},{s.proof()}"),
                                   400, "invalid_dpop_proof", "DPoP"),
    "no DPoP header with the DPoP scheme": (lambda s: dict(token=s.bound), 400, "invalid_request", "DPoP"),
    "an empty DPoP header": (lambda s: dict(token=s.bound, dpop=""), 400, "invalid_dpop_proof", "DPoP"),
    "a proof with the Bearer scheme": (lambda s: dict(token=s.unbound, dpop=s.proof(s.unbound), scheme="Bearer"),
                                       400, "invalid_request", "Bearer"),
    "a bound token as Bearer": (lambda s: dict(token=s.bound, scheme="Bearer"), 401, "invalid_token", "Bearer"),
    "an unbound token as DPoP": (lambda s: dict(token=s.unbound, dpop=s.proof(s.unbound)),
                                 401, "invalid_token", "DPoP"),
    "a token bound to another key": (lambda s: dict(token=s.other, dpop=s.proof(s.other)),
                                     401, "invalid_token", "DPoP"),
    "htu another route": (lambda s: dict(token=s.bound, dpop=s.proof(url=s.url + "-scoped")),
                          400, "invalid_dpop_proof", "DPoP"),
    "htu https for an http request": (lambda s: dict(token=s.bound, dpop=s.proof(url=s.url.replace("http:", "https:"))),
                                      400, "invalid_dpop_proof", "DPoP"),
    "htu another host": (lambda s: dict(token=s.bound, dpop=s.proof(url=s.url.replace("127.0.0.1", "localhost"))),
                         400, "invalid_dpop_proof", "DPoP"),
    "htu with a query smuggled in": (lambda s: dict(token=s.bound, dpop=s.proof(url=s.url + "?admin=1")),
                                     400, "invalid_dpop_proof", "DPoP"),
    "htm POST for a GET": (lambda s: dict(token=s.bound, dpop=proof(s.key, s.url, s.bound, method="POST")),
                           400, "invalid_dpop_proof", "DPoP"),
    "ath of another token": (lambda s: dict(token=s.bound, dpop=s.key.make(htu=s.url, ath=access_token_hash(s.other))),
                             400, "invalid_dpop_proof", "DPoP"),
    "no ath": (lambda s: dict(token=s.bound, dpop=s.key.make(htu=s.url, ath=None)), 400, "invalid_dpop_proof", "DPoP"),
    "an old proof": (lambda s: dict(token=s.bound, dpop=s.proof(iat=int(time.time()) - 400)),
                     400, "invalid_dpop_proof", "DPoP"),
    "a proof from the future": (lambda s: dict(token=s.bound, dpop=s.proof(iat=int(time.time()) + 60)),
                                400, "invalid_dpop_proof", "DPoP"),
    "signed by another key": (lambda s: dict(token=s.bound, dpop=s.key.make(
        htu=s.url, ath=access_token_hash(s.bound), key=ec_key())), 400, "invalid_dpop_proof", "DPoP"),
    "typ JWT": (lambda s: dict(token=s.bound, dpop=s.key.make(htu=s.url, ath=access_token_hash(s.bound),
                                                            header={"typ": "JWT"})), 400, "invalid_dpop_proof", "DPoP"),
    "an oversized proof": (lambda s: dict(token=s.bound, dpop=s.proof(padding="x" * 5000)),
                           400, "invalid_dpop_proof", "DPoP"),
    "the access token as its own proof": (lambda s: dict(token=s.bound, dpop=s.bound), 400, "invalid_dpop_proof",
                                          "DPoP"),
    "a DPoP token that is no JWT": (lambda s: dict(token="not.a.jwt", dpop=s.proof("not.a.jwt")),
                                    401, "invalid_token", "DPoP"),
}


@pytest.mark.parametrize("token_cache", ["cold", "warm"])
@pytest.mark.parametrize("build, status, error, scheme", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_requests_are_refused(server, tokens, client_key, build, status, error, scheme, token_cache):
    """Cold: the tokens are new, so the protector's full path answers. Warm: the verified-token cache holds
    them, so the short path answers (security/protector.py), with the same refusal."""
    sender = Sender(client_key, server.url + PRIVATE, tokens.make(jkt=jkt(client_key)), tokens.make(),
                    tokens.make(jkt=jkt(Proofs())))
    if token_cache == "warm":
        validator = server.app.extensions["access_token_validator"]
        for token in (sender.bound, sender.unbound, sender.other):
            validator.authenticate_token(token)
            assert validator.cached(token) is not None
    response = call(sender.url, **build(sender))
    refused(response, status, error, scheme)


CERTIFICATE = "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"  # a cnf.x5t#S256: a client certificate's SHA-256
MALFORMED_CNF = "The access token's cnf claim is malformed."
CNF_REFUSALS = {  # a token's cnf (given the client's jkt), and the refusal's description
    "bound to a certificate (mTLS, RFC 8705)": (lambda jkt: {"x5t#S256": CERTIFICATE}, UNCHECKED_CONFIRMATION),
    "bound to the key and a certificate": (lambda jkt: {"jkt": jkt, "x5t#S256": CERTIFICATE}, UNCHECKED_CONFIRMATION),
    "bound to a jwk": (lambda jkt: {"jwk": {"kty": "EC", "crv": "P-256"}}, UNCHECKED_CONFIRMATION),
    "an empty cnf": (lambda jkt: {}, "The access token's cnf claim names no confirmation method."),
    "a string": (lambda jkt: jkt, MALFORMED_CNF),
    "a list": (lambda jkt: [jkt], MALFORMED_CNF),
    "a number": (lambda jkt: 42, MALFORMED_CNF),
    "null": (lambda jkt: None, MALFORMED_CNF),
}


@pytest.mark.parametrize("token_cache", ["cold", "warm"])
@pytest.mark.parametrize("mode, scheme", [("allowed", "DPoP"), ("allowed", "Bearer"), ("off", "Bearer")])
@pytest.mark.parametrize("cnf, description", CNF_REFUSALS.values(), ids=CNF_REFUSALS.keys())
def test_a_cnf_this_api_cannot_check_is_refused(dpop_server, tokens, client_key, cnf, description, mode, scheme,
                                                token_cache):
    """A token bound in a way this API cannot check is never taken as a Bearer token, nor as a DPoP one;
    with the token in the verified-token cache (warm: the short path), the answer is the same."""
    server = dpop_server(AUTH_DPOP=mode)
    claims = {**tokens.claims(), "cnf": cnf(jkt(client_key))}
    token, url = tokens.raw({"kid": "key-1", "typ": "JWT"}, json.dumps(claims)), server.url + PRIVATE
    if token_cache == "warm":
        validator = server.app.extensions["access_token_validator"]
        validator.authenticate_token(token)
        assert validator.cached(token) is not None
    dpop = proof(client_key, url, token) if scheme == "DPoP" else None
    body = refused(call(url, token, dpop, scheme=scheme), 401, "invalid_token", scheme)
    assert body["error_description"] == description


def test_a_replayed_proof_is_refused_even_for_a_cached_token(server, tokens, client_key):
    """The proof is checked on every request: the token's cache entry is no way around it."""
    token, url = tokens.make(jkt=jkt(client_key)), server.url + PRIVATE
    first = proof(client_key, url, token)
    assert call(url, token, first).status_code == 200  # the token is now in the verified-token cache
    assert server.app.extensions["access_token_validator"].cached(token) is not None
    body = refused(call(url, token, first), 400, "invalid_dpop_proof", "DPoP")
    assert body["error_description"] == "The DPoP proof was already used (jti)."
    assert call(url, token, proof(client_key, url, token)).status_code == 200


def test_a_proof_made_before_the_api_started_is_refused(server, tokens, client_key):
    """A process remembers the proofs accepted since it started: one made earlier may have been accepted by
    the process before it, so it is refused with a description saying why, and a new proof passes."""
    token, url = tokens.make(jkt=jkt(client_key)), server.url + PRIVATE
    made_before = proof(client_key, url, token, iat=int(time.time()) - 30)
    body = refused(call(url, token, made_before), 400, "invalid_dpop_proof", "DPoP")
    assert body["error_description"] == MADE_BEFORE_RECORDS
    assert call(url, token, proof(client_key, url, token)).status_code == 200


def test_the_same_proof_raced_from_several_threads_is_accepted_once(server, tokens, client_key):
    token, url = tokens.make(jkt=jkt(client_key)), server.url + PRIVATE
    assert call(url, token, proof(client_key, url, token)).status_code == 200  # warm: token cached, key known
    raced = proof(client_key, url, token)
    statuses = run_together(8, lambda _: call(url, token, raced).status_code, timeout=20)
    assert sorted(statuses) == [200] + [400] * 7


def test_a_proof_alone_is_no_credential(server, client_key):
    response = requests.get(server.url + PRIVATE, headers={"DPoP": client_key.make()}, timeout=10)
    assert (response.status_code, response.json()["error"]) == (401, "unauthorized")


def test_a_bound_token_is_never_accepted_as_bearer_in_any_mode(dpop_server, tokens, client_key):
    bound = tokens.make(jkt=jkt(client_key))
    for mode, error in (("off", "invalid_token"), ("allowed", "invalid_token"), ("required", "unauthorized")):
        server = dpop_server(AUTH_DPOP=mode)
        for _ in range(2):  # and not from the cache either, once a DPoP request has put it there
            response = call(server.url + PRIVATE, bound, scheme="Bearer")
            assert (response.status_code, response.json()["error"]) == (401, error), mode
            if mode != "off":
                assert call(server.url + PRIVATE, bound, proof(client_key, server.url + PRIVATE, bound)).ok


def test_an_unreachable_replay_store_fails_closed(dpop_server, tokens, client_key):
    server = dpop_server(AUTH_DPOP_REPLAY_URL=f"redis://127.0.0.1:{free_port()}/0")
    token, url = tokens.make(jkt=jkt(client_key)), server.url + PRIVATE
    response = call(url, token, proof(client_key, url, token))
    assert response.status_code == 503
    assert response.json() == {"error": "temporarily_unavailable",
                               "error_description": "The DPoP replay check is unavailable; retry shortly."}
    assert int(response.headers["Retry-After"]) > 0
    assert call(url, tokens.make(), scheme="Bearer").status_code == 200  # Bearer needs no replay store


def test_refusals_are_logged_without_proof_or_token(server, tokens, client_key, caplog):
    token, url = tokens.make(jkt=jkt(client_key)), server.url + PRIVATE
    replayed = proof(client_key, url, token)
    with caplog.at_level("INFO", logger="security"):
        call(url, token, replayed)
        call(url, token, replayed)
    lines = [r.getMessage() for r in caplog.records if r.name == "security.refused"]
    assert lines == [f'auth refused route="{PRIVATE}" status=400 reason=invalid_dpop_proof kid="key-1" '
                     f'iss="{tokens.issuer}" actor=-']
    for part in replayed.split(".") + token.split("."):
        assert all(part not in r.getMessage() for r in caplog.records)
