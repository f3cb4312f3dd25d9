"""Property-based fuzzing: whatever a caller sends, the answer is a documented status, never a 500."""

from __future__ import annotations

import base64
import binascii
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc.jws import JWSRegistry

from tests.support.tokens import b64url, sign

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
ERROR_KEYS = {"error", "error_description"}
BASE64URL = set(string.ascii_letters + string.digits + "-_")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)


def _check(client, authorization, route="/api/private-scoped", allowed=(401,)):
    response = client.get(route, headers={"Authorization": authorization})
    assert response.status_code in allowed, (authorization[:80], response.status_code, response.get_data())
    if response.status_code >= 400:
        assert set(response.get_json()) == ERROR_KEYS
    return response


@FUZZ
@given(header=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=300))
def test_any_authorization_header(app, header):
    _check(app.test_client(), header)


@FUZZ
@given(token=st.text(alphabet=string.ascii_letters + string.digits + "-_.~+/=", max_size=400))
def test_any_bearer_token_text(app, token):
    _check(app.test_client(), f"Bearer {token}")


@FUZZ
@given(position=st.integers(min_value=0), char=st.sampled_from(string.ascii_letters + string.digits + "-_."))
def test_mutated_valid_token(app, tokens, position, char):
    token = tokens.make(scope="read:messages")
    position %= len(token)
    mutated = token[:position] + char + token[position + 1:]
    # 200 only when the mutation changed no byte the three parts decode to (a final character's unused bits;
    # a strict decoder may still refuse that spelling): anything else is another header, payload or signature
    unchanged = _decoded(mutated) == _decoded(token)
    _check(app.test_client(), f"Bearer {mutated}", allowed=(200, 401) if unchanged and mutated != token
           else (200,) if unchanged else (401,))


def _decoded(token: str) -> list[bytes] | None:
    """The bytes of a compact JWS's three parts, as a lenient base64url decoder reads them; None if it cannot."""
    parts = token.split(".")
    if len(parts) != 3 or any(not set(part) <= BASE64URL for part in parts):
        return None
    try:
        return [base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)) for part in parts]
    except (binascii.Error, ValueError):
        return None


@FUZZ
@given(extra_header=st.dictionaries(st.sampled_from(["alg", "kid", "typ", "crit", "jku", "jwk", "b64", "cty", "x5c",
                                                     "zip"]), json_values, max_size=4),
       claims=st.dictionaries(st.sampled_from(["iss", "aud", "exp", "nbf", "iat", "sub", "scope", "permissions"]),
                              json_values, max_size=5))
def test_signed_tokens_with_arbitrary_header_and_claims(app, tokens, extra_header, claims):
    header = {"alg": "RS256", "kid": "key-1", **extra_header}
    token = sign(header, tokens.claims(**claims), tokens.key, alg="RS256")
    _check(app.test_client(), f"Bearer {token}", allowed=(200, 401, 403))


@FUZZ
@given(payload=st.binary(max_size=200))
def test_signed_arbitrary_payload_bytes(app, tokens, payload):
    signing_input = f"{b64url({'alg': 'RS256', 'kid': 'key-1'})}.{b64url(payload)}"
    signature = JWSRegistry.algorithms["RS256"].sign(signing_input.encode(), tokens.key)
    _check(app.test_client(), f"Bearer {signing_input}.{b64url(signature)}")
