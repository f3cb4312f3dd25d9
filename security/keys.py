"""The issuer's signing keys: fetched as a server starts, cached, refreshed, and survivable outages.

Rules (see docs/providers.md, "The key set"):
- nothing is fetched at import or when the app is built: a server that has just started calls
  ``warm_up``, which fetches in the background (the server neither waits for the issuer nor fails
  without it); without that call, the first token that needs a key fetches;
- the set is kept for ``ttl`` seconds, then refreshed on use, in the background (requests go on with
  the keys held, so nobody waits on a slow or failing provider); a failed refresh keeps the old keys;
- an unknown ``kid`` triggers one refetch, then none other for ``cooldown`` seconds, and none while the
  last fetch failed (background retries cover that);
- after a failure, a new attempt is made ``RETRY_AFTER_FAILURE`` seconds after it ended, at the earliest;
- one fetch at a time per process. A request that finds no keys held waits for the fetch under way
  rather than start another, ``timeout`` seconds at most, and is refused (503) only when that fetch
  fails; after a failed fetch, such requests wait for no other's fetch and are refused at once, so an
  outage piles up neither waiters nor fetches. With keys held, nobody waits for another's fetch;
- one acquisition, discovery and key set together, is over within ``timeout`` seconds.

The document normally comes over HTTP from the issuer (``security.fetch``). The embedded local issuer
hands its JWKS in through ``source`` instead: same filtering, caching and lookups, only the key source
differs.
"""

from __future__ import annotations

import base64
import enum
import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable

from joserfc.errors import JoseError
from joserfc.jwk import Key, KeySet, import_key

from metrics.catalog import JWKS_FETCHES

from .discovery import discover_jwks_url
from .errors import SigningKeysUnavailable
from .fetch import FetchError, deadline_in, fetch_json

logger = logging.getLogger("security.keys")

RETRY_AFTER_FAILURE = 2.0  # seconds from the end of a failed attempt to the next one
MIN_RSA_BITS = 2048
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")


class FetchReason(enum.Enum):
    """Why the key set is fetched: decides whether a fetch is due, and is logged."""

    START_UP = "start-up"
    FIRST_USE = "first use"
    EXPIRED = "expired"
    UNKNOWN_KID = "unknown kid"
    READINESS = "readiness check"


def _modulus_bits(n) -> int:
    if not isinstance(n, str):
        return 0
    try:
        return int.from_bytes(base64.urlsafe_b64decode(n + "=" * (-len(n) % 4)), "big").bit_length()
    except ValueError:
        return 0


def public_signing_keys(document: dict) -> list[Key]:
    """The usable public signature keys of a JWKS document; anything else is skipped, not fatal."""
    entries = document.get("keys")
    if not isinstance(entries, list):
        raise FetchError("JWKS has no 'keys' array")
    keys = []
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("kty") not in ("RSA", "EC", "OKP"):
            continue  # symmetric or unknown keys never verify tokens here
        if entry.get("use", "sig") != "sig":
            continue
        ops = entry.get("key_ops")
        if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
            continue
        if entry["kty"] == "RSA" and _modulus_bits(entry.get("n")) < MIN_RSA_BITS:
            continue  # too weak to trust (RFC 8725 §3.5), and joserfc would warn on import
        public = {k: v for k, v in entry.items() if k not in PRIVATE_MEMBERS}
        try:
            keys.append(import_key(public))
        except (JoseError, ValueError, TypeError):
            continue
    return keys


@dataclass
class _Held:
    keys: KeySet
    by_kid: dict[str, Key]  # index over `keys`, for O(1) lookups
    sole: Key | None  # the only key, for tokens that carry no kid
    fetched_at: float


class KeySetCache:
    """The current signing keys of one issuer, as a joserfc KeySet, looked up by ``kid``."""

    def __init__(
        self,
        issuer: str,
        *,
        jwks_url: str | None = None,
        ttl: float = 600.0,
        cooldown: float = 30.0,
        timeout: float = 5.0,
        on_change: Callable[[set[str]], None] | None = None,
        source: Callable[[], dict] | None = None,
        retry_after_failure: float = RETRY_AFTER_FAILURE,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.issuer = issuer
        self.jwks_url = jwks_url
        self.ttl = ttl
        self.cooldown = cooldown
        self.timeout = timeout  # seconds one acquisition may take, discovery included
        self.on_change = on_change  # called with the kids that disappeared (by the one fetch under way)
        self.source = source  # an in-process JWKS document provider, instead of HTTP
        self.retry_after_failure = retry_after_failure
        self._clock = clock
        self.fetch_count = 0
        self._held: _Held | None = None
        # The keys held now, None before the first fetch. The object changes only when the issuer's
        # keys change: a refresh that returns the same keys keeps it, so "verified against this very
        # set" stays true across refreshes. A plain attribute: the token cache reads it on every hit.
        self.key_set: KeySet | None = None
        self._lock = threading.Lock()  # guards _under_way
        self._under_way: threading.Event | None = None  # the fetch under way, set when it ends
        self._failed_at: float | None = None  # when the last fetch failed; None after a success
        self._last_kid_refetch = float("-inf")
        self._last_readiness_fetch = float("-inf")

    def get(self, kid: str | None) -> Key | None:
        """The key for ``kid``, or None when the set has no such key.

        Raises SigningKeysUnavailable when no key set is held: none could be had, in time or at all.
        """
        held = self._held
        if held is None:
            # the fetch under way is waited for, unless the issuer is failing: then nobody queues on it
            held = self._refresh(FetchReason.FIRST_USE, wait=self._failed_at is None)
            if held is None:
                raise SigningKeysUnavailable()
        elif self._due(FetchReason.EXPIRED):
            # refreshed beside the request: nobody waits on an issuer that is slow or hanging
            self._refresh_in_background(FetchReason.EXPIRED)
        key = self._lookup(held, kid)
        # An unknown kid waits for a refetch, but not while the issuer is failing: the background
        # retries cover that, and no request (a hostile one least of all) is held up by a dead issuer.
        if key is None and kid is not None and self._failed_at is None and self._due(FetchReason.UNKNOWN_KID):
            key = self._lookup(self._refresh(FetchReason.UNKNOWN_KID), kid)
        return key

    def warm_up(self) -> None:
        """Start fetching the keys beside the caller, a server that has just started: its first requests
        then find them held, or wait for this one fetch, instead of each being the first use."""
        self._refresh_in_background(FetchReason.START_UP)

    def held(self) -> bool:
        """Whether keys are held (the readiness check). When none are, a fetch starts in the background, unless
        one is under way or the last failure is too recent, and at most once per ``cooldown``: however often a
        load balancer asks, the issuer sees no more fetches than that from here."""
        if self._held is not None:
            return True
        now = self._clock()
        if now - self._last_readiness_fetch >= self.cooldown and self._due(FetchReason.READINESS):
            self._last_readiness_fetch = now
            self._refresh_in_background(FetchReason.READINESS)
        return False

    def fresh_for(self) -> float:
        """Seconds until the set is due to be read again (retried, after a failure); 0 when overdue.

        The verified-token cache keeps no entry past this moment, so the first request after it runs
        the full check, which starts the refresh.
        """
        now = self._clock()
        if self._failed_at is not None:
            return max(0.0, self._failed_at + self.retry_after_failure - now)
        held = self._held
        return 0.0 if held is None else max(0.0, held.fetched_at + self.ttl - now)

    @property
    def kids(self) -> set[str]:
        held = self._held
        return set(held.by_kid) if held else set()

    @staticmethod
    def _lookup(held: _Held | None, kid: str | None) -> Key | None:
        if held is None:
            return None
        return held.sole if kid is None else held.by_kid.get(kid)

    def _due(self, reason: FetchReason) -> bool:
        """Whether a fetch for ``reason`` is allowed now."""
        now = self._clock()
        if self._failed_at is not None:
            return now - self._failed_at >= self.retry_after_failure
        if reason is FetchReason.UNKNOWN_KID:
            return now - self._last_kid_refetch >= self.cooldown
        held = self._held
        return held is None or now - held.fetched_at >= self.ttl

    def _refresh(self, reason: FetchReason, *, wait: bool = False) -> _Held | None:
        """Fetch, in this thread, if no fetch is under way and one is still due; return what is held then.

        A fetch under way elsewhere is waited for (``timeout`` seconds at most) with ``wait``; without,
        the caller goes on at once with what is held.
        """
        under_way, mine = self._start()
        if not mine:
            if wait:
                under_way.wait(self.timeout)  # it ends by its own deadline: this is only a bound
            return self._held
        try:
            if self._due(reason):
                if reason is FetchReason.UNKNOWN_KID:
                    self._last_kid_refetch = self._clock()
                self._fetch(reason)
            return self._held
        finally:
            self._end(under_way)

    def _refresh_in_background(self, reason: FetchReason) -> None:
        """Start one refresh in a thread, unless a fetch is already under way."""
        under_way, mine = self._start()
        if not mine:
            return

        def refresh():
            try:
                if self._due(reason):
                    self._fetch(reason)
            finally:
                self._end(under_way)

        try:
            threading.Thread(target=refresh, name="jwks-refresh", daemon=True).start()
        except RuntimeError:  # no thread to be had: try again on a later request
            self._end(under_way)

    def _start(self) -> tuple[threading.Event, bool]:
        """The fetch under way, and whether the caller has just started it (then it must call ``_end``)."""
        with self._lock:
            if self._under_way is not None:
                return self._under_way, False
            self._under_way = threading.Event()
            return self._under_way, True

    def _end(self, under_way: threading.Event) -> None:
        """The fetch is over: the next one may start, and whoever waited for this one goes on."""
        with self._lock:
            self._under_way = None
        under_way.set()

    def _fetch(self, reason: FetchReason) -> None:
        """One acquisition: discovery (when needed) and the key set, both within one ``timeout``."""
        started = time.monotonic()
        deadline = deadline_in(self.timeout)
        self.fetch_count += 1
        url = "in-process source" if self.source else self.jwks_url
        try:
            if self.source:
                document = self.source()
            else:
                url = url or self._discover_jwks_url(deadline)
                document = fetch_json(url, deadline=deadline)
            keys = public_signing_keys(document)
            if not keys:
                raise FetchError(f"{url}: no usable signature key")
        except FetchError as error:
            self._failed_at = self._clock()  # the retry delay runs from here, the end of the failure
            JWKS_FETCHES.labels(issuer=self.issuer, outcome="failure").inc()
            logger.warning(
                "jwks fetch failed reason=%r error=%r duration_ms=%.0f kept_keys=%d",
                reason.value, str(error), (time.monotonic() - started) * 1000, len(self.kids),
            )
            return
        self._failed_at = None
        self._install(keys)
        JWKS_FETCHES.labels(issuer=self.issuer, outcome="success").inc()
        logger.info(
            "jwks fetched reason=%r url=%s keys=%d duration_ms=%.0f",
            reason.value, url, len(keys), (time.monotonic() - started) * 1000,
        )

    def _discover_jwks_url(self, deadline: float) -> str:
        """Where the keys are, remembered once discovery has said so."""
        url, discovered = discover_jwks_url(self.issuer, deadline=deadline)
        if discovered:
            self.jwks_url = url
        return url

    def _install(self, keys: list[Key]) -> None:
        held = self._held
        if held is not None:
            # Keep the Key objects of unchanged keys, and the very KeySet when nothing changed at all.
            previous = {_public_json(key): key for key in held.keys.keys}
            keys = [previous.get(_public_json(key), key) for key in keys]
            if len(keys) == len(held.keys.keys) and all(a is b for a, b in zip(keys, held.keys.keys, strict=True)):
                self._held = _Held(held.keys, held.by_kid, held.sole, self._clock())
                return
        key_set = KeySet(keys)
        gone = self.kids
        by_kid = {key.kid: key for key in keys if key.kid}
        self._held = _Held(key_set, by_kid, keys[0] if len(keys) == 1 else None, self._clock())
        self.key_set = key_set
        gone -= set(by_kid)
        if gone and self.on_change:
            self.on_change(gone)


def _public_json(key: Key) -> str:
    return json.dumps(key.as_dict(private=False), sort_keys=True)
