"""A provider's OAuth2 endpoints (authorize, token), for the docs page's login.

Auth0's are at well-known paths. Any other issuer publishes them in its discovery document, read
lazily (never at start-up), bounded by a timeout and cached; while it cannot be read, Auth0's paths
under the issuer are the documented fallback.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from .keys import FetchError, fetch_discovery
from .net import is_allowed_fetch_url, issuer_url

logger = logging.getLogger("security.discovery")

FALLBACK_FOR = 30.0  # seconds during which the fallback is served without a new attempt


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
            document = fetch_discovery(self.issuer, self.timeout)
        except FetchError as error:
            logger.warning("oidc discovery failed (%s); docs use %s", error, self.fallback)
            return None, FALLBACK_FOR
        authorize, token = document.get("authorization_endpoint"), document.get("token_endpoint")
        if not all(isinstance(u, str) and is_allowed_fetch_url(u) for u in (authorize, token)):
            logger.warning("discovery document lacks usable authorize/token endpoints; docs use %s", self.fallback)
            return None, FALLBACK_FOR
        return Endpoints(authorize=authorize, token=token), self.ttl
