"""Access-token validation: an Authlib bearer validator that decodes with joserfc.

Why not Authlib's stock JWT validators: rfc7523's demands ``client_id``/``grant_type`` and ignores
leeway on ``exp``; rfc9068's refuses Auth0's ``typ: JWT`` tokens and demands ``jti``. Both read
scopes from ``scope`` only. This one accepts Auth0's default tokens and RFC 9068 tokens alike, and
refuses everything in the JWT attack catalogue (RFC 8725) with a reason a client can act on.
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass
from typing import Callable

from authlib.oauth2.rfc6750 import BearerTokenValidator
from joserfc import jws
from joserfc.errors import ExpiredTokenError, JoseError
from joserfc.jwk import ECKey, Key, OKPKey, RSAKey
from joserfc.jws import JWSRegistry
from joserfc.jwt import JWTClaimsRegistry

from .errors import InsufficientScope, InvalidToken
from .keys import KeySetCache
from .token_cache import Verified, VerifiedTokenCache

MAX_TOKEN_LENGTH = 8192
COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
COMPACT_JWE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
# Auth0's default tokens say "JWT"; RFC 9068 tokens say "at+jwt". Anything else (an ID token with a
# distinct type, a DPoP proof, a logout token...) is another kind of JWT and is not an access token.
ACCEPTED_TYPES = frozenset({"jwt", "at+jwt", "application/at+jwt"})
KEY_TYPES = {"RS": RSAKey, "PS": RSAKey, "ES": ECKey, "Ed": OKPKey}

EXPIRED = "The token has expired."  # also the docs' example of an invalid token
#: What a well-typed registered claim can still be refused for, by its value.
CLAIM_PROBLEMS = {
    "iss": "The token was issued by another issuer.",
    "aud": "The token is not meant for this API (audience).",
    "nbf": "The token is not valid yet (nbf).",
    "iat": "The token was issued in the future (iat).",
}


def _numeric_date(value) -> bool:
    """RFC 7519's NumericDate: a JSON number, finite (an exp of NaN would never expire), and not true/false."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def _string(value) -> bool:
    return isinstance(value, str)


def _audience(value) -> bool:
    return isinstance(value, str) or (isinstance(value, list) and all(isinstance(item, str) for item in value))


#: The JSON type each registered claim must have when present (RFC 7519 §4.1).
CLAIM_TYPES = {"iss": _string, "sub": _string, "aud": _audience, "exp": _numeric_date, "nbf": _numeric_date,
               "iat": _numeric_date, "jti": _string}


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A validated token: its claims, the scopes it grants and the key that signed it. Kept by the
    verified-token cache, so it holds nothing more."""

    claims: dict
    scopes: frozenset[str]
    kid: str | None = None


def granted_scopes(claims: dict) -> frozenset[str]:
    """Scopes from the space-delimited ``scope`` claim and Auth0 RBAC's ``permissions`` array.

    A claim of the wrong type makes the token invalid rather than silently granting nothing.
    """
    scope = claims.get("scope", "")
    permissions = claims.get("permissions", [])
    if not isinstance(scope, str):
        raise InvalidToken("The token's scope claim is malformed.", reason="malformed_scope")
    if not isinstance(permissions, list) or not all(isinstance(p, str) for p in permissions):
        raise InvalidToken("The token's permissions claim is malformed.", reason="malformed_scope")
    return frozenset(scope.split()) | frozenset(permissions)


def required_scopes(scopes) -> tuple[str, ...]:
    """The scopes a route requires, from Authlib's ``scopes`` argument: None and empty names are ignored."""
    return tuple(s for s in scopes or () if s)


class AccessTokenValidator(BearerTokenValidator):
    """Validates a bearer JWT against one issuer's key set, audience and algorithms."""

    def __init__(
        self,
        keys: KeySetCache,
        *,
        issuer: str,
        audience: str,
        algorithms: tuple[str, ...],
        leeway: int,
        cache_size: int,
        cache_ttl: float,
        clock: Callable[[], float] = time.time,
    ):
        """Every value comes from the settings (app/settings.py holds the defaults). ``cache_size`` > 0
        keeps that many verified tokens for up to ``cache_ttl`` seconds; 0 turns the cache off.

        ``clock`` (epoch seconds) judges ``exp``, ``nbf`` and ``iat`` and the cache's expiry; tests
        pass their own to move time without waiting.
        """
        super().__init__()
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.algorithms = tuple(algorithms)
        self.leeway = leeway
        self._clock = clock
        # Built once, not per request: a registry that knows only our algorithms, and no header
        # checks of its own beyond the RFC (ours below are stricter where it matters)...
        self._jws_registry = JWSRegistry(algorithms=list(self.algorithms), strict_check_header=False)
        # ...and the registered-claims rules, read against ``clock``.
        self._claims_registry = JWTClaimsRegistry(
            now=clock,
            leeway=self.leeway,
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": self.audience},
            exp={"essential": True},
        )
        self.cache: VerifiedTokenCache | None = None
        if cache_size > 0 and cache_ttl > 0:
            self.cache = VerifiedTokenCache(cache_size, cache_ttl, clock=clock)
            keys.on_change = self.cache.forget_kids

    # -- Authlib's BearerTokenValidator interface -----------------------------------------------

    def authenticate_token(self, token_string: str) -> AccessToken:
        token = self.cached(token_string)
        if token is None:
            token, key = self._validate(token_string)
            if self.cache is not None:
                self._remember(token_string, token, key)
        return token

    def cached(self, token_string: str) -> AccessToken | None:
        """The token, when it passed every check before and nothing since can have changed the outcome:
        it is inside its time window (read now) and the issuer's key set is the one it was verified
        against. None means: run the full check."""
        if self.cache is None:
            return None
        entry = self.cache.get(token_string)
        if entry is None or entry.key_set is not self.keys.key_set:
            return None
        return entry.token

    def _remember(self, token_string: str, token: AccessToken, key: Key) -> None:
        key_set = self.keys.key_set
        if key_set is None or not any(held is key for held in key_set.keys):
            return  # the set changed while we were verifying: nothing to vouch for
        claims, leeway = token.claims, self.leeway
        not_before = max(claims.get("nbf", float("-inf")), claims.get("iat", float("-inf"))) - leeway
        deadline = min(claims["exp"] + leeway, self._clock() + self.keys.fresh_for())
        self.cache.put(token_string, Verified(token, key_set, not_before, deadline))

    def _validate(self, token_string: str) -> tuple[AccessToken, Key]:
        """Every check, signature included; raises InvalidToken (or SigningKeysUnavailable)."""
        obj = self._parse(token_string)
        header = obj.headers()
        kid = self._check_header(header)
        key = self._key_for(kid, header["alg"])
        self._verify_signature(obj, key, kid)
        claims = self._claims(obj.payload, kid)
        self.check_time_and_audience(claims, kid)
        token = AccessToken(claims=claims, scopes=granted_scopes(claims), kid=kid)
        return token, key

    def validate_token(self, token: AccessToken, scopes, request) -> None:
        """Every scope the route requires must be granted."""
        required = required_scopes(scopes)
        if not token.scopes.issuperset(required):
            raise InsufficientScope(list(required), context=self._log_context(token.kid, token.claims))

    # -- steps -------------------------------------------------------------------------------------

    def _parse(self, token: str):
        if len(token) > MAX_TOKEN_LENGTH:
            raise InvalidToken("The token is too large.", reason="malformed")
        if COMPACT_JWE.fullmatch(token):
            raise InvalidToken("Encrypted tokens (JWE) are not accepted.", reason="malformed")
        if not COMPACT_JWS.fullmatch(token):
            raise InvalidToken("The token is not a signed JWT.", reason="malformed")
        try:
            obj = jws.extract_compact(token.encode("ascii"), registry=self._jws_registry)
        except (JoseError, ValueError, TypeError, RecursionError):
            raise InvalidToken("The token is not a signed JWT.", reason="malformed") from None
        if not isinstance(obj.headers(), dict):
            raise InvalidToken("The token header is malformed.", reason="malformed")
        return obj

    def _check_header(self, header: dict) -> str | None:
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            # also refuses "none", HS* (key confusion) and anything not configured
            raise InvalidToken("The token's signing algorithm is not accepted.", reason="bad_algorithm")
        if "crit" in header:
            raise InvalidToken("The token has critical header parameters this API does not understand.",
                               reason="unsupported_crit")
        if "b64" in header:
            raise InvalidToken("Unencoded-payload tokens (b64) are not accepted.", reason="malformed")
        typ = header.get("typ")
        if typ is not None and (not isinstance(typ, str) or typ.lower() not in ACCEPTED_TYPES):
            raise InvalidToken("The token is not an access token (typ).", reason="bad_type")
        kid = header.get("kid")
        if kid is not None and (not isinstance(kid, str) or not kid or len(kid) > 256):
            raise InvalidToken("The token's key id (kid) is malformed.", reason="malformed")
        # jku, x5u, x5c and jwk are ignored on purpose: keys come from the configured set only.
        return kid

    def _key_for(self, kid: str | None, alg: str) -> Key:
        key = self.keys.get(kid)
        if key is None:
            if kid is None:
                raise InvalidToken("The token names no key (kid) and the issuer has several.", reason="unknown_kid")
            raise InvalidToken("The token was signed by an unknown key (kid).", reason="unknown_kid",
                               context={"kid": kid})
        key_alg = key.get("alg")
        if not isinstance(key, KEY_TYPES[alg[:2]]) or (key_alg and key_alg != alg):
            raise InvalidToken("The token's algorithm does not match its key.", reason="bad_algorithm",
                               context={"kid": kid})
        return key

    def _verify_signature(self, obj, key: Key, kid: str | None) -> None:
        try:
            valid = jws.validate_compact(obj, key, registry=self._jws_registry)
        except (JoseError, ValueError, TypeError):
            valid = False
        if not valid:
            raise InvalidToken("The token's signature is invalid.", reason="bad_signature", context={"kid": kid})

    def _claims(self, payload: bytes, kid: str | None) -> dict:
        try:
            claims = json.loads(payload)
        except (ValueError, TypeError, RecursionError):
            claims = None
        if not isinstance(claims, dict):
            raise InvalidToken("The token's claims are not a JSON object.", reason="malformed", context={"kid": kid})
        return claims

    def check_time_and_audience(self, claims: dict, kid: str | None) -> None:
        """Registered claims: present where required, of their JSON type, then iss exactly, aud equal or
        contained, exp, nbf and iat against the clock with leeway (joserfc's rules)."""
        context = self._log_context(kid, claims)
        for name in sorted(self._claims_registry.essential_keys):
            if claims.get(name) is None:
                raise InvalidToken(f"The token has no {name} claim.", reason=f"missing_{name}", context=context)
        for name, has_its_type in CLAIM_TYPES.items():
            if name in claims and not has_its_type(claims[name]):
                raise InvalidToken(f"The token's {name} claim is malformed.", reason=f"bad_{name}", context=context)
        try:
            self._claims_registry.validate(claims)
        except ExpiredTokenError:
            raise InvalidToken(EXPIRED, reason="expired", context=context) from None
        except JoseError as error:  # a value joserfc refuses: another issuer or audience, a time to come
            claim = getattr(error, "claim", None) or "claims"
            raise InvalidToken(CLAIM_PROBLEMS.get(claim, "The token's claims are invalid."), reason=f"bad_{claim}",
                               context=context) from None

    @staticmethod
    def _log_context(kid, claims) -> dict:
        return {"kid": kid, "iss": claims.get("iss")}
