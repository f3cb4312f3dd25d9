"""`make bench`: throughput and latency of the three routes under gunicorn, token cache on and off, of the
two protected routes called with DPoP, and of the messages routes on SQLite and on PostgreSQL; then the
latency tail of the busiest routes with many connections.

For each mode, one gunicorn (as `make serve` runs it, on loopback) against a loopback fake provider.
wrk drives one route at a time; routes are interleaved and their order rotates every round, so slow
drifts of a shared machine hit every route alike. Every Bearer request carries the same Authorization
header (the public route ignores it), so those requests differ only by path. Ratios are taken within a
round; the table shows their median and, beside it, their interquartile range.

DPoP rows: every request needs a proof of its own (a replayed one is refused), so the proofs are made
before each run (bench.common.DPoPClient, ES256, about 50 µs each, outside the measured time) and a wrk
Lua script (bench/dpop.lua) sends the next one with each request, with a token bound to their key. The
proof is checked on every request; the token comes from the verified-token cache (cache on).

The messages routes: `GET /api/messages/{id}` reads one message posted before the run; `POST /api/messages`
posts a new one on each request, each answered only once its commit is durable (SQLite with
synchronous=FULL; PostgreSQL with its defaults, fsync on, in a cluster of the run's own, started with
tests/support/postgres.py's helper when PostgreSQL is installed).

Each row also shows where its cost goes: the CPU time per request of the workers, of wrk and of the rest of
the machine (a PostgreSQL server, the kernel's threads), read from /proc around each wrk run.

The metrics' cost: two gunicorns side by side, one with METRICS=off and one with METRICS=on (each request counted
and timed, the figures written to the multiprocess directory), drive the public route in turns, round after
round; the METRICS=on row must serve at least 0.95 of the METRICS=off one's req/s, taken within each round.

The tail: every row shows its median, 90th and 99th percentile latency (each the median over rounds). The
public, Bearer, DPoP and message-read routes are also run with 64 connections, and on those routes, cache
on, the 99th percentile must stay within 5 times the median, and within 10 ms with 8 connections. The DPoP
route's extra cost over the public one, in the workers' CPU time per request, is set against one ES256
proof verification, timed in this process each round (DPoPClient.verification_us).

Many short rounds rather than a few long ones: on a 2-core virtual machine the public route's own
rate moves by +-15% from one 2 s window to the next, and with 7 rounds of 5 s the median ratio moved
by +-0.04 between identical runs, as much as the effect being measured.

Settings (environment): BENCH_WORKERS (2), BENCH_CONNECTIONS (8), BENCH_TAIL_CONNECTIONS (64), BENCH_THREADS
(wrk's, 2), BENCH_DURATION (seconds per wrk run, 2), BENCH_ROUNDS (24), BENCH_WARMUP (seconds per route, 2),
BENCH_GUNICORN_ARGS (extra gunicorn flags, e.g. "--worker-class gevent" for gunicorn's own gevent worker, or
"--worker-class sync", to compare with gunicorn.conf.py's; none by default).
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import subprocess
import sys
import urllib.request
from collections import Counter
from pathlib import Path
from statistics import quantiles

from tests.support.postgres import PostgresServer, postgres_bin

from .common import (
    ROUTES,
    DPoPClient,
    Gunicorn,
    Provider,
    describe_machine,
    machine_busy_seconds,
    median,
    rsa_key,
    token,
)

WORKERS = int(os.environ.get("BENCH_WORKERS", 2))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", 8))
TAIL_CONNECTIONS = int(os.environ.get("BENCH_TAIL_CONNECTIONS", 64))
THREADS = int(os.environ.get("BENCH_THREADS", 2))
DURATION = int(os.environ.get("BENCH_DURATION", 2))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 24))
WARMUP = int(os.environ.get("BENCH_WARMUP", 2))
GUNICORN_ARGS = tuple(os.environ.get("BENCH_GUNICORN_ARGS", "").split())
TARGET_RATIO, TARGET_P50 = 0.95, 1.10
DPOP_TARGET_RATIO = 0.80
TAIL_SPREAD, TAIL_P99_MS = 5, 10.0  # p99 <= 5 x p50 always, and <= 10 ms with CONNECTIONS
DPOP_FLOOR = 1.5  # the DPoP route's extra worker CPU per request, at most this many ES256 verifications
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}
DPOP = " (DPoP)"
PUBLIC = "/api/public"
GET_MESSAGE, POST_MESSAGE = "GET /api/messages/{id}", "POST /api/messages"
#: The rows: the three routes with a Bearer token, the protected ones with DPoP, the messages routes.
ROWS = (*ROUTES, *(route + DPOP for route in ROUTES if route != PUBLIC), GET_MESSAGE, POST_MESSAGE)
DPOP_ROW = "/api/private" + DPOP
#: the rows held to the tail targets, in the cache-on modes on SQLite (`make serve`'s defaults)
TAIL_ROWS = (PUBLIC, "/api/private", DPOP_ROW, GET_MESSAGE)
SQLITE, POSTGRESQL = "SQLite", "PostgreSQL"
METRICS_ON = PUBLIC + " (METRICS=on)"
METRICS_MODE = "METRICS=on against METRICS=off"
CACHE_ON, CACHE_OFF = {"AUTH_TOKEN_CACHE_SIZE": 10_000}, {"AUTH_TOKEN_CACHE_SIZE": 0}
#: name, settings, database, rows, connections; the verdicts are the cache-on modes'
MODES = (("cache on", CACHE_ON, SQLITE, ROWS, CONNECTIONS),
         (f"cache on, {TAIL_CONNECTIONS} connections", CACHE_ON, SQLITE, TAIL_ROWS, TAIL_CONNECTIONS),
         ("cache off", CACHE_OFF, SQLITE, ROWS, CONNECTIONS),
         ("cache on, PostgreSQL", CACHE_ON, POSTGRESQL, (PUBLIC, GET_MESSAGE, POST_MESSAGE), CONNECTIONS))
#: cache on: route -> (least req/s ratio to public, databases it applies to)
MESSAGE_TARGETS = {GET_MESSAGE: (0.80, (SQLITE, POSTGRESQL)), POST_MESSAGE: (0.50, (SQLITE,))}
LUA = Path(__file__).resolve().parent / "dpop.lua"
POST_SCRIPT = """wrk.method = "POST"
wrk.body = '{"text": "A message from make bench"}'
wrk.headers["Content-Type"] = "application/json"
"""
PROOF_MARGIN = 1.5  # proofs made per run: the fastest rate seen so far, times the duration, times this


def ensure_wrk() -> str:
    """wrk from Debian, installed with apt-get when missing."""
    if not shutil.which("wrk"):
        print("wrk is missing: installing the Debian package", file=sys.stderr)
        apt = ["apt-get", "-q", "-y"] if os.geteuid() == 0 else ["sudo", "apt-get", "-q", "-y"]
        if subprocess.run([*apt, "install", "wrk"], check=False).returncode != 0:
            subprocess.run([*apt, "update"], check=True)
            subprocess.run([*apt, "install", "wrk"], check=True)
    return shutil.which("wrk")


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(number) * UNITS[unit]


def wrk(server: Gunicorn, url: str, authorization: str, seconds: int, connections: int,
        proofs: Path | None = None, script: Path | None = None) -> dict:
    """One wrk run; with ``proofs`` (a file of DPoP proofs, one a line), each request sends the next one;
    ``script``: another wrk Lua script (the POST's). Also the CPU time per request of ``server``'s workers,
    of wrk, and of the rest of the machine (a database server, the kernel's threads)."""
    threads = min(THREADS, connections)
    script = ["-s", str(LUA)] if proofs else (["-s", str(script)] if script else [])
    extra = ["--", str(proofs), str(threads)] if proofs else []
    workers, machine, children = server.cpu_seconds(), machine_busy_seconds(), _children_cpu_seconds()
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-H",
         f"Authorization: {authorization}", *script, url, *extra],
        check=True, capture_output=True, text=True,
    ).stdout
    workers, client = server.cpu_seconds() - workers, _children_cpu_seconds() - children
    rest = machine_busy_seconds() - machine - workers - client
    requests = max(1, int(re.search(r"(\d+) requests in", out).group(1)))
    latency = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)\s*$", out, re.M))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        # none when nothing was answered
        **{f"p{p}": _ms(latency[p]) if p in latency else float("nan") for p in ("50", "90", "99")},
        "non2xx": int(bad.group(1)) if bad else 0,
        # a read error is the server closing a connection (sync workers close each one), not a failure
        "errors": sum(map(int, errors.groups())) - int(errors.group(2)) if errors else 0,
        "cpu": {"workers": workers / requests * 1e6, "wrk": client / requests * 1e6, "rest": rest / requests * 1e6},
    }


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # the wrk runs, once each has been waited for
    return usage.ru_utime + usage.ru_stime


class Runner:
    """Runs wrk on one row: Bearer rows with the one token, DPoP rows with fresh proofs for each run."""

    def __init__(self, server: Gunicorn, bearer: str, dpop: DPoPClient, workdir: Path, connections: int):
        self.server, self.bearer, self.dpop, self.workdir = server, bearer, dpop, workdir
        self.connections = connections
        self.fastest = 2000.0  # req/s: a first guess, raised by every run
        self.post_script = workdir / "post.lua"
        self.post_script.write_text(POST_SCRIPT)
        self._message_url: str | None = None

    def message_url(self) -> str:
        """The URL of a message posted for the GET row, once."""
        if self._message_url is None:
            request = urllib.request.Request(
                self.server.url + "/api/messages", data=json.dumps({"text": "Read by make bench"}).encode(),
                headers={"Authorization": self.bearer, "Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=30) as answer:
                self._message_url = self.server.url + answer.headers["Location"]
        return self._message_url

    def run(self, row: str, seconds: int) -> dict:
        url, connections = self.server.url + row.removesuffix(DPOP), self.connections
        if row == GET_MESSAGE:
            result = wrk(self.server, self.message_url(), self.bearer, seconds, connections)
        elif row == POST_MESSAGE:
            result = wrk(self.server, self.server.url + "/api/messages", self.bearer, seconds, connections,
                         script=self.post_script)
        elif not row.endswith(DPOP):
            result = wrk(self.server, url, self.bearer, seconds, connections)
        else:
            count = int(self.fastest * seconds * PROOF_MARGIN) + 1000
            proofs = self.workdir / "proofs.txt"
            proofs.write_text("\n".join(self.dpop.proofs(url, count)) + "\n")
            result = wrk(self.server, url, self.dpop.authorization, seconds, connections, proofs)
            result["proofs"] = count
        self.fastest = max(self.fastest, result["rps"])
        return result


def run_mode(name: str, settings: dict, rows: tuple[str, ...], connections: int, provider: Provider,
             authorization: str, dpop: DPoPClient) -> dict:
    server = Gunicorn(provider, WORKERS, args=GUNICORN_ARGS, **settings)
    try:
        runner = Runner(server, authorization, dpop, server.workdir, connections)
        for row in rows:
            runner.run(row, WARMUP)
        rounds, verifications = [], []
        for number in range(ROUNDS):
            shift = number % len(rows)
            order = rows[shift:] + rows[:shift]
            rounds.append({row: runner.run(row, DURATION) for row in order})
            verifications.append(dpop.verification_us())
            print(f"  {name}, round {number + 1}/{ROUNDS}: "
                  + ", ".join(f"{r} {rounds[-1][r]['rps']:.0f}/s" for r in rows), file=sys.stderr, flush=True)
        pids = server.worker_pids()
        memory = {pid: server.memory_kib(pid) for pid in pids}
        fetches = server.key_fetches()
    finally:
        server.stop()
    return {"rows": rows, "rounds": rounds, "verifications": verifications, "connections": connections, "pids": pids,
            "memory": memory, "fetches": fetches}


def run_metrics_mode(provider: Provider, authorization: str, dpop: DPoPClient) -> dict:
    """The public route on a METRICS=off gunicorn (the row PUBLIC) and on a METRICS=on one (METRICS_ON), run in
    turns, so that each round's ratio compares the two under the same load of the machine."""
    servers = {PUBLIC: Gunicorn(provider, WORKERS, args=GUNICORN_ARGS, **CACHE_ON)}
    try:
        servers[METRICS_ON] = Gunicorn(provider, WORKERS, args=GUNICORN_ARGS, **CACHE_ON, METRICS="on")
        runners = {row: Runner(server, authorization, dpop, server.workdir, CONNECTIONS)
                   for row, server in servers.items()}
        for runner in runners.values():
            runner.run(PUBLIC, WARMUP)
        rows, rounds = tuple(servers), []
        for number in range(ROUNDS):
            order = rows[number % 2:] + rows[:number % 2]
            rounds.append({row: runners[row].run(PUBLIC, DURATION) for row in order})
            print(f"  {METRICS_MODE}, round {number + 1}/{ROUNDS}: "
                  + ", ".join(f"{r} {rounds[-1][r]['rps']:.0f}/s" for r in rows), file=sys.stderr, flush=True)
        pids = [pid for server in servers.values() for pid in server.worker_pids()]
        memory = {pid: Gunicorn.memory_kib(pid) for pid in pids}
        fetches = sum((server.key_fetches() for server in servers.values()), Counter())
    finally:
        for server in servers.values():
            server.stop()
    return {"rows": rows, "rounds": rounds, "verifications": [], "connections": CONNECTIONS, "pids": pids,
            "memory": memory, "fetches": fetches}


def summarize(name: str, database: str, result: dict) -> tuple[list[str], dict[str, bool]]:
    """The mode's table, and its verdicts: "throughput" (the ratios to public), "dpop" (the DPoP rows' ratio),
    "floor" (the DPoP route's extra CPU), "tail" (the held rows' latency tail), "fetches" (one per worker)."""
    rounds, connections = result["rounds"], result["connections"]
    lines = [f"### {name}", "",
             f"`wrk -t{min(THREADS, connections)} -c{connections}`.", "",
             "| route | req/s | p50 ms | p90 ms | p99 ms | tail | req/s ratio to public (IQR) | p50 ratio to public "
             "| non-2xx | errors | CPU µs/request: workers, wrk, rest |",
             "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|"]
    met = dpop_met = tail_met = floor_met = True
    held_to_tail = name.startswith("cache on") and database == SQLITE
    for route in result["rows"]:
        runs = [r[route] for r in rounds]
        ratios = [r[route]["rps"] / r["/api/public"]["rps"] for r in rounds]
        ratio = median(ratios)
        low, _, high = quantiles(ratios) if len(ratios) > 1 else (ratio, ratio, ratio)
        p50_ratio = median([r[route]["p50"] / r["/api/public"]["p50"] for r in rounds])
        bad = sum(run["non2xx"] for run in runs)
        errors = sum(run["errors"] for run in runs)
        p50, p90, p99 = (median([run[p] for run in runs]) for p in ("p50", "p90", "p99"))
        tail = ""
        if held_to_tail and route in TAIL_ROWS:
            within = p99 <= TAIL_SPREAD * p50 and (connections != CONNECTIONS or p99 <= TAIL_P99_MS)
            tail, tail_met = ("met" if within else "NOT met"), tail_met and within
        lines.append(f"| {route} | {median([x['rps'] for x in runs]):.0f} | {p50:.2f} | {p90:.2f} | {p99:.2f} | {tail} "
                     f"| {ratio:.3f} ({low:.2f}-{high:.2f}) | {p50_ratio:.3f} | {bad} | {errors} | {cpu(runs)} |")
        if route.endswith(DPOP):
            dpop_met &= ratio >= DPOP_TARGET_RATIO and bad == 0 and errors == 0
        elif route in MESSAGE_TARGETS:
            least, databases = MESSAGE_TARGETS[route]
            met &= database not in databases or ratio >= least
        elif route != PUBLIC:
            met &= ratio >= TARGET_RATIO and p50_ratio <= TARGET_P50
        if not route.endswith(DPOP):
            met &= bad == 0 and errors == 0
    lines.append("")
    if DPOP_ROW in result["rows"]:
        extra = [r[DPOP_ROW]["cpu"]["workers"] - r[PUBLIC]["cpu"]["workers"] for r in rounds]
        verification = median(result["verifications"])
        times = median([e / v for e, v in zip(extra, result["verifications"], strict=True)])
        lines.append(f"{DPOP_ROW} over {PUBLIC}, workers' CPU per request: {median(extra):.0f} µs, "
                     f"{times:.2f} times "
                     f"one ES256 proof verification ({verification:.1f} µs in this process, the median over rounds).")
        lines.append("")
        floor_met = times <= DPOP_FLOOR
    fetches = ", ".join(f"{result['fetches'].get(pid, 0)}" for pid in result["pids"])
    peaks = ", ".join(f"{result['memory'][pid]['VmHWM'] / 1024:.1f}" for pid in result["pids"])
    lines.append(f"Key-set fetches per worker: {fetches}. Peak RSS per worker (MiB): {peaks}.")
    lines.append("")
    fetch_ok = all(result["fetches"].get(pid, 0) <= 1 for pid in result["pids"])
    return lines, {"throughput": met, "dpop": dpop_met, "floor": floor_met, "tail": tail_met, "fetches": fetch_ok}


def cpu(runs: list[dict]) -> str:
    """Median CPU time per request of the workers, of wrk and of the rest of the machine, over ``runs``."""
    return ", ".join(f"{median([run['cpu'][part] for run in runs]):.0f}" for part in ("workers", "wrk", "rest"))


def main() -> int:
    ensure_wrk()
    machine = describe_machine()
    key = rsa_key("bench-key")
    provider = Provider([key])
    authorization = "Bearer " + token(provider.issuer, key, scope="openid read:messages write:messages")
    dpop = DPoPClient(provider.issuer, key)
    print(f"gunicorn (gunicorn.conf.py): {WORKERS} workers; "
          f"wrk -t{THREADS} -c{CONNECTIONS} (and -c{TAIL_CONNECTIONS}), "
          f"{ROUNDS} rounds of {DURATION}s per route and mode, after {WARMUP}s warm-up per route", file=sys.stderr)
    postgres, results, databases = None, {}, {}
    try:
        for name, settings, database, rows, connections in MODES:
            if database == POSTGRESQL:
                try:
                    postgres = postgres or start_postgres()
                except LookupError as missing:
                    print(f"{name}: skipped ({missing})", file=sys.stderr)
                    continue
                settings = {**settings, "DATABASE_URL": postgres.new_database()}
            results[name] = run_mode(name, settings, rows, connections, provider, authorization, dpop)
            databases[name] = database
        results[METRICS_MODE] = run_metrics_mode(provider, authorization, dpop)
        databases[METRICS_MODE] = SQLITE
    finally:
        provider.close()
        if postgres is not None:
            postgres.remove()
    command = " ".join(("gunicorn -c gunicorn.conf.py", *GUNICORN_ARGS))
    report = ["## make bench", "", f"Machine: {machine}.", "",
              f"`{command}`, {WORKERS} workers, `wrk -t{THREADS} -c{CONNECTIONS} -d{DURATION}s --latency` (and "
              f"-c{TAIL_CONNECTIONS} for the tail), {ROUNDS} rounds, routes interleaved; medians over rounds; ratios "
              "taken within each round. DPoP rows: a fresh ES256 proof per request, made before each run and sent by "
              "bench/dpop.lua.", ""]
    verdicts = {}
    for name, result in results.items():
        lines, verdicts[name] = summarize(name, databases[name], result)
        report += lines
    cache_on = [name for name, *_, connections in MODES if name.startswith("cache on") and name in results]
    held = {"throughput": [name for name in cache_on if results[name]["connections"] == CONNECTIONS],
            "dpop": ["cache on"], "floor": ["cache on"],
            "tail": [name for name in cache_on if databases[name] == SQLITE], "fetches": list(results)}
    met = {verdict: all(verdicts[name][verdict] for name in names) for verdict, names in held.items()}
    met["metrics"] = verdicts[METRICS_MODE]["throughput"]  # METRICS_ON's ratio to METRICS=off's public route
    said = {verdict: "met" if ok else "NOT met" for verdict, ok in met.items()}
    report.append(f"Targets, cache on (protected quickstart routes >= {TARGET_RATIO} of public req/s, p50 within "
                  f"10%; {GET_MESSAGE} >= {MESSAGE_TARGETS[GET_MESSAGE][0]} on each database; {POST_MESSAGE} >= "
                  f"{MESSAGE_TARGETS[POST_MESSAGE][0]} on SQLite): {said['throughput']}. DPoP target, cache on "
                  f"(>= {DPOP_TARGET_RATIO} of public req/s, no refusal): {said['dpop']}. Tail, cache on "
                  f"({', '.join(TAIL_ROWS)}: p99 <= {TAIL_SPREAD} x p50, and <= {TAIL_P99_MS:g} ms with "
                  f"{CONNECTIONS} connections): {said['tail']}. DPoP near its floor, cache on ({DPOP_ROW}'s extra "
                  f"workers' CPU per request <= {DPOP_FLOOR} ES256 verifications): {said['floor']}. "
                  f"Metrics' cost ({METRICS_ON} >= {TARGET_RATIO} of METRICS=off's req/s, p50 within 10%): "
                  f"{said['metrics']}. At most one key-set "
                  f"fetch per worker: {'yes' if met['fetches'] else 'NO'}.")
    print("\n".join(report))
    return 0 if all(met.values()) else 1


def start_postgres() -> PostgresServer:
    """A PostgreSQL cluster of the run's own, durable (fsync on, unlike the tests'); LookupError without one."""
    server = PostgresServer(postgres_bin()).init()
    server.start(durable=True)
    return server


if __name__ == "__main__":
    sys.exit(main())
