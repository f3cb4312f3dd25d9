"""DPoP proof checks (security/dpop.py): an independent client's proofs pass, hostile proofs are refused
with the right error and nothing else, a proof is accepted once, and the token-binding rules hold."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from joserfc.jwk import ECKey, JWKRegistry, OctKey

from security.dpop import (
    DEFAULT_ALGORITHMS,
    MAX_PROOF_LENGTH,
    UNCHECKED_CONFIRMATION,
    DPoPError,
    DPoPVerifier,
    VerifiedProof,
    access_token_hash,
    token_binding,
)
from security.proof_keys import b64url_decode
from security.replay import MemoryReplayStore
from tests.support.dpop_proofs import ACCESS_TOKEN, URL, Proofs, independent_key
from tests.support.timing import run_together
from tests.support.tokens import b64url, ec_key, rsa_key

NOW = float(int(time.time()))
INVALID, NONCE, TOKEN, REQUEST = "invalid_dpop_proof", "use_dpop_nonce", "invalid_token", "invalid_request"


def clock() -> float:
    return NOW


def store() -> MemoryReplayStore:
    """A replay store whose records began an hour before ``clock``'s now: only the jti decides."""
    return MemoryReplayStore(since=NOW - 3600)


def joserfc_thumbprint(jwk: dict) -> str:
    """RFC 7638 as joserfc computes it, to check ours against."""
    return JWKRegistry.import_key(jwk).thumbprint()


@pytest.fixture
def proofs() -> Proofs:
    return Proofs(clock=clock)


@pytest.fixture
def verifier() -> DPoPVerifier:
    return DPoPVerifier(DEFAULT_ALGORITHMS, replay_store=store(), clock=clock)


def check(verifier: DPoPVerifier, proof: str, **overrides):
    request = {"method": "GET", "url": URL, "access_token": ACCESS_TOKEN, **overrides}
    return verifier.verify(proof, **request)


def accepted(verifier: DPoPVerifier, proof: str, **overrides) -> VerifiedProof:
    """The proof passes, and its result names the very key it was signed with (RFC 7638 thumbprint)."""
    result = check(verifier, proof, **overrides)
    assert result.jkt == joserfc_thumbprint(json.loads(b64url_decode(proof.split(".")[0]))["jwk"])
    return result


def refused(verifier: DPoPVerifier, proof: str, error: str = INVALID, **overrides) -> DPoPError:
    with pytest.raises(DPoPError) as caught:
        check(verifier, proof, **overrides)
    assert caught.value.error == error, caught.value.description
    assert '"' not in caught.value.description  # safe inside a WWW-Authenticate quoted string
    return caught.value


# -- an independent client ---------------------------------------------------------------------------

@pytest.mark.parametrize("alg", ["ES256", "PS256", "RS256", "EdDSA"])
def test_proofs_from_requests_oauth2client_verify(alg):
    client_key = independent_key(alg)
    verifier = DPoPVerifier(DEFAULT_ALGORITHMS, replay_store=MemoryReplayStore())
    proof = str(client_key.proof(htm="GET", htu=URL + "?page=2", ath=access_token_hash(ACCESS_TOKEN)))

    result = verifier.verify(proof, method="GET", url=URL + "?page=2", access_token=ACCESS_TOKEN,
                             bound_to=client_key.dpop_jkt)

    public = client_key.public_jwk.to_dict()
    assert result.jkt == client_key.dpop_jkt == joserfc_thumbprint(public)
    assert result.next_nonce is None
    # The next proof of the same client (same header, so its key comes from the cache) passes too.
    again = str(client_key.proof(htm="POST", htu=URL, ath=access_token_hash(ACCESS_TOKEN)))
    assert verifier.verify(again, method="POST", url=URL, access_token=ACCESS_TOKEN).jkt == result.jkt


def test_a_proof_without_ath_passes_where_there_is_no_access_token(verifier, proofs):
    """The token endpoint (RFC 9449 §5): no access token yet, so no ath."""
    accepted(verifier, proofs.make(htm="POST", ath=None), method="POST", access_token=None)


@pytest.mark.parametrize("htu", [
    "HTTPS://API.EXAMPLE:443/api/private",
    "https://api.example/api/%70rivate",  # percent-encoded unreserved character
    "https://api.example/api/./private",
    "https://api.example/api/public/../private",
    "https://api.example:/api/private",
])
def test_equivalent_htu_spellings_pass(verifier, proofs, htu):
    accepted(verifier, proofs.make(htu=htu))


@pytest.mark.parametrize("typ", ["dpop+jwt", "DPoP+JWT", "application/dpop+jwt"])
def test_typ_is_compared_as_a_media_type(verifier, proofs, typ):
    accepted(verifier, proofs.make(header={"typ": typ}))


def test_iat_at_the_edges_of_the_window_passes(verifier, proofs):
    accepted(verifier, proofs.make(iat=NOW - 300))
    accepted(verifier, proofs.make(iat=NOW + 5))
    accepted(verifier, proofs.make(iat=NOW - 0.5))  # a fractional NumericDate


# -- hostile proofs ----------------------------------------------------------------------------------

def _segments(proof: str) -> list[str]:
    return proof.split(".")


def _with_signature(proof: str, signature: bytes | str) -> str:
    header, payload, _ = _segments(proof)
    return f"{header}.{payload}.{signature if isinstance(signature, str) else b64url(signature)}"


def _hs256(header: dict, claims: dict, secret: bytes) -> str:
    signing_input = f"{b64url(header)}.{b64url(claims)}"
    return f"{signing_input}.{b64url(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


def _public_pem(key) -> bytes:
    return key.as_pem(private=False)


def without_alg(key) -> dict:
    return {k: v for k, v in key.as_dict(private=False).items() if k != "alg"}


P384 = ECKey.generate_key("P-384", parameters={"alg": "ES384"})
RSA = rsa_key("proof-rsa")

HOSTILE = {
    # form
    "empty": (lambda p: "", "missing"),
    "garbage": (lambda p: "this is not a JWS", "compact JWS"),
    "two segments": (lambda p: ".".join(_segments(p.make())[:2]), "compact JWS"),
    "four segments": (lambda p: p.make() + ".AAAA", "compact JWS"),
    "five segments (JWE shape)": (lambda p: p.make() + ".AAAA.AAAA", "compact JWS"),
    "padding characters": (lambda p: p.make() + "==", "compact JWS"),
    "standard base64 characters": (lambda p: p.make().replace("-", "+").replace("_", "/") + "+/", "compact JWS"),
    "leading space": (lambda p: " " + p.make(), "compact JWS"),
    "oversized": (lambda p: p.make(padding="x" * MAX_PROOF_LENGTH), "longer than"),
    "impossible base64 length in signature": (lambda p: p.make() + "A", "signature"),
    # header
    "header not JSON": (lambda p: f"{b64url('nope')}.{_segments(p.make())[1]}.AAAA", "header"),
    "header a JSON array": (lambda p: f"{b64url('[1]')}.{_segments(p.make())[1]}.AAAA", "header"),
    "header not UTF-8": (lambda p: f"{b64url(bytes([0xff, 0xfe, 0x7b]))}.{_segments(p.make())[1]}.AAAA", "header"),
    "header JSON bomb": (lambda p: f"{b64url('[' * 1100 + ']' * 1100)}.{_segments(p.make())[1]}.AAAA", "header"),
    "typ JWT": (lambda p: p.make(header={"typ": "JWT"}), "typ"),
    "typ missing": (lambda p: p.make(header={"typ": None}), "typ"),
    "typ not a string": (lambda p: p.make(header={"typ": ["dpop+jwt"]}), "typ"),
    "typ with a suffix": (lambda p: p.make(header={"typ": "dpop+jwt "}), "typ"),
    "alg none, empty signature": (lambda p: f"{b64url(p.header(alg='none'))}.{b64url(p.claims())}.", "compact JWS"),
    "alg none, some signature": (lambda p: f"{b64url(p.header(alg='none'))}.{b64url(p.claims())}.AAAA", "alg"),
    "alg missing": (lambda p: p.make(header={"alg": None}, alg="ES256"), "alg"),
    "HS256 keyed with the public key": (
        lambda p: _hs256(p.header(alg="HS256"), p.claims(), _public_pem(p.key)), "alg"),
    "HS256 with a symmetric jwk": (
        lambda p: _hs256(p.header(alg="HS256", jwk={"kty": "oct", "k": b64url(b"k" * 32)}), p.claims(), b"k" * 32),
        "alg"),
    "symmetric jwk under ES256": (lambda p: p.make(header={"jwk": OctKey.generate_key(256).as_dict()}),
                                  "private or symmetric"),
    "private EC key in jwk": (lambda p: p.make(header={"jwk": p.key.as_dict(private=True)}), "private or symmetric"),
    "private RSA key in jwk": (
        lambda p: p.make(header={"alg": "RS256", "jwk": RSA.as_dict(private=True)}, key=RSA, alg="RS256"),
        "private or symmetric"),
    "jwk missing": (lambda p: p.make(header={"jwk": None}), "lacks its jwk"),
    "jwk not an object": (lambda p: p.make(header={"jwk": "eyJrdHkiOiJFQyJ9"}), "not a JSON object"),
    "jwk of another key type": (lambda p: p.make(header={"jwk": without_alg(RSA)}), "key type"),
    "jwk on another curve": (lambda p: p.make(header={"jwk": without_alg(P384)}, key=P384, alg="ES384"),
                             "curve"),
    "jwk declared for another alg": (lambda p: p.make(header={"jwk": {**p.jwk, "alg": "ES384"}}), "another algorithm"),
    "jwk x with padding": (lambda p: p.make(header={"jwk": {**p.jwk, "x": p.jwk["x"] + "="}}), "not a valid"),
    "jwk point not on the curve": (lambda p: p.make(header={"jwk": {**p.jwk, "y": p.jwk["x"]}}), "not a valid"),
    "alg not configured (ES384)": (
        lambda p: p.make(header={"alg": "ES384", "jwk": P384.as_dict(private=False)}, key=P384, alg="ES384"), "alg"),
    "crit header": (lambda p: p.make(header={"crit": ["exp"], "exp": 1}), "critical"),
    # signature
    "signed by another key": (lambda p: p.make(key=ec_key()), "signature"),
    "payload swapped": (lambda p: ".".join([_segments(p.make())[0], _segments(p.make(htm="POST"))[1],
                                            _segments(p.make())[2]]), "signature"),
    "ECDSA signature of the wrong length": (lambda p: _with_signature(p.make(), base64.urlsafe_b64decode(
        _segments(p.make())[2] + "==")[:-1]), "signature"),
    "DER-encoded ECDSA signature": (lambda p: _with_signature(p.make(), b"\x30\x44" + b"\x00" * 68), "signature"),
    # payload
    "payload not JSON": (lambda p: p.raw("{nope"), "payload"),
    "payload a JSON array": (lambda p: p.raw("[1, 2]"), "payload"),
    "payload JSON bomb": (lambda p: p.raw('{"a":' + "[" * 1100 + "]" * 1100 + "}"), "payload"),
    # htm
    "htm another method": (lambda p: p.make(htm="POST"), "htm"),
    "htm missing": (lambda p: p.make(htm=None), "htm"),
    "htm not a string": (lambda p: p.make(htm=["GET"]), "htm"),
    "htm folding into the method": (lambda p: p.make(htm="opt\u0131ons"), "htm"),
    # htu
    "htu another path": (lambda p: p.make(htu="https://api.example/api/public"), "htu"),
    "htu a trailing slash": (lambda p: p.make(htu=URL + "/"), "htu"),
    "htu another path case": (lambda p: p.make(htu="https://api.example/API/private"), "htu"),
    "htu dot segments to another path": (lambda p: p.make(htu="https://api.example/api/private/../public"), "htu"),
    "htu an encoded slash": (lambda p: p.make(htu="https://api.example/api%2Fprivate"), "htu"),
    "htu query smuggled": (lambda p: p.make(htu=URL + "?admin=1"), "htu"),
    "htu fragment": (lambda p: p.make(htu=URL + "#x"), "htu"),
    "htu another host": (lambda p: p.make(htu="https://evil.example/api/private"), "htu"),
    "htu http, not https": (lambda p: p.make(htu="http://api.example/api/private"), "htu"),
    "htu another port": (lambda p: p.make(htu="https://api.example:8443/api/private"), "htu"),
    "htu userinfo": (lambda p: p.make(htu="https://evil@api.example/api/private"), "htu"),
    "htu relative": (lambda p: p.make(htu="/api/private"), "htu"),
    "htu another scheme": (lambda p: p.make(htu="wss://api.example/api/private"), "htu"),
    "htu missing": (lambda p: p.make(htu=None), "htu"),
    "htu not a string": (lambda p: p.make(htu={"url": URL}), "htu"),
    "htu fullwidth host": (lambda p: p.make(htu="https://\uff41pi.example/api/private"), "htu"),
    "htu zero-width space in host": (lambda p: p.make(htu="https://api\u200b.example/api/private"), "htu"),
    "htu Cyrillic letter in path": (lambda p: p.make(htu="https://api.example/api/priv\u0430te"), "htu"),
    "htu right-to-left override in path": (lambda p: p.make(htu="https://api.example/api/\u202eprivate"), "htu"),
    "htu lone surrogate": (lambda p: p.make(htu="https://api.example/api/\ud800"), "htu"),
    "htu newline": (lambda p: p.make(htu="https://api.example/api/pri\nvate"), "htu"),
    "htu backslash": (lambda p: p.make(htu="https://api.example\\@evil.example/api/private"), "htu"),
    "htu port out of range": (lambda p: p.make(htu="https://api.example:65980/api/private"), "htu"),
    # iat (and exp/nbf)
    "iat too old": (lambda p: p.make(iat=NOW - 301), "iat"),
    "iat in the future": (lambda p: p.make(iat=NOW + 6), "iat"),
    "iat missing": (lambda p: p.make(iat=None), "iat"),
    "iat a string": (lambda p: p.make(iat=str(int(NOW))), "iat"),
    "iat a boolean": (lambda p: p.make(iat=True), "iat"),
    "iat NaN": (lambda p: p.raw(f'{{"jti":"j","htm":"GET","htu":"{URL}","iat":NaN,'
                                f'"ath":"{access_token_hash(ACCESS_TOKEN)}"}}'), "iat"),
    "iat infinite": (lambda p: p.raw(f'{{"jti":"j","htm":"GET","htu":"{URL}","iat":1e999,'
                                     f'"ath":"{access_token_hash(ACCESS_TOKEN)}"}}'), "iat"),
    "exp passed": (lambda p: p.make(exp=NOW - 1), "exp"),
    "nbf in the future": (lambda p: p.make(nbf=NOW + 60), "nbf"),
    # jti
    "jti missing": (lambda p: p.make(jti=None), "jti"),
    "jti a number": (lambda p: p.make(jti=12345), "jti"),
    "jti empty": (lambda p: p.make(jti=""), "jti"),
    "jti over 256 characters": (lambda p: p.make(jti="j" * 257), "jti"),
    # ath
    "ath missing": (lambda p: p.make(ath=None), "ath"),
    "ath of another token": (lambda p: p.make(ath=access_token_hash(ACCESS_TOKEN + "x")), "ath"),
    "ath not a string": (lambda p: p.make(ath=[access_token_hash(ACCESS_TOKEN)]), "ath"),
    "ath the token itself": (lambda p: p.make(ath=ACCESS_TOKEN), "ath"),
}


@pytest.mark.parametrize("build, reason", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_proofs_are_refused(verifier, proofs, build, reason):
    """Each refused as an invalid proof, for the reason it was built to show (never another exception)."""
    assert reason in refused(verifier, build(proofs)).description


def test_there_are_at_least_forty_hostile_proofs():
    assert len(HOSTILE) >= 40


@pytest.mark.parametrize("url", ["https://api.example\\@evil/api", "not a url", "https://exa mple/", "ftp://a/b"])
def test_a_request_url_that_cannot_match_is_an_invalid_request(verifier, proofs, url):
    refused(verifier, proofs.make(), REQUEST, url=url)


def test_look_alike_host_characters_never_fold_into_ascii(verifier, proofs):
    """The Kelvin sign lower-cases to "k": comparing after lower() would make this match."""
    kelvin = proofs.make(htu="https://\u212aiosk.example/api/private")
    refused(verifier, kelvin, url="https://kiosk.example/api/private")


def test_a_proof_made_for_another_request_method_or_url_is_refused_as_such(verifier, proofs):
    accepted(verifier, proofs.make(htm="options"), method="OPTIONS")  # compared case-insensitively, as Auth0
    refused(verifier, proofs.make(htm="opt\u0131ons"), method="OPTIONS")
    error = refused(verifier, proofs.make(), method="DELETE")
    assert "htm" in error.description
    error = refused(verifier, proofs.make(), url="https://api.example/api/private-scoped")
    assert "htu" in error.description


def test_invalid_dpop_proof_is_a_400_and_the_binding_errors_401(verifier, proofs):
    assert refused(verifier, proofs.make(htm="PUT")).status_code == 400
    assert refused(verifier, proofs.make(), TOKEN, bound_to="another-thumbprint").status_code == 401


# -- replays -----------------------------------------------------------------------------------------

def test_a_proof_is_accepted_once(verifier, proofs):
    proof = proofs.make()
    accepted(verifier, proof)
    error = refused(verifier, proof)
    assert "already used" in error.description


def test_a_new_proof_reusing_a_jti_is_a_replay_but_not_for_another_key(verifier, proofs):
    accepted(verifier, proofs.make(jti="same"))
    refused(verifier, proofs.make(jti="same", iat=NOW - 1))
    accepted(verifier, Proofs(clock=clock).make(jti="same"))  # another client's jti space


def test_the_same_proof_raced_from_sixteen_threads_is_accepted_once(verifier, proofs):
    proof = proofs.make()

    def attempt(_):
        try:
            check(verifier, proof)
            return "accepted"
        except DPoPError as error:
            return error.error

    assert sorted(run_together(16, attempt, timeout=10)) == ["accepted"] + [INVALID] * 15


def test_a_refused_proof_does_not_use_up_its_jti(verifier, proofs):
    """Only a proof that passed every other check is recorded (so a client's retry with a corrected
    binding or nonce is not mistaken for a replay)."""
    proof = proofs.make()
    refused(verifier, proof, TOKEN, bound_to="another-thumbprint")
    accepted(verifier, proof, bound_to=joserfc_thumbprint(proofs.jwk))


def test_the_replay_record_lasts_as_long_as_the_proof_could_pass():
    class Recording(MemoryReplayStore):
        ttls: list[float]

        def mark_once(self, key, ttl):
            self.ttls.append(ttl)
            return super().mark_once(key, ttl)

    recording = Recording(since=NOW - 3600)
    recording.ttls = []
    verifier = DPoPVerifier(replay_store=recording, iat_window=300, leeway=5, clock=clock)
    proofs = Proofs(clock=clock)
    check(verifier, proofs.make(iat=NOW))
    check(verifier, proofs.make(iat=NOW - 300))
    assert recording.ttls == [306, 6]  # until iat + window has passed on every instance (leeway for clocks)


# -- the key cache -----------------------------------------------------------------------------------

def test_a_known_header_never_skips_the_signature(verifier, proofs):
    accepted(verifier, proofs.make())  # the header and its key are now cached
    refused(verifier, proofs.make(key=ec_key()))


def test_the_key_cache_is_bounded():
    verifier = DPoPVerifier(replay_store=store(), clock=clock, key_cache_size=2)
    for _ in range(5):
        accepted(verifier, Proofs(clock=clock).make())
    assert len(verifier._keys) == 2


# -- configuration -----------------------------------------------------------------------------------

@pytest.mark.parametrize("algorithms", [["none"], ["HS256"], ["ES256", "HS512"], ["XS256"], []])
def test_only_asymmetric_algorithms_can_be_configured(algorithms):
    with pytest.raises(ValueError):
        DPoPVerifier(algorithms, replay_store=MemoryReplayStore())


def test_the_challenge_lists_the_configured_algorithms():
    verifier = DPoPVerifier(["ES256", "PS256"], replay_store=MemoryReplayStore())
    assert verifier.algs == "ES256 PS256"


@pytest.mark.parametrize("bits, exponent", [(1024, 65537), (4096 + 8, 65537), (2048, 2**32 + 1)])
def test_rsa_keys_outside_2048_to_4096_bits_or_with_a_big_exponent_are_refused(proofs, bits, exponent):
    """Refused at import, before any signature work (a big key would make every refusal expensive)."""
    modulus = (1 << (bits - 1)) | 1
    jwk = {"kty": "RSA", "n": b64url(modulus.to_bytes(bits // 8 + 1, "big").lstrip(b"\0")),
           "e": b64url(exponent.to_bytes(5, "big").lstrip(b"\0"))}
    proof = f"{b64url(proofs.header(alg='RS256', jwk=jwk))}.{b64url(proofs.claims())}.{b64url(bytes(bits // 8))}"
    verifier = DPoPVerifier(["RS256"], replay_store=store(), clock=clock)
    assert "2048 to 4096-bit modulus and a small exponent" in refused(verifier, proof).description


# -- token binding -----------------------------------------------------------------------------------

BOUND = {"sub": "a", "cnf": {"jkt": "thumbprint"}}
UNBOUND = {"sub": "a"}


def test_token_binding_rules():
    assert token_binding(UNBOUND, "Bearer") is None
    assert token_binding(BOUND, "DPoP") == "thumbprint"
    assert token_binding(BOUND, "dpop") == "thumbprint"


UNCHECKED = UNCHECKED_CONFIRMATION  # "...names a confirmation method this API cannot check..."
MALFORMED = "The access token's cnf claim is malformed."


@pytest.mark.parametrize("claims, scheme, description", [
    (BOUND, "Bearer", "The access token is DPoP-bound: send it with the DPoP scheme and a proof."),  # RFC 9449 §7.2
    (UNBOUND, "DPoP", "The access token is not DPoP-bound: send it with the Bearer scheme."),
    ({"cnf": {"x5t#S256": "cert"}}, "Bearer", UNCHECKED),  # bound to a certificate (mTLS, RFC 8705)
    ({"cnf": {"x5t#S256": "cert"}}, "DPoP", UNCHECKED),
    ({"cnf": {"jkt": "thumbprint", "x5t#S256": "cert"}}, "DPoP", UNCHECKED),  # the certificate would go unchecked
    ({"cnf": {"jwk": {"kty": "EC"}}}, "Bearer", UNCHECKED),
    ({"cnf": {}}, "Bearer", "The access token's cnf claim names no confirmation method."),
    ({"cnf": "thumbprint"}, "DPoP", MALFORMED),
    ({"cnf": ["thumbprint"]}, "Bearer", MALFORMED),
    ({"cnf": 42}, "Bearer", MALFORMED),
    ({"cnf": None}, "Bearer", MALFORMED),
    ({"cnf": {"jkt": ""}}, "DPoP", "The access token's cnf.jkt claim is malformed."),
    ({"cnf": {"jkt": 42}}, "DPoP", "The access token's cnf.jkt claim is malformed."),
    ({"cnf": {"jkt": None}}, "Bearer", "The access token's cnf.jkt claim is malformed."),
])
def test_token_binding_refusals(claims, scheme, description):
    with pytest.raises(DPoPError) as caught:
        token_binding(claims, scheme)
    assert caught.value.error == TOKEN and caught.value.status_code == 401
    assert caught.value.description == description


def test_a_bound_token_and_its_proof_pass_together(verifier, proofs):
    jkt = joserfc_thumbprint(proofs.jwk)
    claims = {"sub": "a", "cnf": {"jkt": jkt}}
    assert check(verifier, proofs.make(), bound_to=token_binding(claims, "DPoP")).jkt == jkt
    other = {"sub": "a", "cnf": {"jkt": joserfc_thumbprint(ec_key().as_dict(private=False))}}
    error = refused(verifier, proofs.make(), TOKEN, bound_to=token_binding(other, "DPoP"))
    assert "another key" in error.description
