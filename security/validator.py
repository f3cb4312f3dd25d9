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
from typing import Callable, Sequence

from authlib.oauth2.rfc6750 import BearerTokenValidator
from joserfc import jws
from joserfc.errors import ExpiredTokenError, JoseError
from joserfc.jwk import ECKey, Key, OKPKey, RSAKey
from joserfc.jws import JWSRegistry
from joserfc.jwt import JWTClaimsRegistry

from metrics.catalog import TOKEN_CACHE_HIT, TOKEN_CACHE_MISS

from .delegation import current_actor
from .errors import InsufficientScope, InvalidToken
from .keys import KeySetCache
from .scopes import scope_tokens
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
    """A validated token: its claims, the scopes it grants, the key that signed it, and who acts for its
    subject (``actor``: the outermost ``act.sub``, security/delegation.py; None when the subject acts itself).
    Kept by the verified-token cache, so it holds nothing more."""

    claims: dict
    scopes: frozenset[str]
    kid: str | None = None
    actor: str | None = None


def log_context(token: AccessToken) -> dict:
    """What a refusal's log line says of an accepted token: its key, issuer and actor."""
    return {"kid": token.kid, "iss": token.claims.get("iss"), "actor": token.actor}


def granted_scopes(claims: dict) -> frozenset[str]:
    """Scopes from the ``scope`` claim (split on the ASCII space only: security/scopes.py) and Auth0
    RBAC's ``permissions`` array (each item as it is).

    A claim of the wrong type makes the token invalid rather than silently granting nothing.
    """
    scope = claims.get("scope", "")
    permissions = claims.get("permissions", [])
    if not isinstance(scope, str):
        raise InvalidToken("The token's scope claim is malformed.", reason="malformed_scope")
    if not isinstance(permissions, list) or not all(isinstance(p, str) for p in permissions):
        raise InvalidToken("The token's permissions claim is malformed.", reason="malformed_scope")
    return frozenset(scope_tokens(scope)) | frozenset(permissions)


def required_scopes(scopes) -> tuple[str, ...]:
    """The scopes a route requires, from Authlib's ``scopes`` argument: None and empty names are ignored."""
    return tuple(s for s in scopes or () if s)


class AccessTokenValidator(BearerTokenValidator):
    """Validates a bearer JWT against its issuer's key set, the audiences and the algorithms.

    Several issuers: ``issuer`` lists them and ``keys`` gives each its own key set, in the same order.
    The token's (still unverified) ``iss`` picks the key set, so an issuer's keys only ever verify tokens
    claiming that issuer, and a token naming another issuer is refused before any key is looked up or
    fetched; the verified claims must then name that same issuer.
    """

    def __init__(
        self,
        keys: KeySetCache | Sequence[KeySetCache],
        *,
        issuer: str | Sequence[str],
        audience: str | Sequence[str],
        algorithms: tuple[str, ...],
        leeway: int,
        cache_size: int,
        cache_ttl: float,
        clock: Callable[[], float] = time.time,
    ):
        """Every value comes from the settings (security/settings.py holds the defaults). ``cache_size`` > 0
        keeps that many verified tokens for up to ``cache_ttl`` seconds; 0 turns the cache off.

        ``clock`` (epoch seconds) judges ``exp``, ``nbf`` and ``iat`` and the cache's expiry; tests
        pass their own to move time without waiting.
        """
        super().__init__()
        issuers = (issuer,) if isinstance(issuer, str) else tuple(issuer)
        key_sets = (keys,) if isinstance(keys, KeySetCache) else tuple(keys)
        if not issuers or len(issuers) != len(key_sets):
            raise ValueError("give one key set per issuer")
        self.key_sets: dict[str, KeySetCache] = dict(zip(issuers, key_sets, strict=True))
        self.keys = key_sets[0]  # the first issuer's
        self._sole_keys = self.keys if len(key_sets) == 1 else None  # the cache's check, without a lookup
        self.issuer = issuers[0]
        self.audiences = (audience,) if isinstance(audience, str) else tuple(audience)
        self.audience = self.audiences[0]
        self.algorithms = tuple(algorithms)
        self.leeway = leeway
        self._clock = clock
        # Built once, not per request: a registry that knows only our algorithms, and no header
        # checks of its own beyond the RFC (ours below are stricter where it matters)...
        self._jws_registry = JWSRegistry(algorithms=list(self.algorithms), strict_check_header=False)
        # ...and the registered-claims rules, read against ``clock``.
        self._claims_registry = JWTClaimsRegistry(
            now=clock,  # type: ignore[arg-type]  # annotated int; a float clock keeps sub-second precision
            leeway=self.leeway,
            iss={"essential": True, "values": list(self.key_sets)},
            aud={"essential": True, "values": list(self.audiences)},  # one of them in aud is enough
            exp={"essential": True},
        )
        self.cache: VerifiedTokenCache | None = None
        if cache_size > 0 and cache_ttl > 0:
            self.cache = VerifiedTokenCache(cache_size, cache_ttl, clock=clock)
            for key_set in key_sets:
                key_set.on_change = self.cache.forget_kids

    # -- Authlib's BearerTokenValidator interface -----------------------------------------------

    def authenticate_token(self, token_string: str) -> AccessToken:
        token = self.cached(token_string)
        if token is not None:
            TOKEN_CACHE_HIT.inc()
            return token
        if self.cache is not None:
            TOKEN_CACHE_MISS.inc()
        token, key = self._validate(token_string)
        if self.cache is not None:
            self._remember(self.cache, token_string, token, key)
        return token

    def cached(self, token_string: str) -> AccessToken | None:
        """The token, when it passed every check before and nothing since can have changed the outcome:
        it is inside its time window (read now) and the issuer's key set is the one it was verified
        against. None means: run the full check."""
        entry = self.cached_entry(token_string)
        return None if entry is None else entry.token

    def cached_entry(self, token_string: str) -> Verified | None:
        """``cached``'s answer with the rest of its cache entry (the token string's SHA-256 among it)."""
        if self.cache is None:
            return None
        entry = self.cache.get(token_string)
        if entry is None:
            return None
        keys = self._sole_keys or self.key_sets[entry.token.claims["iss"]]  # a verified iss is one of ours
        return entry if entry.key_set is keys.key_set else None

    def _remember(self, cache: VerifiedTokenCache, token_string: str, token: AccessToken, key: Key) -> None:
        keys = self.key_sets[token.claims["iss"]]
        key_set = keys.key_set
        if key_set is None or not any(held is key for held in key_set.keys):
            return  # the set changed while we were verifying: nothing to vouch for
        claims, leeway = token.claims, self.leeway
        not_before = max(claims.get("nbf", float("-inf")), claims.get("iat", float("-inf"))) - leeway
        deadline = min(claims["exp"] + leeway, self._clock() + keys.fresh_for())
        cache.put(token_string, Verified(token, key_set, not_before, deadline))

    def _validate(self, token_string: str) -> tuple[AccessToken, Key]:
        """Every check, signature included; raises InvalidToken (or SigningKeysUnavailable)."""
        obj = self._parse(token_string)
        header = obj.headers()
        kid = self._check_header(header)
        claims = self._claims(obj.payload, kid)  # read before the signature check: its iss picks the keys
        keys = self._key_set_for(claims, kid)
        key = self._key_for(keys, kid, header["alg"])
        self._verify_signature(obj, key, kid)
        self.check_time_and_audience(claims, kid)
        try:
            actor = current_actor(claims)
        except InvalidToken as error:
            error.context = self._log_context(kid, claims)
            raise
        token = AccessToken(claims=claims, scopes=granted_scopes(claims), kid=kid, actor=actor)
        return token, key

    def validate_token(self, token: AccessToken, scopes, request) -> None:
        """Every scope the route requires must be granted."""
        required = required_scopes(scopes)
        if not token.scopes.issuperset(required):
            raise InsufficientScope(list(required), context=log_context(token))

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

    def _key_set_for(self, claims: dict, kid: str | None) -> KeySetCache:
        """The key set of the issuer the token names; refused, with nothing fetched, for any other issuer."""
        iss = claims.get("iss")
        keys = self.key_sets.get(iss) if isinstance(iss, str) else None
        if keys is not None:
            return keys
        context = self._log_context(kid, claims)
        if iss is None:
            raise InvalidToken("The token has no iss claim.", reason="missing_iss", context=context)
        description = CLAIM_PROBLEMS["iss"] if isinstance(iss, str) else "The token's iss claim is malformed."
        raise InvalidToken(description, reason="bad_iss", context=context)

    def _key_for(self, keys: KeySetCache, kid: str | None, alg: str) -> Key:
        key = keys.get(kid)
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
        return {"kid": kid, "iss": claims.get("iss"), "actor": _actor_or_none(claims)}


def _actor_or_none(claims: dict) -> str | None:
    """The actor for a log line: None when ``act`` is malformed (that is logged as the reason)."""
    try:
        return current_actor(claims)
    except InvalidToken:
        return None
