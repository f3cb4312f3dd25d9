"""Minting the local issuer's access tokens: RFC 9068 JWTs the API's own validator accepts."""

from __future__ import annotations

import time
import uuid

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from joserfc.jwt import JWTClaimsRegistry

DEFAULT_LIFETIME = 3600  # seconds


def mint(
    key: RSAKey,
    *,
    issuer: str,
    audience: str,
    subject: str,
    client_id: str,
    scopes: list[str] | tuple[str, ...] = (),
    expires_in: int = DEFAULT_LIFETIME,
    jkt: str | None = None,
    login: dict | None = None,
) -> str:
    """A signed access token. No ``scope`` claim when no scope is granted (``""`` is not a valid one).
    ``jkt``: the thumbprint of the client's DPoP key, which the token is then bound to (``cnf``, RFC 9449 §6).
    ``login``: more claims about who is behind it (``acr``, ``auth_time``, ``act``), as given."""
    now = int(time.time())
    claims = {
        "iss": issuer,
        "sub": subject,
        "aud": audience,
        "iat": now,
        "exp": now + expires_in,
        "jti": uuid.uuid4().hex,
        "client_id": client_id,
    }
    if scopes:
        claims["scope"] = " ".join(scopes)
    if jkt:
        claims["cnf"] = {"jkt": jkt}
    claims.update(login or {})
    header = {"alg": "RS256", "typ": "at+jwt", "kid": key.kid}
    return jwt.encode(header, claims, key, algorithms=["RS256"])


def read(key: RSAKey, token: str, *, issuer: str, audience: str) -> dict | None:
    """The claims of ``token`` when ``key`` signed it for ``audience`` as ``issuer`` and it has not expired;
    None otherwise (the token exchange's subject token: only this issuer's own, still valid)."""
    rules = JWTClaimsRegistry(iss={"essential": True, "value": issuer}, aud={"essential": True, "value": audience},
                              exp={"essential": True}, sub={"essential": True})
    try:
        claims = jwt.decode(token, key, algorithms=["RS256"]).claims
        rules.validate(claims)
    except (JoseError, ValueError, TypeError):
        return None
    return claims if isinstance(claims.get("sub"), str) else None
