"""`make slowloris`: does `make serve` keep serving while slow clients hold connections open?

For each worker setup, one gunicorn (as `make serve` runs it, on loopback, 2 workers) against a loopback
fake provider. wrk drives the protected route /api/private (valid token, cache on) in phases of
SLOWLORIS_DURATION seconds, alternately without and under attack (SLOWLORIS_ROUNDS attacks, each
between two quiet phases, its ratio taken against their mean). Meanwhile a prober asks /healthz and
/api/private over fresh connections, one request every PROBE_INTERVAL seconds whatever happened to the
previous ones, each allowed PROBE_TIMEOUT seconds.

The attack: SLOWLORIS_CONNECTIONS connections that each send the start of a request (request line,
Host, the first bytes of a header), then one more byte every SLOWLORIS_TRICKLE seconds, never
finishing it. A connection the server closes is opened again at once, so the attacker always holds
as many as it can. Measuring starts RAMP seconds after it opens them.

Targets, for `make serve`'s own setup: under attack, at least 0.8 of the throughput without it (median
of the rounds), and every probe answered within 1 s. The other setups (gunicorn flags on top of
gunicorn.conf.py, printed with the results) are there for comparison and do not decide the exit code.

Settings (environment): SLOWLORIS_CONNECTIONS (200), SLOWLORIS_TRICKLE (3 s), SLOWLORIS_DURATION
(5 s per phase), SLOWLORIS_ROUNDS (3), SLOWLORIS_WORKERS (2), SLOWLORIS_SETUPS (comma-separated names
from SETUPS below; default all). Loopback only; about 50 s per setup.
"""

from __future__ import annotations

import http.client
import itertools
import os
import selectors
import socket
import sys
import threading
import time

from .bench import CONNECTIONS as CONNECTIONS_WRK
from .bench import THREADS as THREADS_WRK
from .bench import ensure_wrk, wrk
from .common import Gunicorn, Provider, describe_machine, median, rsa_key, token

CONNECTIONS = int(os.environ.get("SLOWLORIS_CONNECTIONS", 200))
TRICKLE = float(os.environ.get("SLOWLORIS_TRICKLE", 3))
DURATION = int(os.environ.get("SLOWLORIS_DURATION", 5))
ROUNDS = int(os.environ.get("SLOWLORIS_ROUNDS", 3))
WORKERS = int(os.environ.get("SLOWLORIS_WORKERS", 2))
PROBE_INTERVAL, PROBE_TIMEOUT = 0.25, 5.0
RAMP = 3.0  # seconds between opening the attack and measuring: every connection is stuck by then
TARGET_RATIO, TARGET_PROBE_S = 0.8, 1.0
ROUTE = "/api/private"

# name -> extra gunicorn flags; "make serve" is gunicorn.conf.py unchanged (gevent workers)
SETUPS = {
    "make serve": (),
    "gunicorn's gevent": ("--worker-class", "gevent"),
    "sync": ("--worker-class", "sync"),
    "gthread-16": ("--worker-class", "gthread", "--threads", "16"),
    "gthread-256": ("--worker-class", "gthread", "--threads", "256"),
}


class Slowloris:
    """``count`` connections that each send a partial request, then one more byte every ``trickle`` s."""

    HEAD = b"GET /api/public HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "

    def __init__(self, port: int, count: int, trickle: float):
        self.address = ("127.0.0.1", port)
        self.count = count
        self.trickle = trickle
        self.opened = 0
        self.closed_by_server = 0
        self.lifetimes: list[float] = []  # seconds each connection lived before the server closed it
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slowloris", daemon=True)

    def __enter__(self) -> "Slowloris":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _open(self, selector, slot: int, now: float) -> bool:
        try:
            conn = socket.create_connection(self.address, timeout=1)
            conn.sendall(self.HEAD)
        except OSError:
            return False  # the listen queue is full: tried again on the next round
        conn.setblocking(False)
        self.opened += 1
        # spread the trickled bytes over the interval rather than sending them all at once
        selector.register(conn, selectors.EVENT_READ, {"slot": slot, "opened": now,
                                                       "next": now + self.trickle * (slot + 1) / self.count})
        return True

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        free = set(range(self.count))
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                for slot in sorted(free):
                    if not self._open(selector, slot, now):
                        break  # one wait per round at most, so the trickle and the stop stay on time
                free = set(range(self.count)) - {key.data["slot"] for key in selector.get_map().values()}
                for key, _ in selector.select(timeout=0.05):  # the server answered or closed
                    self._drop(selector, key, free, closed_by_server=True)
                now = time.monotonic()
                for key in list(selector.get_map().values()):
                    if key.data["next"] <= now:
                        key.data["next"] = now + self.trickle
                        try:
                            key.fileobj.send(b"a")
                        except OSError:
                            self._drop(selector, key, free, closed_by_server=True)
        finally:
            for key in list(selector.get_map().values()):
                self._drop(selector, key, free, closed_by_server=False)
            selector.close()

    def _drop(self, selector, key, free: set, *, closed_by_server: bool) -> None:
        selector.unregister(key.fileobj)
        key.fileobj.close()
        free.add(key.data["slot"])
        if closed_by_server:
            self.closed_by_server += 1
            self.lifetimes.append(time.monotonic() - key.data["opened"])


class Prober:
    """/healthz and the protected route in turn, each on a fresh connection as a load balancer would, one
    request every PROBE_INTERVAL seconds whether or not the previous ones were answered."""

    def __init__(self, port: int, authorization: str):
        self.port = port
        self.headers = {"Authorization": authorization}
        self.results: list[float | None] = []  # seconds per probe, None when unanswered
        self._stop = threading.Event()
        self._probes: list[threading.Thread] = []
        self._thread = threading.Thread(target=self._run, name="prober", daemon=True)

    def __enter__(self) -> "Prober":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        for probe in self._probes:
            probe.join(timeout=PROBE_TIMEOUT + 1)

    def _run(self) -> None:
        for path in itertools.cycle(("/healthz", ROUTE)):
            if self._stop.wait(PROBE_INTERVAL):
                return
            self._probes.append(threading.Thread(target=self._probe, args=(path,), daemon=True))
            self._probes[-1].start()

    def _probe(self, path: str) -> None:
        started = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=PROBE_TIMEOUT)
        try:
            conn.request("GET", path, headers=self.headers)
            response = conn.getresponse()
            response.read()
            self.results.append(time.monotonic() - started if response.status == 200 else None)
        except OSError:
            self.results.append(None)
        finally:
            conn.close()


def phase(server: Gunicorn, authorization: str) -> dict:
    """wrk on the protected route for DURATION seconds, probes alongside."""
    with Prober(server.port, authorization) as prober:
        load = wrk(server, server.url + ROUTE, authorization, DURATION, CONNECTIONS_WRK)
    return {"rps": load["rps"], "probes": prober.results}


def measure(name: str, args: tuple[str, ...], provider: Provider, authorization: str) -> dict:
    """ROUNDS attacks, each between two phases without one; ratios are taken against those neighbours."""
    server = Gunicorn(provider, WORKERS, args=args)
    quiet, attacked, lifetimes, opened, closed = [], [], [], 0, 0
    try:
        wrk(server, server.url + ROUTE, authorization, 2, CONNECTIONS_WRK)  # warm-up
        quiet.append(phase(server, authorization))
        for number in range(ROUNDS):
            with Slowloris(server.port, CONNECTIONS, TRICKLE) as attack:
                time.sleep(RAMP)
                attacked.append(phase(server, authorization))
            opened, closed = opened + attack.opened, closed + attack.closed_by_server
            lifetimes += attack.lifetimes
            quiet.append(phase(server, authorization))
            print(f"  {name}, round {number + 1}/{ROUNDS}: {quiet[-2]['rps']:.0f} req/s, under attack "
                  f"{attacked[-1]['rps']:.0f}, then {quiet[-1]['rps']:.0f}", file=sys.stderr, flush=True)
    finally:
        server.stop()
    ratios = [a["rps"] / ((before["rps"] + after["rps"]) / 2 or 1)
              for a, before, after in zip(attacked, quiet, quiet[1:], strict=False)]
    probes = [seconds for a in attacked for seconds in a["probes"]]
    answered = [seconds for seconds in probes if seconds is not None]
    in_time = sum(seconds <= TARGET_PROBE_S for seconds in answered)
    ratio = median(ratios)
    return {"quiet": median([q["rps"] for q in quiet]), "attacked": median([a["rps"] for a in attacked]),
            "ratio": ratio, "ratios": ratios, "probes": len(probes), "answered": len(answered), "in_time": in_time,
            "p50": median(answered) if answered else None, "max": max(answered, default=None),
            "opened": opened, "closed": closed, "lifetime": median(lifetimes) if lifetimes else None,
            "met": ratio >= TARGET_RATIO and in_time == len(probes) > 0}


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f}"


def report_lines(results: dict) -> list[str]:
    lines = ["| setup | req/s, no attack | req/s, under attack | ratio (per round) | probes answered within 1 s "
             "| probe p50 / max ms | attack connections opened / closed by the server (median life) | targets |",
             "|---|---:|---:|---|---:|---:|---|---|"]
    for name, r in results.items():
        life = "-" if r["lifetime"] is None else f"{r['lifetime']:.1f} s"
        lines.append(f"| {name} | {r['quiet']:.0f} | {r['attacked']:.0f} | {r['ratio']:.2f} "
                     f"({', '.join(f'{x:.2f}' for x in r['ratios'])}) | {r['in_time']} of {r['probes']} "
                     f"| {_ms(r['p50'])} / {_ms(r['max'])} | {r['opened']} / {r['closed']} ({life}) "
                     f"| {'met' if r['met'] else 'NOT met'} |")
    return lines


def main() -> int:
    names = [n.strip() for n in os.environ.get("SLOWLORIS_SETUPS", ",".join(SETUPS)).split(",") if n.strip()]
    unknown = [n for n in names if n not in SETUPS]
    if unknown:
        print(f"SLOWLORIS_SETUPS: unknown {unknown}; known: {list(SETUPS)}", file=sys.stderr)
        return 2
    ensure_wrk()
    machine = describe_machine()
    key = rsa_key("bench-key")
    provider = Provider([key])
    authorization = "Bearer " + token(provider.issuer, key)
    try:
        results = {name: measure(name, SETUPS[name], provider, authorization) for name in names}
    finally:
        provider.close()
    flags = "; ".join(f"{name}: {' '.join(SETUPS[name]) or 'none'}" for name in names)
    report = ["## make slowloris", "", f"Machine: {machine}.", "",
              f"gunicorn -c gunicorn.conf.py, {WORKERS} workers, plus each setup's flags ({flags}). "
              f"wrk -t{THREADS_WRK} -c{CONNECTIONS_WRK} on {ROUTE}, phases of {DURATION} s, {ROUNDS} attacks each "
              f"between two phases without one; attack: {CONNECTIONS} connections, a partial request each, "
              f"one more byte "
              f"every {TRICKLE:g} s, reopened when closed; probes of /healthz and {ROUTE} every "
              f"{PROBE_INTERVAL} s, fresh connection, {PROBE_TIMEOUT:g} s allowed.", ""]
    report += report_lines(results)
    report.append("")
    serve = results.get("make serve")
    if serve:
        report.append(f"Targets for make serve (under attack >= {TARGET_RATIO} of the throughput without, every "
                      f"probe answered within {TARGET_PROBE_S:g} s): {'met' if serve['met'] else 'NOT met'}.")
    print("\n".join(report))
    return 0 if serve is None or serve["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
