"""`make bench`: throughput and latency of the three routes under gunicorn, token cache on and off.

For each mode, one gunicorn (as `make serve` runs it, on loopback) against a loopback fake provider.
wrk drives one route at a time; routes are interleaved and their order rotates every round, so slow
drifts of a shared machine hit every route alike. Every request carries the same Authorization header
(the public route ignores it), so the requests differ only by path. Ratios are taken within a round;
the table shows their median and, beside it, their interquartile range.

Many short rounds rather than a few long ones: on a 2-core virtual machine the public route's own
rate moves by +-15% from one 2 s window to the next, and with 7 rounds of 5 s the median ratio moved
by +-0.04 between identical runs, as much as the effect being measured.

Settings (environment): BENCH_WORKERS (2), BENCH_CONNECTIONS (8), BENCH_DURATION (seconds per wrk run, 2),
BENCH_ROUNDS (24), BENCH_WARMUP (seconds per route, 2), BENCH_GUNICORN_ARGS (extra gunicorn flags, e.g.
"--worker-class sync" to compare with gunicorn.conf.py's gevent workers; none by default).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from statistics import quantiles

from .common import ROUTES, Gunicorn, Provider, describe_machine, median, rsa_key, token

WORKERS = int(os.environ.get("BENCH_WORKERS", 2))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", 8))
DURATION = int(os.environ.get("BENCH_DURATION", 2))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 24))
WARMUP = int(os.environ.get("BENCH_WARMUP", 2))
GUNICORN_ARGS = tuple(os.environ.get("BENCH_GUNICORN_ARGS", "").split())
MODES = (("cache on", {"AUTH_TOKEN_CACHE_SIZE": 10_000}), ("cache off", {"AUTH_TOKEN_CACHE_SIZE": 0}))
TARGET_RATIO, TARGET_P50 = 0.95, 1.10
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


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


def wrk(url: str, authorization: str, seconds: int) -> dict:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "-H", f"Authorization: {authorization}", url],
        check=True, capture_output=True, text=True,
    ).stdout
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": _ms(latency["50"]) if "50" in latency else float("nan"),  # none when nothing was answered
        "p99": _ms(latency["99"]) if "99" in latency else float("nan"),
        "non2xx": int(bad.group(1)) if bad else 0,
        # a read error is the server closing a connection (sync workers close each one), not a failure
        "errors": sum(map(int, errors.groups())) - int(errors.group(2)) if errors else 0,
    }


def run_mode(name: str, settings: dict, provider: Provider, authorization: str) -> dict:
    server = Gunicorn(provider, WORKERS, args=GUNICORN_ARGS, **settings)
    try:
        for route in ROUTES:
            wrk(server.url + route, authorization, WARMUP)
        rounds = []
        for number in range(ROUNDS):
            order = ROUTES[number % 3:] + ROUTES[:number % 3]
            rounds.append({route: wrk(server.url + route, authorization, DURATION) for route in order})
            print(f"  {name}, round {number + 1}/{ROUNDS}: "
                  + ", ".join(f"{r} {rounds[-1][r]['rps']:.0f}/s" for r in ROUTES), file=sys.stderr, flush=True)
        pids = server.worker_pids()
        memory = {pid: server.memory_kib(pid) for pid in pids}
        fetches = server.key_fetches()
    finally:
        server.stop()
    return {"rounds": rounds, "pids": pids, "memory": memory, "fetches": fetches}


def summarize(name: str, result: dict) -> tuple[list[str], bool, bool]:
    rounds = result["rounds"]
    lines = [f"### {name}", "",
             "| route | req/s | p50 ms | p99 ms | req/s ratio to public (IQR) | p50 ratio to public | non-2xx | errors |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    met = True
    for route in ROUTES:
        runs = [r[route] for r in rounds]
        ratios = [r[route]["rps"] / r["/api/public"]["rps"] for r in rounds]
        ratio = median(ratios)
        low, _, high = quantiles(ratios) if len(ratios) > 1 else (ratio, ratio, ratio)
        p50_ratio = median([r[route]["p50"] / r["/api/public"]["p50"] for r in rounds])
        bad = sum(run["non2xx"] for run in runs)
        errors = sum(run["errors"] for run in runs)
        lines.append(f"| {route} | {median([x['rps'] for x in runs]):.0f} | {median([x['p50'] for x in runs]):.2f} "
                     f"| {median([x['p99'] for x in runs]):.2f} | {ratio:.3f} ({low:.2f}-{high:.2f}) | {p50_ratio:.3f} "
                     f"| {bad} | {errors} |")
        if route != "/api/public":
            met &= ratio >= TARGET_RATIO and p50_ratio <= TARGET_P50
        met &= bad == 0 and errors == 0
    lines.append("")
    fetches = ", ".join(f"{result['fetches'].get(pid, 0)}" for pid in result["pids"])
    peaks = ", ".join(f"{result['memory'][pid]['VmHWM'] / 1024:.1f}" for pid in result["pids"])
    lines.append(f"Key-set fetches per worker: {fetches}. Peak RSS per worker (MiB): {peaks}.")
    lines.append("")
    fetch_ok = all(result["fetches"].get(pid, 0) <= 1 for pid in result["pids"])
    return lines, met, fetch_ok


def main() -> int:
    ensure_wrk()
    machine = describe_machine()
    key = rsa_key("bench-key")
    provider = Provider([key])
    authorization = "Bearer " + token(provider.issuer, key)
    print(f"gunicorn (gunicorn.conf.py): {WORKERS} workers; wrk -t1 -c{CONNECTIONS}, {ROUNDS} rounds of {DURATION}s "
          f"per route and mode, after {WARMUP}s warm-up per route", file=sys.stderr)
    try:
        results = {name: run_mode(name, settings, provider, authorization) for name, settings in MODES}
    finally:
        provider.close()
    command = " ".join(("gunicorn -c gunicorn.conf.py", *GUNICORN_ARGS))
    report = ["## make bench", "", f"Machine: {machine}.", "",
              f"`{command}`, {WORKERS} workers, `wrk -t1 -c{CONNECTIONS} -d{DURATION}s --latency`, "
              f"{ROUNDS} rounds, routes interleaved; medians over rounds; ratios taken within each round.", ""]
    verdicts = {}
    for name, result in results.items():
        lines, met, fetch_ok = summarize(name, result)
        report += lines
        verdicts[name] = (met, fetch_ok)
    on_met, _ = verdicts["cache on"]
    fetches_ok = all(ok for _, ok in verdicts.values())
    report.append(f"Target, cache on (protected >= {TARGET_RATIO} of public req/s, p50 within 10%): "
                  f"{'met' if on_met else 'NOT met'}. At most one key-set fetch per worker: "
                  f"{'yes' if fetches_ok else 'NO'}.")
    print("\n".join(report))
    return 0 if on_met and fetches_ok else 1


if __name__ == "__main__":
    sys.exit(main())
