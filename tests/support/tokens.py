"""Keys and tokens: RSA and EC keys made in the test session, access tokens built field by field, and a
signer that signs whatever header and payload it is given."""

from __future__ import annotations

import base64
import json
import time
import uuid

from joserfc.jwk import ECKey, RSAKey
from joserfc.jws import JWSRegistry

AUDIENCE = "https://messages.test/api"


def b64url(data: bytes | str | dict) -> str:
    if isinstance(data, dict):
        data = json.dumps(data)
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def rsa_key(kid: str | None = None, size: int = 2048) -> RSAKey:
    return RSAKey.generate_key(size, parameters={"kid": kid or uuid.uuid4().hex, "use": "sig", "alg": "RS256"})


def ec_key(kid: str | None = None) -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": kid or uuid.uuid4().hex, "use": "sig", "alg": "ES256"})


class Tokens:
    """Builds access tokens for one provider; every field can be overridden or removed (None)."""

    def __init__(self, issuer: str, key, audience: str = AUDIENCE):
        self.issuer = issuer
        self.key = key
        self.audience = audience

    def claims(self, **overrides) -> dict:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": "auth0|user-1",
            "aud": [self.audience, "https://tenant.example/userinfo"],
            "iat": now,
            "exp": now + 3600,
            "azp": "client-1",
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def header(self, key=None, **overrides) -> dict:
        key = key or self.key
        header = {"alg": key.get("alg") or "RS256", "typ": "JWT", "kid": key.kid}
        header.update(overrides)
        return {k: v for k, v in header.items() if v is not None}

    def make(self, key=None, header: dict | None = None, *, jkt: str | None = None, **claims) -> str:
        """``jkt``: bind the token to the DPoP key with this RFC 7638 thumbprint (``cnf.jkt``)."""
        key = key or self.key
        if jkt is not None:
            claims["cnf"] = {"jkt": jkt}
        return sign(self.header(key, **(header or {})), self.claims(**claims), key)

    def raw(self, header: dict, payload: str, key=None) -> str:
        """Signs an arbitrary payload text with a real key (for malformed-but-signed tokens)."""
        key = key or self.key
        return sign({"alg": key.get("alg") or "RS256", **header}, payload, key)


def sign(header: dict, payload: dict | str, key, alg: str | None = None) -> str:
    """A compact JWS over exactly these bytes, whatever the header says (libraries refuse odd headers)."""
    alg = alg or (header.get("alg") if isinstance(header.get("alg"), str) else None) or key.get("alg") or "RS256"
    signing_input = f"{b64url(header)}.{b64url(payload)}"
    signer = JWSRegistry.algorithms.get(alg) or JWSRegistry.algorithms[key.get("alg") or "RS256"]
    signature = signer.sign(signing_input.encode(), key)
    return f"{signing_input}.{b64url(signature)}"
