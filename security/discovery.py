"""What an issuer's discovery document tells us: where its signing keys are, and its OAuth2 endpoints.

The key set asks where the keys are (``discover_jwks_url``). The docs page's login asks for the
authorize and token endpoints (``ProviderEndpoints``): Auth0's are at well-known paths; any other issuer
publishes them in its discovery document, read lazily (never at start-up), bounded by a timeout and
cached; while it cannot be read, Auth0's paths under the issuer are the documented fallback.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TypeGuard

from .fetch import FetchError, deadline_in, fetch_discovery
from .net import is_allowed_fetch_url, issuer_url

logger = logging.getLogger("security.discovery")

FALLBACK_FOR = 30.0  # seconds during which the fallback is served without a new attempt


def discover_jwks_url(issuer: str, *, deadline: float) -> tuple[str, bool]:
    """Where the issuer's keys are, and whether its discovery document said so (then worth remembering).

    Discovery's ``jwks_uri``; while discovery cannot be read, the well-known JWKS path (Auth0's layout),
    to be tried again by discovery next time. Raises FetchError when the document names no usable
    ``jwks_uri``: a misconfigured issuer is reported rather than guessed around.
    """
    try:
        document = fetch_discovery(issuer, deadline=deadline)
    except FetchError as error:
        fallback = issuer_url(issuer, ".well-known/jwks.json")
        logger.info("oidc discovery unavailable (%s); trying %s", error, fallback)
        return fallback, False
    jwks_uri = document.get("jwks_uri")
    if not isinstance(jwks_uri, str) or not is_allowed_fetch_url(jwks_uri):
        raise FetchError(f"discovery document has no usable jwks_uri ({jwks_uri!r})")
    return jwks_uri, True


@dataclass(frozen=True)
class Endpoints:
    authorize: str
    token: str


def well_known_endpoints(issuer: str) -> Endpoints:
    """Auth0's layout: ``{issuer}authorize`` and ``{issuer}oauth/token``."""
    return Endpoints(authorize=issuer_url(issuer, "authorize"), token=issuer_url(issuer, "oauth/token"))


class ProviderEndpoints:
    """``get()`` answers within ``timeout`` seconds at worst, and fetches at most once per ``ttl``."""

    def __init__(self, issuer: str, *, use_discovery: bool, timeout: float = 2.0, ttl: float = 600.0):
        self.issuer = issuer
        self.use_discovery = use_discovery
        self.timeout = timeout
        self.ttl = ttl
        self.fallback = well_known_endpoints(issuer)
        self._found: Endpoints | None = None
        self._valid_until = float("-inf")
        self._lock = threading.Lock()

    def get(self) -> Endpoints:
        if not self.use_discovery:
            return self.fallback
        # another request is discovering: answer with what is known rather than queue behind it
        if not self._lock.acquire(timeout=self.timeout):
            return self._found or self.fallback
        try:
            if time.monotonic() >= self._valid_until:
                self._found, lifetime = self._discover()
                self._valid_until = time.monotonic() + lifetime
            return self._found or self.fallback
        finally:
            self._lock.release()

    def _discover(self) -> tuple[Endpoints | None, float]:
        try:
            document = fetch_discovery(self.issuer, deadline=deadline_in(self.timeout))
        except FetchError as error:
            logger.warning("oidc discovery failed (%s); docs use %s", error, self.fallback)
            return None, FALLBACK_FOR
        authorize, token = document.get("authorization_endpoint"), document.get("token_endpoint")
        if not (_usable_url(authorize) and _usable_url(token)):
            logger.warning("discovery document lacks usable authorize/token endpoints; docs use %s", self.fallback)
            return None, FALLBACK_FOR
        return Endpoints(authorize=authorize, token=token), self.ttl


def _usable_url(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and is_allowed_fetch_url(value)
