"""The Authorization schemes on protected routes: Bearer, DPoP (RFC 9449), or both (``AUTH_DPOP``).

``AuthorizationSchemes`` is what the protector asks, per request: which validator handles this
``Authorization`` header (Authlib's ``ResourceProtector`` protocol: ``validate_request``,
``authenticate_token``, ``validate_token``), and which challenge a refusal carries.

- ``Authorization: Bearer <token>``: the access-token validator, and a token with any ``cnf`` is
  refused in every mode: a DPoP-bound one (``cnf.jkt``, RFC 9449 §7.2: no downgrade), and one bound in a
  way this API cannot check (``token_binding``). With DPoP taken, a ``DPoP`` header beside a
  Bearer token is refused too (``invalid_request``, as Auth0's SDK does): the client meant DPoP.
- ``Authorization: DPoP <token>`` with exactly one ``DPoP`` header (two headers reach the app joined by
  a comma, which a compact JWS never holds: both are refused). The access token is checked as a Bearer
  one would be, verified-token cache included; it must be bound (``cnf.jkt``), and its proof is then
  checked on every request, against the URL as it reached us (behind ``TRUSTED_PROXIES`` too) and the
  token's binding (security/dpop.py). The answer carries ``DPoP-Nonce`` when the client's nonce is not
  the current one.
- A replay store that cannot answer refuses the request: 503 with ``Retry-After``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import quote

from metrics.catalog import DPOP_ACCEPTED, DPOP_PROOFS, TOKEN_CACHE_HIT

from .dpop import INVALID_PROOF, INVALID_REQUEST, INVALID_TOKEN, REPLAYED, DPoPError, DPoPVerifier, token_binding
from .errors import AuthFailure, InvalidToken, ProofRefused, ReplayCheckUnavailable
from .htu import CACHE_SIZE
from .nonce import DPoPNonces
from .replay import MemoryReplayStore, RedisReplayStore, ReplayStoreUnavailable
from .resource_metadata import metadata_url, resource_identifier
from .schemes import BEARER, BEARER_ONLY, DPOP, DPOP_MODES, OFF, Schemes
from .settings import AuthSettings, DPoPSettings
from .validator import AccessToken, AccessTokenValidator, log_context

__all__ = ["DPOP_MODES", "NEXT_NONCE", "PROOF_MISSING", "AuthorizationSchemes", "replay_scope_note"]

# RFC 6750 §2.1 and RFC 9449 §7.1: scheme 1*SP token68; scheme names are case-insensitive. Spelled out
# rather than re.IGNORECASE, which makes the token's character class five times slower to match.
BEARER_HEADER = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] +([A-Za-z0-9\-._~+/]+=*)")
DPOP_HEADER = re.compile(r"[Dd][Pp][Oo][Pp] +([A-Za-z0-9\-._~+/]+=*)")
PROOF = "HTTP_DPOP"  # the DPoP request header, in the WSGI environ
NEXT_NONCE = "dpop.next_nonce"  # environ key: the DPoP-Nonce a successful answer carries
PROOF_MISSING = "The DPoP scheme needs a DPoP proof in a DPoP header."
PATH_SAFE = "/!$&'()*+,;=:@-._~"  # RFC 3986 pchar and "/", minus "%": a decoded "%" goes back to "%25"


def request_url(environ: dict) -> str:
    """The URL the request reached us at, without its query: scheme, Host and path as the WSGI server
    (and, with TRUSTED_PROXIES, the proxy middleware) left them, the path percent-encoded again. What
    werkzeug's ``request.base_url`` gives, for a fifth of its cost (this runs on every DPoP request)."""
    host = environ.get("HTTP_HOST") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
    path = _quoted_path(environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""))
    return f"{environ['wsgi.url_scheme']}://{host}{path}"


@lru_cache(maxsize=CACHE_SIZE)
def _quoted_path(path: str) -> str:
    """A WSGI path (a str of bytes) percent-encoded again; memoised, as htu.py's normalisation is: a
    client calls the same few paths, and quoting costs more than the lookup."""
    return quote(path.encode("latin-1"), safe=PATH_SAFE)


class AuthorizationSchemes:
    """The schemes an app takes, and the validators behind them."""

    def __init__(self, tokens: AccessTokenValidator, schemes: Schemes = BEARER_ONLY,
                 verifier: DPoPVerifier | None = None, *, public_url: str | None = None):
        """``public_url``: the API's resource identifier (PUBLIC_URL; None: each request's own), whose metadata
        every challenge names."""
        if schemes.dpop and verifier is None:
            raise ValueError("DPoP needs a proof verifier")
        self.tokens = tokens
        self.public_url = public_url
        self.schemes = schemes
        self.verifier = verifier if schemes.dpop else None
        self._bearer = schemes.bearer  # read on every request: a plain attribute

    @classmethod
    def from_settings(cls, auth: AuthSettings, dpop: DPoPSettings,
                      tokens: AccessTokenValidator) -> AuthorizationSchemes:
        """From the app's settings (AUTH_DPOP*): a replay store in this process, or the Redis shared by all."""
        schemes = dpop.schemes
        if not schemes.dpop:
            return cls(tokens, schemes, public_url=auth.public_url)
        store = RedisReplayStore(dpop.replay_url) if dpop.replay_url else MemoryReplayStore()
        nonces = DPoPNonces(dpop.nonce_secret) if dpop.nonce else None
        verifier = DPoPVerifier(dpop.algorithms, replay_store=store, iat_window=dpop.iat_window,
                                leeway=auth.leeway, nonces=nonces)
        return cls(tokens, schemes, verifier, public_url=auth.public_url)

    def cached(self, header: str, environ: dict, required) -> AccessToken | None:
        """The token of a request that nothing can refuse any more but what is checked here, when the
        verified-token cache vouches for it with every scope in ``required``. None: take the full path
        (a cache miss, a missing scope, another spelling of the header), which answers with the precise
        error. The cached token string matched the RFC 6750 / RFC 9449 grammar when it was first checked,
        so parsing the header again could only give the same answer.

        - ``Bearer <token>``: Bearer taken, no DPoP proof beside it and no binding in the token.
        - ``DPoP <token>`` with one proof: the proof is checked here, in full (``DPoPRequest.check_proof``),
          and a refused one raises its AuthFailure; the full path never sees that proof."""
        if header.startswith("Bearer "):
            if not self._bearer or (self.verifier and PROOF in environ):
                return None
            token = self.tokens.cached(header[7:])
            if token is None or "cnf" in token.claims or not token.scopes.issuperset(required):
                return None  # counted by the full path's lookup
            TOKEN_CACHE_HIT.inc()
            return token
        if self.verifier is None or not header.startswith("DPoP "):
            return None
        proof = environ.get(PROOF)
        if proof is None or "," in proof:
            return None
        access_token = header[5:]
        entry = self.tokens.cached_entry(access_token)
        if entry is None or not entry.token.scopes.issuperset(required):
            return None
        TOKEN_CACHE_HIT.inc()
        DPoPRequest(self.tokens, self.verifier, access_token).check_proof(entry.token, environ, entry.sha256)
        return entry.token

    def parse(self, request):
        """Authlib's ``parse_request_authorization``: the validator for this request's scheme, and its token."""
        environ = request.environ
        header = environ.get("HTTP_AUTHORIZATION", "").strip()
        if self.schemes.bearer and (match := BEARER_HEADER.fullmatch(header)):
            if self.verifier and PROOF in environ:
                raise ProofRefused(INVALID_REQUEST, 400,
                                   "A DPoP proof goes with the DPoP scheme: send 'Authorization: DPoP <token>'.")
            return BearerRequest(self.tokens), match.group(1)
        if self.verifier and (match := DPOP_HEADER.fullmatch(header)):
            return DPoPRequest(self.tokens, self.verifier, match.group(1)), match.group(1)
        raise self.schemes.malformed_header() if header else self.schemes.missing_credentials()

    def challenge(self, failure: AuthFailure, request) -> str | None:
        """The ``WWW-Authenticate`` value refusing ``request`` with ``failure``."""
        scheme = request.environ.get("HTTP_AUTHORIZATION", "").strip().partition(" ")[0].lower()
        metadata = metadata_url(resource_identifier(request.environ, self.public_url))
        return self.schemes.challenge(failure, scheme if scheme in (BEARER, DPOP) else None, metadata)


class BearerRequest:
    """A Bearer request's check: the access token's, and no DPoP-bound token (RFC 9449 §7.2)."""

    def __init__(self, tokens: AccessTokenValidator):
        self.tokens = tokens

    def validate_request(self, request) -> None:
        pass

    def authenticate_token(self, token_string: str) -> AccessToken:
        token = self.tokens.authenticate_token(token_string)
        try:
            token_binding(token.claims, BEARER)
        except DPoPError as error:
            raise _refusal(error, token) from None
        return token

    def validate_token(self, token: AccessToken, scopes, request) -> None:
        self.tokens.validate_token(token, scopes, request)


class DPoPRequest:
    """A DPoP request's check, in Authlib's three steps: the header's form, the access token (cached or
    verified), then its binding and the proof, then the route's scopes."""

    def __init__(self, tokens: AccessTokenValidator, verifier: DPoPVerifier, access_token: str):
        self.tokens = tokens
        self.verifier = verifier
        self.access_token = access_token

    def validate_request(self, request) -> None:
        proof = request.environ.get(PROOF)
        if proof is None:
            raise ProofRefused(INVALID_REQUEST, 400, PROOF_MISSING)
        if "," in proof:
            raise ProofRefused(INVALID_PROOF, 400, "Send exactly one DPoP proof: one DPoP header, holding no comma.")

    def authenticate_token(self, token_string: str) -> AccessToken:
        return self.tokens.authenticate_token(token_string)

    def validate_token(self, token: AccessToken, scopes, request) -> None:
        self.check_proof(token, request.environ)
        self.tokens.validate_token(token, scopes, request)

    def check_proof(self, token: AccessToken, environ: dict, access_token_sha256: bytes | None = None) -> None:
        """The token's binding and the request's proof (security/dpop.py), every check on every request;
        the next nonce, if any, goes in ``environ[NEXT_NONCE]``. Raises the AuthFailure that refuses it.
        ``access_token_sha256``: the access token's, when the verified-token cache gave it (for ``ath``)."""
        try:
            bound_to = token_binding(token.claims, DPOP)
            proof = self.verifier.verify(environ[PROOF], method=environ["REQUEST_METHOD"], url=request_url(environ),
                                         access_token=self.access_token, bound_to=bound_to,
                                         access_token_sha256=access_token_sha256)
        except DPoPError as error:
            if error.error != INVALID_TOKEN:  # a binding fault is the token's, not the proof's
                DPOP_PROOFS.labels(outcome="replayed" if error.description == REPLAYED else "refused").inc()
            raise _refusal(error, token) from None
        except ReplayStoreUnavailable:
            DPOP_PROOFS.labels(outcome="unchecked").inc()
            raise ReplayCheckUnavailable(context=log_context(token)) from None
        DPOP_ACCEPTED.inc()
        if proof.next_nonce:
            environ[NEXT_NONCE] = proof.next_nonce


def _refusal(error: DPoPError, token: AccessToken) -> AuthFailure:
    """The protector's error for a DPoP refusal: a binding fault is an invalid token (RFC 9449 §7.1)."""
    if error.error == INVALID_TOKEN:
        return InvalidToken(error.description, reason="dpop_binding", context=log_context(token))
    return ProofRefused(error.error, error.status_code, error.description, nonce=error.nonce,
                        context=log_context(token))



def replay_scope_note(dpop: DPoPSettings, workers: int) -> str | None:
    """The start-up line for several workers sharing no replay store (None when there is nothing to say);
    gunicorn.conf.py logs it once, from the master."""
    if dpop.mode == OFF or dpop.replay_url or workers < 2:
        return None
    return (f"DPoP replays are caught per worker only: each of the {workers} workers remembers the proofs it "
            "accepted, so a proof replayed to another worker (or instance) is accepted there; set "
            "AUTH_DPOP_REPLAY_URL to one Redis for all of them")
