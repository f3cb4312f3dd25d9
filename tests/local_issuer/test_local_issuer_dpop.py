"""DPoP at the local issuer's token endpoint (RFC 9449 §5): a proof binds the token to its key; a bad
proof gets 400 invalid_dpop_proof in the token endpoint's JSON error shape, never a token, never a 500."""

from __future__ import annotations

import hashlib
import hmac
import time
from http.client import HTTPConnection
from urllib.parse import urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from security.dpop import DEFAULT_ALGORITHMS, MAX_PROOF_LENGTH
from tests.support.dpop_proofs import Proofs
from tests.support.live_server import live_on_own_port
from tests.support.oauth import client_of, exchange, get_code
from tests.support.tokens import b64url, ec_key


@pytest.fixture(scope="module")
def local_server(module_local_server):
    return module_local_server


@pytest.fixture
def token_url(local_server) -> str:
    return local_server.url + "/oauth/token"


@pytest.fixture
def proofs() -> Proofs:
    return Proofs()


def token_proof(proofs: Proofs, url: str, **changes) -> str:
    """A proof for a token request, as RFC 9449 §5 has it: htm POST, htu the token endpoint, no ath."""
    return proofs.make(**{"htm": "POST", "htu": url, "ath": None, **changes})


def client_credentials(http, server, headers=None, **fields):
    client = client_of(server)
    data = {"grant_type": "client_credentials", "scope": "read:messages", **fields}
    return http.post(server.url + "/oauth/token", data=data, auth=(client.client_id, client.client_secret),
                     headers=headers or {})


def claims_of(server, token: str) -> dict:
    return jwt.decode(token, server.app.extensions["local_issuer"].key).claims


def assert_bound(server, response, jkt: str) -> None:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "DPoP"
    assert body["expires_in"] == 3600
    assert response.headers["Cache-Control"] == "no-store"
    assert claims_of(server, body["access_token"])["cnf"] == {"jkt": jkt}


def assert_refused(response, error="invalid_dpop_proof", status=400) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "error_description"}, body
    assert body["error"] == error
    assert response.headers["Cache-Control"] == "no-store"
    return body["error_description"]


def test_discovery_lists_the_proof_algorithms(local_server, http):
    document = http.get(local_server.url + "/.well-known/openid-configuration").json()
    assert document["dpop_signing_alg_values_supported"] == list(DEFAULT_ALGORITHMS)


@pytest.mark.parametrize("body", ["form", "json"])
def test_client_credentials_with_a_proof_get_a_bound_token(local_server, http, token_url, proofs, body):
    client = client_of(local_server)
    headers = {"DPoP": token_proof(proofs, token_url)}
    fields = {"grant_type": "client_credentials", "scope": "read:messages"}
    if body == "form":
        response = http.post(token_url, data=fields, auth=(client.client_id, client.client_secret), headers=headers)
    else:
        response = http.post(token_url, json={**fields, "client_id": client.client_id,
                                              "client_secret": client.client_secret}, headers=headers)
    assert_bound(local_server, response, proofs.key.thumbprint())
    assert response.json()["scope"] == "read:messages"


def test_code_and_pkce_with_a_proof_get_a_bound_token(local_server, http, token_url, proofs):
    code, verifier = get_code(http, local_server)
    response = exchange(http, local_server, code, verifier)
    assert response.status_code == 200  # without a proof: a Bearer token
    assert response.json()["token_type"] == "Bearer"
    assert "cnf" not in claims_of(local_server, response.json()["access_token"])
    code, verifier = get_code(http, local_server)
    response = exchange(http, local_server, code, verifier, headers={"DPoP": token_proof(proofs, token_url)})
    assert_bound(local_server, response, proofs.key.thumbprint())


@pytest.mark.parametrize("alg", ["ES256", "RS256", "PS256"])
def test_each_listed_algorithm_binds(local_server, http, token_url, alg):
    proofs = Proofs(ec_key() if alg == "ES256" else RSAKey.generate_key(2048, parameters={"alg": alg}), alg=alg)
    response = client_credentials(http, local_server, headers={"DPoP": token_proof(proofs, token_url)})
    assert_bound(local_server, response, proofs.key.thumbprint())


def test_a_proof_is_accepted_once(local_server, http, token_url, proofs):
    proof = token_proof(proofs, token_url)
    assert client_credentials(http, local_server, headers={"DPoP": proof}).status_code == 200
    assert "already used" in assert_refused(client_credentials(http, local_server, headers={"DPoP": proof}))


def test_a_refused_proof_leaves_the_code_for_the_retry(local_server, http, token_url, proofs):
    code, verifier = get_code(http, local_server)
    wrong = token_proof(proofs, token_url, htm="GET")
    assert_refused(exchange(http, local_server, code, verifier, headers={"DPoP": wrong}))
    response = exchange(http, local_server, code, verifier, headers={"DPoP": token_proof(proofs, token_url)})
    assert_bound(local_server, response, proofs.key.thumbprint())


def test_a_code_bound_by_dpop_jkt_needs_a_proof_with_that_key(local_server, http, token_url, proofs):
    """RFC 9449 §10: without a proof, or with another key's, the code gives nothing (and is spent)."""
    for headers in [{}, {"DPoP": token_proof(Proofs(), token_url)}]:
        code, verifier = get_code(http, local_server, dpop_jkt=proofs.key.thumbprint())
        assert "dpop_jkt" in assert_refused(exchange(http, local_server, code, verifier, headers=headers))
    code, verifier = get_code(http, local_server, dpop_jkt=proofs.key.thumbprint())
    response = exchange(http, local_server, code, verifier, headers={"DPoP": token_proof(proofs, token_url)})
    assert_bound(local_server, response, proofs.key.thumbprint())


def hostile(proofs: Proofs, url: str) -> dict[str, tuple[str, str]]:
    """Token-endpoint proofs that must each be refused, and what the refusal says (the verifier's own
    tests cover many more)."""
    now = int(time.time())
    claims = proofs.claims(htm="POST", htu=url, ath=None)
    hs256_input = f"{b64url(proofs.header(alg='HS256'))}.{b64url(claims)}"
    hs256 = hmac.new(proofs.key.as_pem(private=False), hs256_input.encode(), hashlib.sha256).digest()
    port = f":{urlsplit(url).port}"
    return {
        "wrong-htm": (token_proof(proofs, url, htm="GET"), "htm does not match"),
        "missing-htm": (token_proof(proofs, url, htm=None), "htm is missing"),
        "another-path": (token_proof(proofs, url.replace("/oauth/token", "/api/private")), "htu does not match"),
        "query-in-htu": (token_proof(proofs, url + "?grant_type=client_credentials"), "without query"),
        "another-port": (token_proof(proofs, url.replace(port, ":9")), "htu does not match"),
        "another-host": (token_proof(proofs, url.replace("127.0.0.1", "localhost")), "htu does not match"),
        "https-for-http": (token_proof(proofs, url.replace("http://", "https://")), "htu does not match"),
        "missing-htu": (token_proof(proofs, url, htu=None), "htu is missing"),
        "old-iat": (token_proof(proofs, url, iat=now - 3600), "iat is outside"),
        "future-iat": (token_proof(proofs, url, iat=now + 3600), "iat is outside"),
        "missing-iat": (token_proof(proofs, url, iat=None), "iat is missing"),
        "missing-jti": (token_proof(proofs, url, jti=None), "jti must be"),
        "typ-jwt": (token_proof(proofs, url, header={"typ": "JWT"}), "typ must be"),
        "alg-none": (f"{b64url(proofs.header(alg='none'))}.{b64url(claims)}.", "not a compact JWS"),
        "hs256-keyed-with-the-public-key": (f"{hs256_input}.{b64url(hs256)}", "alg must be"),
        "private-jwk": (token_proof(proofs, url, header={"jwk": proofs.key.as_dict(private=True)}), "private"),
        "symmetric-jwk": (token_proof(proofs, url, header={"jwk": {"kty": "oct", "k": b64url(b"k" * 32)}}),
                          "symmetric"),
        "signed-by-another-key": (token_proof(proofs, url, key=ec_key()), "signature does not verify"),
        "oversized": (token_proof(proofs, url, padding="x" * MAX_PROOF_LENGTH), "longer than"),
        "not-a-jws": ("not.a.proof!", "not a compact JWS"),
    }


HOSTILE = list(hostile(Proofs(), "http://127.0.0.1:3010/oauth/token"))


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_proofs_are_refused(local_server, http, token_url, proofs, case):
    proof, reason = hostile(proofs, token_url)[case]
    assert reason in assert_refused(client_credentials(http, local_server, headers={"DPoP": proof}))


def test_two_proofs_are_refused(local_server, token_url, proofs):
    """Two DPoP headers (requests would send one, so http.client sends them)."""
    client = client_of(local_server)
    body = f"grant_type=client_credentials&client_id={client.client_id}&client_secret={client.client_secret}"
    connection = HTTPConnection("127.0.0.1", local_server.port, timeout=10)
    try:
        connection.putrequest("POST", "/oauth/token")
        for header, value in [("Content-Type", "application/x-www-form-urlencoded"),
                              ("Content-Length", str(len(body))),
                              ("DPoP", token_proof(proofs, token_url)), ("DPoP", token_proof(proofs, token_url))]:
            connection.putheader(header, value)
        connection.endheaders(body.encode())
        response = connection.getresponse()
        assert response.status == 400
        assert b'"invalid_dpop_proof"' in response.read()
    finally:
        connection.close()


def test_a_good_proof_does_not_excuse_a_bad_client(local_server, http, token_url, proofs):
    client = client_of(local_server)
    response = http.post(token_url, data={"grant_type": "client_credentials"}, auth=(client.client_id, "wrong"),
                         headers={"DPoP": token_proof(proofs, token_url)})
    assert_refused(response, "invalid_client", 401)


def test_the_issuer_follows_auth_dpop(make_local_app, http):
    """off: proofs are ignored and tokens are Bearer ones (all the API takes then), and discovery names no
    algorithm; required: a token request without a proof is refused; the algorithms are AUTH_DPOP_ALGORITHMS."""
    def token_request(server, proofs=None):
        headers = {"DPoP": token_proof(proofs, server.url + "/oauth/token")} if proofs else {}
        return client_credentials(http, server, headers=headers)

    def discovery(server):
        return http.get(server.url + "/.well-known/openid-configuration").json()

    with live_on_own_port(lambda port: make_local_app(port, AUTH_DPOP="off")) as server:
        assert "dpop_signing_alg_values_supported" not in discovery(server)
        response = token_request(server, Proofs())
        assert response.json()["token_type"] == "Bearer"
        assert "cnf" not in claims_of(server, response.json()["access_token"])
    with live_on_own_port(lambda port: make_local_app(port, AUTH_DPOP="required",
                                                      AUTH_DPOP_ALGORITHMS="ES256")) as server:
        assert discovery(server)["dpop_signing_alg_values_supported"] == ["ES256"]
        assert "send a DPoP proof" in assert_refused(token_request(server))
        rsa = Proofs(RSAKey.generate_key(2048, parameters={"alg": "RS256"}), alg="RS256")
        assert "alg must be one of: ES256" in assert_refused(token_request(server, rsa))
        proofs = Proofs()
        assert_bound(server, token_request(server, proofs), proofs.key.thumbprint())
