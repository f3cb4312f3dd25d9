"""``GET /readyz``: whether this instance can serve the API now, for a load balancer's readiness probe.

Ready (200) only when the database answers a trivial query within ``DATABASE_WITHIN`` seconds, every issuer's
signing keys are held (or the embedded local issuer signs), and the DPoP replay store (Redis), when one is
configured, answers. Otherwise 503, in the same shape, each failing check saying why in a short phrase of its own:
never a driver's message, which may quote SQL, nor a URL, which may hold a password.

Unlike ``/healthz`` (liveness: no I/O, so that an issuer outage never takes every instance out) this one looks
outside the process; a probe costs one query and one Redis PING, and starts at most one key-set fetch per
AUTH_JWKS_COOLDOWN (``KeySetCache.held``). A plain Flask route: not in the API documents, no token needed.
"""

from __future__ import annotations

import threading
from typing import Sequence

from flask import Flask

from security import KeySetCache
from security.replay import RedisReplayStore, ReplayStoreUnavailable
from storage import StorageUnavailable, Store

DATABASE_WITHIN = 1.0  # seconds
OK = "ok"


def add_readiness_check(app: Flask, store: Store, key_sets: Sequence[KeySetCache], *, local_issuer: bool,
                        replay_store: RedisReplayStore | None) -> None:
    """``GET /readyz`` on ``app``, checking these parts (``replay_store``: only when one is configured)."""

    def readyz():
        checks = {"database": database_check(store),
                  "keys": OK if local_issuer else keys_check(key_sets)}
        if replay_store is not None:
            checks["replay_store"] = replay_store_check(replay_store)
        ready = all(outcome == OK for outcome in checks.values())
        body = {"status": "ready" if ready else "not ready", "checks": checks}
        return body, 200 if ready else 503, {"Cache-Control": "no-store"}

    app.add_url_rule("/readyz", "readyz", readyz, methods=["GET"])


def database_check(store: Store) -> str:
    """``ok``, or why not. The query runs in a thread of its own (a greenlet under gevent), waited for
    ``DATABASE_WITHIN`` seconds: a database that does not answer (a dropped packet, a full backlog) makes the
    probe fail on time rather than hang for the driver's connect timeout."""
    outcome: list[str] = []
    done = threading.Event()

    def ping():
        try:
            store.ping()
            outcome.append(OK)
        except StorageUnavailable as error:
            cause = error.__cause__
            outcome.append("unavailable" + (f": {type(cause).__name__}" if cause is not None else ""))
        finally:
            done.set()

    threading.Thread(target=ping, name="readyz-database", daemon=True).start()
    if not done.wait(DATABASE_WITHIN):
        return f"no answer within {DATABASE_WITHIN:g} s"
    return outcome[0]


def keys_check(key_sets: Sequence[KeySetCache]) -> str:
    """``ok`` when every issuer's keys are held; else which issuer's are not (a fetch may start: see above)."""
    missing = [keys.issuer for keys in key_sets if not keys.held()]
    return OK if not missing else "no signing keys held yet for " + ", ".join(missing)


def replay_store_check(replay_store: RedisReplayStore) -> str:
    try:
        replay_store.ping()
    except ReplayStoreUnavailable as error:
        return f"unavailable: {error}"
    return OK
