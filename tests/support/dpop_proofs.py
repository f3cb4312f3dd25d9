"""DPoP proofs for the tests: well-formed ones, and any field changed or removed, signed with real keys."""

from __future__ import annotations

import functools
import time
import uuid

from requests_oauth2client import DPoPKey

from security.dpop import access_token_hash
from tests.support.tokens import ec_key, sign

URL = "https://api.example/api/private"
ACCESS_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJl"


class Proofs:
    """Builds proofs for one key; ``None`` removes a field, ``key=`` signs with another key than the jwk's."""

    def __init__(self, key=None, alg: str = "ES256", clock=time.time):
        self.key = key or ec_key()
        self.alg = alg
        self.clock = clock

    @property
    def jwk(self) -> dict:
        return self.key.as_dict(private=False)

    def header(self, **overrides) -> dict:
        header = {"typ": "dpop+jwt", "alg": self.alg, "jwk": self.jwk}
        header.update(overrides)
        return {k: v for k, v in header.items() if v is not None}

    def claims(self, **overrides) -> dict:
        claims = {"jti": uuid.uuid4().hex, "htm": "GET", "htu": URL, "iat": int(self.clock()),
                  "ath": access_token_hash(ACCESS_TOKEN)}
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def make(self, header: dict | None = None, key=None, alg: str | None = None, **claims) -> str:
        return sign(self.header(**(header or {})), self.claims(**claims), key or self.key, alg=alg or self.alg)

    def raw(self, payload: str, header: dict | None = None) -> str:
        """A proof over an arbitrary payload text, correctly signed."""
        return sign(self.header(**(header or {})), payload, self.key, alg=self.alg)


def independent_key(alg: str) -> DPoPKey:
    """A key of requests-oauth2client (the independent client), as ``DPoPKey.generate(alg=alg)`` makes it: a new
    DPoPKey, without nonces, around a private key made once per algorithm in the run (its RSA keys have 4,096
    bits: seconds each)."""
    return DPoPKey(private_key=_private_key(alg))


@functools.cache
def _private_key(alg: str):
    return DPoPKey.generate(alg=alg).private_key
