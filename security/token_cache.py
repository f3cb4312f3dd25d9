"""Tokens that already passed full validation, so a repeat request skips the signature check.

Safety rules (see README, "Deploying"):
- only tokens that passed every check are stored; refusals are never cached, so an attacker can
  fill the cache only with valid tokens from the issuer, never with garbage;
- entries are keyed by the SHA-256 of the token string: the cache never holds a usable token;
- an entry lives no longer than the token's ``exp`` plus leeway, nor ``ttl`` seconds;
- the cache is bounded (least recently used entries go first) and thread-safe;
- ``forget_kids`` drops the entries signed by keys that left the key set.
The caller still re-checks the time claims and the route's scopes on every use.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable

from cachetools import LRUCache
from joserfc.jwk import Key

if TYPE_CHECKING:
    from .validator import AccessToken


def wall_clock() -> int:
    """Seconds since the epoch, as whole seconds: the unit of ``exp``, ``nbf`` and ``iat``."""
    return int(time.time())


@dataclass(frozen=True)
class Verified:
    """A cache entry: the validated token and the very key object that verified its signature."""

    token: "AccessToken"
    key: Key


class VerifiedTokenCache:
    """A bounded, thread-safe map from SHA-256(token string) to its ``Verified`` entry."""

    def __init__(self, maxsize: int, ttl: float, *, leeway: int = 0, clock: Callable[[], float] = wall_clock):
        if maxsize < 1 or ttl <= 0:
            raise ValueError("a token cache needs a size and a TTL above zero; use no cache instead")
        self.ttl = ttl
        self.leeway = leeway
        self.clock = clock
        # an LRU bound from cachetools, each entry with its own deadline (checked on every read):
        # half the cost of cachetools' TLRUCache, whose timer machinery runs on every lookup
        self._entries: LRUCache[bytes, tuple[Verified, float]] = LRUCache(maxsize)
        self._lock = threading.Lock()

    @staticmethod
    def digest(token_string: str) -> bytes:
        return hashlib.sha256(token_string.encode()).digest()

    def get(self, token_string: str) -> Verified | None:
        digest = self.digest(token_string)
        with self._lock:
            held = self._entries.get(digest)
            if held is None:
                return None
            if self.clock() < held[1]:
                return held[0]
            del self._entries[digest]
            return None

    def put(self, token_string: str, entry: Verified) -> None:
        now = self.clock()
        deadline = min(now + self.ttl, entry.token.claims["exp"] + self.leeway)
        if deadline <= now:
            return
        digest = self.digest(token_string)
        with self._lock:
            self._entries[digest] = (entry, deadline)

    def _drop_expired(self) -> None:
        now = self.clock()
        for digest in [d for d, (_, deadline) in self._entries.items() if deadline <= now]:
            del self._entries[digest]

    def forget_kids(self, kids: Iterable[str]) -> None:
        """Drop every entry whose token names one of ``kids`` (they left the issuer's key set)."""
        gone = set(kids)
        with self._lock:
            self._drop_expired()
            stale = [digest for digest, (entry, _) in self._entries.items() if entry.token.kid in gone]
            for digest in stale:
                del self._entries[digest]

    def __len__(self) -> int:
        with self._lock:
            self._drop_expired()
            return len(self._entries)

    @property
    def maxsize(self) -> int:
        return int(self._entries.maxsize)
