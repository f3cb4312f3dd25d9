"""Hostile tokens: the JWT attack catalogue (RFC 8725 and the well-known attacks), each refused with a 401.

Every case goes through real HTTP to the app, which fetches real keys from the fake provider.
"""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from joserfc.errors import SecurityWarning
from joserfc.jwk import OctKey
from joserfc.jws import JWSRegistry

from tests.support.http import bearer_get
from tests.support.live_server import live
from tests.support.tokens import AUDIENCE, b64url, ec_key, rsa_key, sign


def _status(server, http, token, route="/api/private"):
    response = bearer_get(server, http, token, route)
    assert response.status_code != 500, response.text
    return response


def _refused(server, http, token, description=None, route="/api/private"):
    response = _status(server, http, token, route)
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["error"] == "invalid_token"
    if description:
        assert body["error_description"] == description
    return body


# -- algorithm attacks ------------------------------------------------------------------------------

@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
@pytest.mark.parametrize("signature", ["", "AAAA"])
def test_alg_none(server, http, tokens, alg, signature):
    token = f"{b64url({'alg': alg, 'typ': 'JWT', 'kid': 'key-1'})}.{b64url(tokens.claims())}.{signature}"
    _refused(server, http, token)


def test_hs256_signed_with_the_public_key(server, http, tokens, signing_key):
    """Key confusion: an HMAC keyed with the RSA public key, as a naive verifier would accept."""
    for secret in (signing_key.as_pem(private=False), json.dumps(signing_key.as_dict(private=False)).encode()):
        signing_input = f"{b64url({'alg': 'HS256', 'typ': 'JWT', 'kid': 'key-1'})}.{b64url(tokens.claims())}"
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        token = f"{signing_input}.{b64url(mac)}"
        _refused(server, http, token, "The token's signing algorithm is not accepted.")


@pytest.mark.parametrize("alg", ["RS384", "RS512", "PS256", "ES256", "HS512", "EdDSA", "", "rs256"])
def test_algorithms_not_configured(server, http, tokens, alg):
    header = b64url({"alg": alg, "typ": "JWT", "kid": "key-1"})
    token = f"{header}.{b64url(tokens.claims())}.{b64url(b'x' * 256)}"
    _refused(server, http, token, "The token's signing algorithm is not accepted.")


@pytest.mark.parametrize("alg_value", [None, 256, ["RS256"], {"a": 1}, True])
def test_malformed_alg(server, http, tokens, alg_value):
    header = {"typ": "JWT", "kid": "key-1"} if alg_value is None else {"alg": alg_value, "kid": "key-1"}
    _refused(server, http, f"{b64url(header)}.{b64url(tokens.claims())}.{b64url(b'sig')}")


def test_widened_algorithms_still_match_key_type(provider, make_app, http, tokens, signing_key):
    """With ES256 allowed too, an ES256 header cannot make an RSA key verify anything."""
    ec = ec_key("ec-1")
    provider.keys = [signing_key, ec]
    with live(make_app(AUTH_ALGORITHMS="RS256,ES256")) as server:
        assert _status(server, http, tokens.make(key=ec)).status_code == 200
        forged = tokens.make(key=ec, header={"kid": "key-1"})  # ES256 token claiming the RSA key's kid
        _refused(server, http, forged, "The token's algorithm does not match its key.")
        zero_sig = tokens.make(key=ec).rsplit(".", 1)[0] + "." + b64url(b"\x00" * 64)  # "psychic signature"
        _refused(server, http, zero_sig, "The token's signature is invalid.")


# -- signature attacks --------------------------------------------------------------------------------

def test_signed_by_another_key_with_the_right_kid(server, http, tokens, attacker_key):
    _refused(server, http, tokens.make(key=attacker_key), "The token's signature is invalid.")


def test_tampered_payload(server, http, tokens):
    header, _, signature = tokens.make(scope="openid").split(".")
    forged = f"{header}.{b64url(tokens.claims(scope='read:messages'))}.{signature}"
    _refused(server, http, forged, "The token's signature is invalid.", route="/api/private-scoped")


def test_signature_stripped_or_swapped(server, http, tokens):
    token = tokens.make()
    head, payload, _ = token.split(".")
    _refused(server, http, f"{head}.{payload}.")
    _refused(server, http, f"{head}.{payload}")
    other_sig = tokens.make(sub="someone-else").split(".")[2]
    _refused(server, http, f"{head}.{payload}.{other_sig}", "The token's signature is invalid.")


# -- key-lookup attacks: the header must never choose the key material -----------------------------

def test_embedded_jwk_is_ignored(make_app, http, tokens):
    """A token that carries its own (attacker's) key in ``jwk`` gets nothing from it."""
    evil = ec_key("evil")
    embedded = {"jwk": evil.as_dict(private=False)}
    with live(make_app(AUTH_ALGORITHMS="RS256,ES256")) as server:
        _refused(server, http, tokens.make(key=evil, header=embedded), "The token was signed by an unknown key (kid).")
        _refused(server, http, tokens.make(key=evil, header={**embedded, "kid": "key-1"}),
                 "The token's algorithm does not match its key.")
        _refused(server, http, tokens.make(key=evil, header={**embedded, "kid": None}),
                 "The token's algorithm does not match its key.")


def test_jku_and_x5u_are_never_fetched(provider, server, http, tokens, attacker_key, other_server):
    other_server.expect_request("/evil.json").respond_with_json({"keys": [attacker_key.as_dict(private=False)]})
    before = provider.jwks_fetches
    for name in ("jku", "x5u"):
        token = tokens.make(key=attacker_key, header={name: other_server.url_for("/evil.json"), "kid": "evil"})
        _refused(server, http, token)
    assert other_server.log == []  # nothing ever asked the attacker's server
    assert provider.jwks_fetches - before == 2  # first use, then one refetch for the unknown kid


def test_x5c_is_ignored(server, http, tokens, attacker_key):
    token = tokens.make(key=attacker_key, header={"x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]})
    _refused(server, http, token, "The token's signature is invalid.")


@pytest.mark.parametrize("kid", ["../../etc/passwd", "' OR 1=1 --", "key-1\u0000", "k" * 300])
def test_kid_is_only_a_lookup_key(server, http, tokens, kid):
    _refused(server, http, tokens.make(header={"kid": kid}))


@pytest.mark.parametrize("kid", [1, ["key-1"], {"k": "key-1"}, True, ""])
def test_malformed_kid(server, http, tokens, kid):
    _refused(server, http, tokens.make(header={"kid": kid}))


def test_no_kid_with_several_keys(provider, server, http, tokens, other_key):
    provider.keys = [tokens.key, other_key]
    _refused(server, http, tokens.make(header={"kid": None}))


def test_no_kid_with_a_single_key_is_accepted(server, http, tokens):
    assert _status(server, http, tokens.make(header={"kid": None})).status_code == 200


def test_weak_and_symmetric_keys_in_the_jwks_are_never_used(provider, make_app, http, tokens):
    with pytest.warns(SecurityWarning):
        weak = rsa_key("weak", size=1024)
    oct_key = OctKey.generate_key(256, parameters={"kid": "oct"})
    provider.raw_jwks = {"keys": [weak.as_dict(private=False), oct_key.as_dict(), tokens.key.as_dict(private=False)]}
    with live(make_app()) as server:
        assert _status(server, http, tokens.make()).status_code == 200
        _refused(server, http, tokens.make(key=weak), "The token was signed by an unknown key (kid).")
        hs = sign({"alg": "HS256", "kid": "oct"}, tokens.claims(), oct_key)
        _refused(server, http, hs, "The token's signing algorithm is not accepted.")


def test_encryption_key_is_not_a_signing_key(provider, make_app, http, tokens):
    enc = dict(tokens.key.as_dict(private=False), use="enc")
    provider.raw_jwks = {"keys": [enc]}
    with live(make_app()) as server:
        response = _status(server, http, tokens.make())
        assert response.status_code == 503  # the set has no signing key at all: the issuer is unusable


# -- header parameters ------------------------------------------------------------------------------

@pytest.mark.parametrize("crit", [["exp"], ["b64"], ["urn:example:unknown"], "b64", 1, []])
def test_crit_is_refused(server, http, tokens, crit):
    header = {"crit": crit, "urn:example:unknown": True, "b64": True} if crit != "b64" else {"crit": crit}
    _refused(server, http, tokens.make(header=header))


def test_unencoded_payload_is_refused(server, http, tokens):
    header = {"alg": "RS256", "kid": "key-1", "b64": False, "crit": ["b64"]}
    signing_input = b64url(header) + "." + json.dumps(tokens.claims())
    signature = JWSRegistry.algorithms["RS256"].sign(signing_input.encode(), tokens.key)
    _refused(server, http, b64url(header) + ".." + b64url(signature))  # detached, unencoded payload
    _refused(server, http, sign(header, tokens.claims(), tokens.key))


@pytest.mark.parametrize("typ", ["JWT", "jwt", "at+jwt", "application/at+jwt", None])
def test_access_token_types_are_accepted(server, http, tokens, typ):
    assert _status(server, http, tokens.make(header={"typ": typ})).status_code == 200


@pytest.mark.parametrize("typ", ["dpop+jwt", "logout+jwt", "JOSE", "id_token", 1, ""])
def test_other_token_types_are_refused(server, http, tokens, typ):
    _refused(server, http, tokens.make(header={"typ": typ}))


# -- claims -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "claims, description",
    [
        ({"exp": None}, "The token has no exp claim."),
        ({"exp": 1}, "The token has expired."),
        ({"exp": "9999999999"}, "The token's exp claim is malformed."),
        ({"exp": True}, "The token's exp claim is malformed."),
        ({"nbf": 9_999_999_999}, "The token is not valid yet (nbf)."),
        ({"iat": 9_999_999_999}, "The token was issued in the future (iat)."),
        ({"iss": None}, "The token has no iss claim."),
        ({"iss": "https://evil.example/"}, "The token was issued by another issuer."),
        ({"aud": None}, "The token has no aud claim."),
        ({"aud": "https://other.api"}, "The token is not meant for this API (audience)."),
        ({"aud": ["https://other.api", "x"]}, "The token is not meant for this API (audience)."),
        ({"aud": [AUDIENCE + "/"]}, "The token is not meant for this API (audience)."),
        ({"aud": {"0": AUDIENCE}}, "The token's aud claim is malformed."),
        ({"sub": 42}, "The token's sub claim is malformed."),
        ({"nbf": "tomorrow"}, "The token's nbf claim is malformed."),
        ({"iat": [1]}, "The token's iat claim is malformed."),
        ({"iss": ["x"]}, "The token's iss claim is malformed."),
        ({"aud": [AUDIENCE, 1]}, "The token's aud claim is malformed."),
        ({"jti": 7}, "The token's jti claim is malformed."),
        ({"nbf": False}, "The token's nbf claim is malformed."),
        ({"aud": []}, "The token is not meant for this API (audience)."),
        ({"iss": ""}, "The token was issued by another issuer."),
    ],
)
def test_registered_claims(server, http, tokens, claims, description):
    _refused(server, http, tokens.make(**claims), description)


def test_fractional_times_are_numeric_dates(server, http, tokens):
    now = tokens.claims()["iat"]
    token = tokens.make(iat=now - 0.5, nbf=now - 0.25, exp=now + 3600.5)
    assert _status(server, http, token).status_code == 200


def test_issuer_must_match_exactly(server, http, tokens):
    _refused(server, http, tokens.make(iss=tokens.issuer.rstrip("/")), "The token was issued by another issuer.")
    _refused(server, http, tokens.make(iss=tokens.issuer.upper()), "The token was issued by another issuer.")


def test_audience_as_string_or_list(server, http, tokens):
    assert _status(server, http, tokens.make(aud=AUDIENCE)).status_code == 200
    assert _status(server, http, tokens.make(aud=["x", AUDIENCE])).status_code == 200


def test_leeway_applies_to_exp_nbf_and_iat(make_app, provider, http, tokens):
    import time  # noqa: PLC0415

    now = int(time.time())
    with live(make_app(AUTH_LEEWAY="30")) as server:
        for claims in ({"exp": now - 20}, {"nbf": now + 20}, {"iat": now + 20}):
            assert _status(server, http, tokens.make(**claims)).status_code == 200, claims
        for claims in ({"exp": now - 40}, {"nbf": now + 40}, {"iat": now + 40}):
            _refused(server, http, tokens.make(**claims))


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_times(server, http, tokens, claim, value):
    """Not JSON numbers, but Python's json reads them (1e400 as infinity), and every comparison with NaN is
    false: an exp of NaN would never expire. Each is refused as a malformed claim, never compared."""
    payload = json.dumps(tokens.claims(**{claim: 0})).replace(f'"{claim}": 0', f'"{claim}": {value}')
    assert value in payload
    _refused(server, http, tokens.raw({"kid": "key-1"}, payload), f"The token's {claim} claim is malformed.")


@pytest.mark.parametrize("claims", [{"scope": 123}, {"scope": ["read:messages"]}, {"scope": {"a": 1}},
                                    {"permissions": "read:messages"}, {"permissions": [1, 2]},
                                    {"permissions": {"read:messages": True}}])
def test_malformed_scope_claims(server, http, tokens, claims):
    for route in ("/api/private", "/api/private-scoped"):
        _refused(server, http, tokens.make(**claims), route=route)


def test_empty_scope_is_no_scope(server, http, tokens):
    token = tokens.make(scope="")
    assert _status(server, http, token).status_code == 200
    assert _status(server, http, token, "/api/private-scoped").status_code == 403


def test_scope_substrings_do_not_count(server, http, tokens):
    for scope in ("read:messagesX", "read", "read:message", "READ:MESSAGES", "read:messages,write"):
        assert _status(server, http, tokens.make(scope=scope), "/api/private-scoped").status_code == 403


#: Whitespace that is not the ASCII space, which alone separates scope-tokens (RFC 6749 §3.3).
NOT_A_SEPARATOR = {"tab": "\t", "line feed": "\n", "carriage return": "\r", "vertical tab": "\x0b",
                   "form feed": "\x0c", "next line": "\x85", "no-break space": "\u00a0", "em space": "\u2003",
                   "line separator": "\u2028", "ideographic space": "\u3000"}
ANY_MESSAGE = "/api/messages/" + "0" * 32  # DELETE: write:messages or delete:messages, any one of them


def _scoped_answers(server, http, token) -> list[tuple[int, str]]:
    """(status, error) of the route needing read:messages and of the one taking write or delete:messages."""
    headers = {"Authorization": f"Bearer {token}"}
    answers = [http.get(server.url + "/api/private-scoped", headers=headers),
               http.delete(server.url + ANY_MESSAGE, headers=headers)]
    return [(answer.status_code, answer.json().get("error", "")) for answer in answers]


@pytest.mark.parametrize("separator", NOT_A_SEPARATOR.values(), ids=NOT_A_SEPARATOR.keys())
def test_only_the_ascii_space_separates_scopes(server, http, tokens, separator):
    """"read:messages<separator>delete:messages" is one scope, none of ours: the token is valid and opens
    neither route. Asked twice: the second answer comes with the token in the verified-token cache."""
    scope = f"read:messages{separator}delete:messages"
    token = tokens.make(scope=scope)
    for _ in range(2):
        assert _scoped_answers(server, http, token) == [(403, "insufficient_scope")] * 2
    assert server.app.extensions["access_token_validator"].cached(token).scopes == {scope}
    assert _status(server, http, token).status_code == 200


@pytest.mark.parametrize("scope", ["read:messages delete:messages", "read:messages  delete:messages",
                                   " read:messages delete:messages ", "openid read:messages  delete:messages"])
def test_spaces_separate_scopes_and_empty_ones_name_nothing(server, http, tokens, scope):
    token = tokens.make(scope=scope)
    for _ in range(2):
        assert _scoped_answers(server, http, token) == [(200, ""), (404, "not_found")]
    assert "" not in server.app.extensions["access_token_validator"].cached(token).scopes


# -- malformed tokens ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "token",
    [
        "a.b.c", "...", "a..c", "eyJ.eyJ.sig", "x" * 9000, "a.b.c.d", "a.b.c.d.e.f",
        b64url("not json") + "." + b64url("{}") + ".c2ln",
        b64url("[1, 2]") + "." + b64url("{}") + ".c2ln",
        b64url('{"alg": "RS256"') + "." + b64url("{}") + ".c2ln",
        b64url("[" * 300 + "]" * 300) + "." + b64url("{}") + ".c2ln",
        b64url({"alg": "RS256", "kid": "key-1", "pad": "x" * 600}) + "." + b64url("{}") + ".c2ln",
    ],
    ids=lambda t: t[:20],
)
def test_malformed_tokens(server, http, token):
    _refused(server, http, token)


def test_encrypted_token_is_refused(server, http):
    token = ".".join([b64url({"alg": "RSA-OAEP", "enc": "A256GCM"}), "a" * 40, "b" * 16, "c" * 40, "d" * 22])
    _refused(server, http, token, "Encrypted tokens (JWE) are not accepted.")


@pytest.mark.parametrize("payload", ["[1, 2]", '"text"', "null", "not json", "{" * 5000])
def test_signed_payload_that_is_not_an_object(server, http, tokens, payload):
    _refused(server, http, tokens.raw({"kid": "key-1"}, payload), "The token's claims are not a JSON object.")
