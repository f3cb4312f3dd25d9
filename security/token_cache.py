"""Tokens that already passed full validation, so a repeat request skips the signature check.

Safety rules (see docs/deploying.md, "Verified-token cache"):
- only tokens that passed every check are stored; refusals are never cached, so an attacker can
  fill the cache only with valid tokens from the issuer, never with garbage;
- entries are keyed by the SHA-256 of the token string: the cache never holds a usable token;
- an entry is served only inside its window: from the token's ``nbf``/``iat`` (minus leeway) until
  its ``exp`` (plus leeway), ``ttl`` seconds at most, and no later than the key set's next refresh;
  the window is checked on every read, against the clock of that moment;
- the cache is bounded both in entries and in bytes (the oldest entries go first), and thread-safe;
- ``forget_kids`` drops the entries signed by keys that left the key set.
The caller checks that the key set is still the one the entry was verified against, and the route's
scopes, on every use.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, replace
from hashlib import sha256
from operator import attrgetter
from typing import TYPE_CHECKING, Callable, Iterable

from cachetools import FIFOCache
from joserfc.jwk import KeySet

if TYPE_CHECKING:
    from .validator import AccessToken

#: The most memory one process's cache may hold, whatever its tokens: a valid token's claims can cost
#: a hundred times their length in Python objects, so an entry count alone does not bound memory.
MAX_BYTES = 24 * 1024 * 1024
#: What an entry costs beyond its claims and scopes: the digest, the entry and token objects, the
#: cache's three index slots. 500-600 bytes under tracemalloc, depending on how full the indexes are;
#: rounded up, so that the bytes counted stay above those measured (bench/cache_memory.py shows both).
ENTRY_OVERHEAD = 800


@dataclass(frozen=True, slots=True)
class Verified:
    """A cache entry: the validated token, the key set it was verified against, and its window."""

    token: "AccessToken"
    key_set: KeySet
    not_before: float  # the latest of nbf and iat, minus leeway
    deadline: float  # exp plus leeway, capped by the cache's TTL and the key set's next refresh
    size: int = 0  # bytes the entry is counted for, set by the cache
    sha256: bytes = b""  # the token string's SHA-256, the entry's key, set by the cache (a DPoP proof's ath hashes it)


def footprint(token: "AccessToken") -> int:
    """Bytes an entry for ``token`` holds, counted from above: every object of its claims (JSON types)
    and scopes, shared ones once per use, plus ``ENTRY_OVERHEAD``. A walk, not a recursion: claims may
    nest deep. Run once per entry stored, never on a cache hit."""
    getsizeof = sys.getsizeof
    size = ENTRY_OVERHEAD
    pending: list = [token.claims, token.scopes]
    while pending:
        item = pending.pop()
        size += getsizeof(item)
        kind = type(item)
        if kind is dict:
            pending += item.keys()
            pending += item.values()
        elif kind is list or kind is frozenset:
            pending += item
    return size


class VerifiedTokenCache:
    """A thread-safe map from SHA-256(token string) to its ``Verified`` entry, holding at most ``maxsize``
    entries and ``max_bytes`` bytes."""

    def __init__(self, maxsize: int, ttl: float, *, max_bytes: int = MAX_BYTES,
                 clock: Callable[[], float] = time.time):
        if maxsize < 1 or ttl <= 0:
            raise ValueError("a token cache needs a size and a TTL above zero; use no cache instead")
        self.ttl = ttl
        self.clock = clock
        self.max_entries = maxsize
        # One bound for both limits: each entry counts for its footprint, but for no less than an equal
        # share of the bytes, so that no more than ``maxsize`` entries ever fit.
        self._share = max(1, max_bytes // maxsize)
        # cachetools' FIFO bound, each entry with its own window (checked on every read): a hit is one
        # dict read that changes nothing, so it needs no lock, where LRU bookkeeping or TTLCache's
        # timers would write on every request. Eviction order hardly matters here: every entry is
        # gone within the TTL anyway.
        self._entries: FIFOCache[bytes, Verified] = FIFOCache(self._share * maxsize, getsizeof=attrgetter("size"))
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
        """Store ``entry``, its deadline capped by the TTL; an entry already past it, or larger than
        the whole cache, is not stored."""
        now = self.clock()
        deadline = min(entry.deadline, now + self.ttl)
        if not entry.not_before <= now < deadline:
            return
        digest = sha256(token_string.encode()).digest()
        entry = replace(entry, deadline=deadline, size=max(footprint(entry.token), self._share), sha256=digest)
        if entry.size > self._entries.maxsize:
            return
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
        """The most entries the cache holds."""
        return self.max_entries

    @property
    def bytes_held(self) -> int:
        """The bytes the entries held are counted for (at least their footprint each)."""
        with self._lock:
            return int(self._entries.currsize)
