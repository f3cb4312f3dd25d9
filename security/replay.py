"""Which DPoP proofs were already used: each proof's key is accepted once within its window.

Two stores behind one call, ``mark_once(key, ttl) -> Mark`` (first: True the first time, atomically):
- ``MemoryReplayStore``: this process only, bounded, expiring;
- ``RedisReplayStore``: one Redis for every worker and instance (``SET key 1 NX EX ttl``).
Neither ever answers "first time" when it cannot tell: a full memory store or an unreachable Redis
raise ``ReplayStoreUnavailable``, and the API answers 503 (fail closed).

A store that lost its records (a process that started again, a Redis restarted empty or flushed) cannot
tell a replay of a proof it accepted before from a new proof. So each mark also says since when the
store's records go back (``Mark.since``), and the verifier refuses a proof made before that moment.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence


class ReplayStoreUnavailable(Exception):
    """The store cannot say whether a proof is new; the caller must refuse it and ask for a retry."""

    retry_after = 5


@dataclass(frozen=True, slots=True)
class Mark:
    """What recording a key found: whether it was new, and since when (epoch seconds) the store's records
    go back, read in the same atomic step; a proof made earlier may have been accepted and forgotten."""

    first: bool
    since: float


class ReplayStore(Protocol):
    def mark_once(self, key: str, ttl: float) -> Mark:
        """Record ``key`` for ``ttl`` seconds; ``first`` if it was not recorded already."""


class MemoryReplayStore:
    """A thread-safe map of key -> expiry, emptied by the second, never past ``maxsize`` entries.

    Full of live entries, it refuses rather than forget one (forgetting would let that proof be
    replayed). Size it for the peak rate of proofs times the proof window (about 150 bytes an entry,
    so about 75 MB at most by default); or use Redis. Its records begin when it is made, with the
    process: ``since`` (epoch seconds), now unless given.
    """

    def __init__(self, maxsize: int = 500_000, *, clock: Callable[[], float] = time.monotonic,
                 since: float | None = None):
        if maxsize < 1:
            raise ValueError("a replay store needs room for at least one entry")
        self.maxsize = maxsize
        self.since = time.time() if since is None else since
        self._clock = clock
        self._expiry: dict[str, float] = {}
        self._by_second: dict[int, list[str]] = {}  # keys by the whole second they expire in
        self._swept_to = int(clock())
        self._lock = threading.Lock()
        # The two answers, made once: this runs on every DPoP request.
        self._first, self._again = Mark(True, self.since), Mark(False, self.since)

    def mark_once(self, key: str, ttl: float) -> Mark:
        with self._lock:
            now = self._clock()
            if now >= self._swept_to + 1:  # a new second: the call only then
                self._sweep(now)
            expiry = self._expiry.get(key)
            if expiry is not None and expiry > now:
                return self._again
            if len(self._expiry) >= self.maxsize:
                raise ReplayStoreUnavailable("the in-memory DPoP replay store is full")
            expiry = now + ttl
            self._expiry[key] = expiry
            second = math.ceil(expiry)
            keys = self._by_second.get(second)
            if keys is None:
                self._by_second[second] = [key]
            else:
                keys.append(key)
            return self._first

    def _sweep(self, now: float) -> None:
        """Drop the entries that expired in the whole seconds since the last sweep."""
        second = int(now)
        if second <= self._swept_to:
            return
        seconds: Sequence[int] = range(self._swept_to + 1, second + 1)
        if len(seconds) > len(self._by_second):  # after a long pause, visit only the seconds holding keys
            seconds = sorted(s for s in self._by_second if s <= second)
        for past in seconds:
            for key in self._by_second.pop(past, ()):
                if self._expiry.get(key, math.inf) <= now:  # not marked again since
                    del self._expiry[key]
        self._swept_to = second

    def __len__(self) -> int:
        with self._lock:
            self._sweep(self._clock())
            return len(self._expiry)


#: One atomic step, one round trip: read the marker of when the records began (written with ``now`` when
#: missing: the records are gone, or were never there), then ``SET record 1 NX EX ttl``.
MARK_ONCE = """
local since = redis.call('GET', KEYS[1])
if not since then
  since = ARGV[1]
  redis.call('SET', KEYS[1], since)
end
local first = redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[2])
return {first and 1 or 0, since}
"""


class RedisReplayStore:
    """Replay records in Redis, shared by every process that uses the same URL and prefix.

    Beside the records, the key ``{prefix}began`` holds the moment (epoch seconds) they began. It has no
    expiry, so it goes with the whole data set (a restart without persistence, a FLUSHALL), and the next
    mark writes it again with the time of that mark. Lost alone, it only makes the check stricter.
    """

    def __init__(self, url: str, *, prefix: str = "dpop:jti:", timeout: float = 1.0):
        # Imported here: redis-py costs a worker about 8 MB, for nothing when no Redis is configured.
        import redis  # noqa: PLC0415
        from redis.backoff import NoBackoff  # noqa: PLC0415
        from redis.retry import Retry  # noqa: PLC0415

        self._unavailable = redis.RedisError
        # One quick retry (a pooled connection may have gone stale), then give up: a request waits at
        # most about two timeouts before it gets its 503.
        self._redis = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 1)
        )
        self.prefix = prefix
        self.began_key = prefix + "began"  # never a record's key: those are 32 hexadecimal digits
        self._mark_once = self._redis.register_script(MARK_ONCE)  # EVALSHA; loaded again after a restart

    def mark_once(self, key: str, ttl: float) -> Mark:
        try:
            first, since = self._mark_once(keys=[self.began_key, self.prefix + key],
                                           args=[repr(time.time()), max(1, math.ceil(ttl))])
        except self._unavailable as error:
            reason = type(error).__name__
            raise ReplayStoreUnavailable(f"the DPoP replay store (Redis) is unavailable: {reason}") from None
        try:
            since = float(since)
        except ValueError:
            since = math.nan
        if not math.isfinite(since):  # written by someone else: no telling which records are gone
            raise ReplayStoreUnavailable(f"the DPoP replay store's {self.began_key} is not a time")
        return Mark(first == 1, since)

    def ping(self) -> None:
        """Whether Redis answers (the readiness check); raises ReplayStoreUnavailable, naming the error's type only
        (never the URL, which may hold a password)."""
        try:
            self._redis.ping()
        except self._unavailable as error:
            raise ReplayStoreUnavailable(type(error).__name__) from None

    def close(self) -> None:
        self._redis.close()
