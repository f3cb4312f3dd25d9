"""Tokens that already passed full validation, so a repeat request skips the signature check.

Safety rules (see README, "Deploying"):
- only tokens that passed every check are stored; refusals are never cached, so an attacker can
  fill the cache only with valid tokens from the issuer, never with garbage;
- entries are keyed by the SHA-256 of the token string: the cache never holds a usable token;
- an entry is served only inside its window: from the token's ``nbf``/``iat`` (minus leeway) until
  its ``exp`` (plus leeway), ``ttl`` seconds at most, and no later than the key set's next refresh;
  the window is checked on every read, against the clock of that moment;
- the cache is bounded (the oldest entries go first) and thread-safe;
- ``forget_kids`` drops the entries signed by keys that left the key set.
The caller checks that the key set is still the one the entry was verified against, and the route's
scopes, on every use.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from hashlib import sha256
from typing import TYPE_CHECKING, Callable, Iterable

from cachetools import FIFOCache
from joserfc.jwk import KeySet

if TYPE_CHECKING:
    from .validator import AccessToken


@dataclass(frozen=True, slots=True)
class Verified:
    """A cache entry: the validated token, the key set it was verified against, and its window."""

    token: "AccessToken"
    key_set: KeySet
    not_before: float  # the latest of nbf and iat, minus leeway
    deadline: float  # exp plus leeway, capped by the cache's TTL and the key set's next refresh


class VerifiedTokenCache:
    """A bounded, thread-safe map from SHA-256(token string) to its ``Verified`` entry."""

    def __init__(self, maxsize: int, ttl: float, *, clock: Callable[[], float] = time.time):
        if maxsize < 1 or ttl <= 0:
            raise ValueError("a token cache needs a size and a TTL above zero; use no cache instead")
        self.ttl = ttl
        self.clock = clock
        # cachetools' FIFO bound, each entry with its own window (checked on every read): a hit is one
        # dict read that changes nothing, so it needs no lock, where LRU bookkeeping or TTLCache's
        # timers would write on every request. Eviction order hardly matters here: every entry is
        # gone within the TTL anyway.
        self._entries: FIFOCache[bytes, Verified] = FIFOCache(maxsize)
        self._lock = threading.Lock()

    def get(self, token_string: str) -> Verified | None:
        """The entry for this token if its window holds now; an entry outside it is dropped."""
        digest = sha256(token_string.encode()).digest()
        now = self.clock()
        try:
            # No lock for a read: a FIFO cache does not reorder on access, so this is one dict read
            # (atomic); writers hold the lock among themselves.
            entry = self._entries[digest]
        except KeyError:
            return None
        if entry.not_before <= now < entry.deadline:
            return entry
        with self._lock:
            self._entries.pop(digest, None)
        return None

    def put(self, token_string: str, entry: Verified) -> None:
        """Store ``entry``, its deadline capped by the TTL; an entry already past it is not stored."""
        now = self.clock()
        if entry.deadline > now + self.ttl:
            entry = replace(entry, deadline=now + self.ttl)
        if not entry.not_before <= now < entry.deadline:
            return
        digest = sha256(token_string.encode()).digest()
        with self._lock:
            self._entries[digest] = entry

    def _drop_expired(self) -> None:
        now = self.clock()
        for digest in [d for d, entry in self._entries.items() if entry.deadline <= now]:
            del self._entries[digest]

    def forget_kids(self, kids: Iterable[str]) -> None:
        """Drop every entry whose token names one of ``kids`` (they left the issuer's key set)."""
        gone = set(kids)
        with self._lock:
            self._drop_expired()
            stale = [digest for digest, entry in self._entries.items() if entry.token.kid in gone]
            for digest in stale:
                del self._entries[digest]

    def __len__(self) -> int:
        with self._lock:
            self._drop_expired()
            return len(self._entries)

    @property
    def maxsize(self) -> int:
        return int(self._entries.maxsize)
