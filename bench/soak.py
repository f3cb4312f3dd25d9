"""`make soak`: a bounded load and fault run on loopback. Exits non-zero when an expectation fails.

gunicorn (as `make serve` runs it) against a loopback fake provider. SOAK_CONCURRENCY client threads
(32) send, for SOAK_DURATION seconds (60), 80% valid tokens and 20% hostile ones (expired, bad
signature, unknown kid, garbage) to the protected routes. The provider goes down for the middle
SOAK_OUTAGE seconds (20): first answering 503, then hanging past the app's fetch timeout.

The load generator is Python threads rather than wrk: every response is checked against what its own
request deserved (valid -> 200, hostile -> 401), which wrk's Lua hooks cannot tie together. It needs
only to keep the server busy, not to be fast.

The app runs with short key-set timings (TTL 10 s, cooldown 5 s) so that refreshes and unknown-kid
refetches happen many times, and a token cache smaller than the set of valid tokens, so that it churns.
"""

from __future__ import annotations

import http.client
import os
import random
import secrets
import sys
import threading
import time
from collections import Counter

from security.keys import RETRY_AFTER_FAILURE

from .common import Gunicorn, Provider, describe_machine, rsa_key, token

DURATION = float(os.environ.get("SOAK_DURATION", 60))
CONCURRENCY = int(os.environ.get("SOAK_CONCURRENCY", 32))
OUTAGE = float(os.environ.get("SOAK_OUTAGE", 20))
WORKERS = int(os.environ.get("SOAK_WORKERS", 4))
WARMUP = 5.0  # seconds before the starting RSS is read: first requests import and build lazily
APP = {"AUTH_JWKS_CACHE_TTL": 10, "AUTH_JWKS_COOLDOWN": 5, "AUTH_JWKS_TIMEOUT": 2, "AUTH_TOKEN_CACHE_SIZE": 200}
VALID_SHARE = 0.8
ROUTES = ("/api/private", "/api/private-scoped")


def make_tokens(issuer: str, key) -> dict[str, list[str]]:
    stranger = rsa_key("not-ours")
    impostor = rsa_key(key.kid)  # the real kid, other key material
    return {
        "valid": [token(issuer, key) for _ in range(500)],
        "expired": [token(issuer, key, lifetime=-600) for _ in range(50)],
        "bad signature": [token(issuer, impostor) for _ in range(50)],
        "unknown kid": [token(issuer, stranger, kid=f"kid-{i}") for i in range(50)],
        "garbage": [secrets.token_urlsafe(random.randint(10, 300)) for _ in range(25)]
        + [".".join(secrets.token_urlsafe(40) for _ in range(3)) for _ in range(25)],
    }


class Load:
    """CONCURRENCY threads sending requests until ``stop``; outcomes counted by (kind, status)."""

    def __init__(self, port: int, tokens: dict[str, list[str]]):
        self.port = port
        self.tokens = tokens
        self.hostile = [kind for kind in tokens if kind != "valid"]
        self.outcomes: Counter = Counter()
        self.phase = "provider up"
        self.by_phase: Counter = Counter()  # requests completed per phase, for throughput per phase
        self.slowest = 0.0
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(seed,), daemon=True) for seed in range(CONCURRENCY)]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def join(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def _run(self, seed: int) -> None:
        rng = random.Random(seed)  # the same mix on every run
        while not self.stop.is_set():
            kind = "valid" if rng.random() < VALID_SHARE else rng.choice(self.hostile)
            value = rng.choice(self.tokens[kind])
            started = time.monotonic()
            status = self._get(rng.choice(ROUTES), value)
            elapsed = time.monotonic() - started
            with self._lock:
                self.outcomes[kind, status] += 1
                self.by_phase[self.phase] += 1
                self.slowest = max(self.slowest, elapsed)

    def _get(self, route: str, value: str):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        try:
            connection.request("GET", route, headers={"Authorization": f"Bearer {value}"})
            response = connection.getresponse()
            response.read()
            return response.status
        except OSError as error:
            return f"client error: {type(error).__name__}"
        finally:
            connection.close()


def main() -> int:
    machine = describe_machine()
    key = rsa_key("soak-key")
    provider = Provider([key])
    tokens = make_tokens(provider.issuer, key)
    server = Gunicorn(provider, WORKERS, **APP)
    load = Load(server.port, tokens)
    outage_start = (DURATION - OUTAGE) / 2
    print(f"soak: {DURATION:.0f}s, {CONCURRENCY} client threads, {WORKERS} workers, provider down "
          f"from {outage_start:.0f}s to {outage_start + OUTAGE:.0f}s", file=sys.stderr, flush=True)
    try:
        started = time.monotonic()
        load.start()
        time.sleep(WARMUP)
        pids = server.worker_pids()
        rss_start = {pid: server.memory_kib(pid)["VmRSS"] for pid in pids}
        # the provider answers 503, then hangs (5 s, longer than the app's fetch timeout, then 503), then recovers
        for moment, down, delay, phase in ((outage_start, True, 0, "provider 503"),
                                           (outage_start + OUTAGE / 2, True, 5, "provider hangs"),
                                           (outage_start + OUTAGE, False, 0, "provider back up")):
            _sleep_until(started + moment)
            provider.down, provider.delay, load.phase = down, delay, phase
        _sleep_until(started + DURATION)
        load.join()
        elapsed = time.monotonic() - started
        pids_end = server.worker_pids()
        rss_end = {pid: server.memory_kib(pid)["VmRSS"] for pid in pids_end if pid in rss_start}
        fetches = server.key_fetches()
    finally:
        load.stop.set()
        server.stop()
        provider.close()
    return report(machine, load, elapsed, pids, pids_end, rss_start, rss_end, fetches, provider.jwks_fetches)


def _phases(by_phase: Counter):
    outage_start = (DURATION - OUTAGE) / 2
    lengths = {"provider up": outage_start, "provider 503": OUTAGE / 2, "provider hangs": OUTAGE / 2,
               "provider back up": DURATION - outage_start - OUTAGE}
    return [(phase, by_phase[phase], seconds) for phase, seconds in lengths.items() if seconds > 0]


def _sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.monotonic()))


def report(machine, load, elapsed, pids, pids_end, rss_start, rss_end, fetches, provider_fetches) -> int:
    outcomes = load.outcomes
    total = sum(outcomes.values())
    by_kind = Counter()
    for (kind, _status), count in outcomes.items():
        by_kind[kind] += count
    server_errors = sum(c for (_, s), c in outcomes.items() if isinstance(s, int) and s >= 500)
    client_errors = sum(c for (_, s), c in outcomes.items() if not isinstance(s, int))
    valid_not_200 = by_kind["valid"] - outcomes["valid", 200]
    hostile_not_401 = sum(n for kind, n in by_kind.items() if kind != "valid") - sum(
        c for (kind, s), c in outcomes.items() if kind != "valid" and s == 401)
    healthy = DURATION - OUTAGE
    bound = int(healthy / min(APP["AUTH_JWKS_COOLDOWN"], APP["AUTH_JWKS_CACHE_TTL"])
                + OUTAGE / RETRY_AFTER_FAILURE) + 2
    worst_fetches = max((fetches.get(pid, 0) for pid in pids), default=0)
    growth = {pid: (rss_end[pid] - rss_start[pid]) / rss_start[pid] for pid in rss_end}
    checks = [
        ("zero 5xx", server_errors == 0, f"{server_errors}"),
        ("every valid request 200", valid_not_200 == 0, f"{outcomes['valid', 200]} of {by_kind['valid']}"),
        ("every hostile request 401", hostile_not_401 == 0, f"{total - by_kind['valid'] - hostile_not_401} of "
                                                          f"{total - by_kind['valid']}"),
        ("no client-side errors", client_errors == 0, f"{client_errors}"),
        ("workers never replaced", pids == pids_end, f"{len(pids)} at start, {len(pids_end)} at end"),
        (f"key-set fetches per worker <= {bound} (cooldown bound)", worst_fetches <= bound,
         ", ".join(str(fetches.get(pid, 0)) for pid in pids)),
        ("RSS growth per worker < 10%", bool(growth) and max(growth.values()) < 0.10,
         ", ".join(f"{rss_start[p] / 1024:.1f}->{rss_end[p] / 1024:.1f} MiB ({growth[p]:+.1%})" for p in growth)),
    ]
    lines = ["## make soak", "", f"Machine: {machine}.", "",
             f"{elapsed:.0f} s, {CONCURRENCY} client threads, {WORKERS} gunicorn workers (gunicorn.conf.py); "
             f"provider down for {OUTAGE:.0f} s in the middle (503 then hanging); app settings {APP}.", "",
             f"Requests: {total} ({total / elapsed:.0f}/s); slowest {load.slowest * 1000:.0f} ms; "
             f"provider saw {provider_fetches} key-set requests.", "",
             "Throughput by phase: " + ", ".join(
                 f"{phase} {count / seconds:.0f}/s" for phase, count, seconds in _phases(load.by_phase)) + ".", "",
             "| tokens | sent | statuses |", "|---|---:|---|"]
    for kind in ["valid", *load.hostile]:
        statuses = ", ".join(f"{s}: {c}" for (k, s), c in sorted(outcomes.items(), key=str) if k == kind)
        lines.append(f"| {kind} | {by_kind[kind]} | {statuses} |")
    lines += ["", "| expectation | result | figure |", "|---|---|---|"]
    lines += [f"| {name} | {'pass' if ok else 'FAIL'} | {figure} |" for name, ok, figure in checks]
    print("\n".join(lines))
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
