"""`python -m bench.tail_probe`: where gunicorn's gevent worker loses its latency tail, measured inside the
workers, beside `make serve`'s worker (app/gevent_worker.py). bench/RESULTS.md, "Cause of the tail".

For each worker class and connection count, one gunicorn as `make serve` runs it (2 workers), a warm-up,
then one wrk run on /api/public, with each worker recording every request it answers (its connection,
when the app started and ended it) and every full garbage-collector pass. Per worker, it prints:
- the longest run of requests one connection had answered in a row, and how long it lasted;
- the most requests the worker answered for others while one connection's next request waited;
- over how long the connections' first requests were spread (how long the last one waited to be accepted);
- the full GC passes: how many, and how long each held the worker.
Counted in requests rather than milliseconds where it can be, so that a busy machine changes little.
Settings (environment): TAIL_PROBE_SECONDS (per wrk run, 5), TAIL_PROBE_CONNECTIONS ("8 64").
"""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gunicorn.workers.ggevent import GeventWorker

from app.gevent_worker import FairGeventWorker

from .bench import wrk
from .common import Gunicorn, Provider, rsa_key, token

SECONDS = int(os.environ.get("TAIL_PROBE_SECONDS", 5))
CONNECTIONS = [int(count) for count in os.environ.get("TAIL_PROBE_CONNECTIONS", "8 64").split()]
DIRECTORY = "TAIL_PROBE_DIR"  # where each worker writes its records, <pid>.log; they start once "go" is there


class _Probe:
    """Records each request the app answers (``R connection start end``) and each full GC pass (``G start
    end``) in the worker's file, from the moment the probe's directory holds a file named "go"."""

    def init_process(self):
        self._directory = Path(os.environ[DIRECTORY])
        self._records = open(self._directory / f"{os.getpid()}.log", "w")  # noqa: SIM115 - the worker's life long
        self._recording, self._gc_started = False, 0.0
        gc.callbacks.append(self._full_pass)
        super().init_process()

    def load_wsgi(self):
        super().load_wsgi()
        app, write, now = self.wsgi, self._records.write, time.perf_counter

        def recorded(environ, start_response):
            if not self._recording:
                return app(environ, start_response)
            started = now()
            try:
                return app(environ, start_response)
            finally:
                write(f"R {id(environ['gunicorn.socket'])} {started:.6f} {now():.6f}\n")

        self.wsgi = recorded

    def _full_pass(self, phase: str, info: dict) -> None:
        if info["generation"] != 2 or not self._recording:
            return
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self._records.write(f"G {self._gc_started:.6f} {time.perf_counter():.6f}\n")

    def notify(self):  # every second or so
        super().notify()
        self._recording = self._recording or (self._directory / "go").exists()
        self._records.flush()


class GeventWorkerProbe(_Probe, GeventWorker):
    """gunicorn's own gevent worker, recorded."""


class FairGeventWorkerProbe(_Probe, FairGeventWorker):
    """`make serve`'s, recorded."""


def analyze(path: Path) -> str:
    requests, passes = [], []
    for line in path.read_text().splitlines():
        kind, *fields = line.split()
        if kind == "R":
            requests.append((int(fields[0]), float(fields[1]), float(fields[2])))
        else:
            passes.append((float(fields[0]), float(fields[1])))
    if not requests:
        return f"worker {path.stem}: no request"
    first, last, waited = {}, {}, 0  # connection -> first start; -> index of its last request
    run = longest = 1
    run_start, longest_ms = requests[0][1], 0.0
    for index, (connection, start, end) in enumerate(requests):
        first.setdefault(connection, start)
        if connection in last:
            waited = max(waited, index - last[connection] - 1)
        last[connection] = index
        if index and connection == requests[index - 1][0]:
            run += 1
            if run > longest:
                longest, longest_ms = run, (end - run_start) * 1000
        else:
            run, run_start = 1, start
    spread = (max(first.values()) - min(first.values())) * 1000
    gc_passes = ", ".join(f"{(end - start) * 1000:.1f} ms" for start, end in passes) or "none"
    return (f"worker {path.stem}: {len(requests)} requests on {len(first)} connections; longest run of one "
            f"connection {longest} requests ({longest_ms:.0f} ms); most requests answered for others while one "
            f"waited: {waited}; first requests spread over {spread:.0f} ms; full GC passes: {gc_passes}")


def main() -> int:
    key = rsa_key("tail-probe-key")
    provider = Provider([key])
    authorization = "Bearer " + token(provider.issuer, key)
    try:
        for probe in (GeventWorkerProbe, FairGeventWorkerProbe):
            for connections in CONNECTIONS:
                directory = Path(tempfile.mkdtemp(prefix="tail-probe-"))
                os.environ[DIRECTORY] = str(directory)
                server = Gunicorn(provider, 2, args=("--worker-class", f"bench.tail_probe.{probe.__name__}"))
                try:
                    url = server.url + "/api/public"
                    subprocess.run(["wrk", "-t2", f"-c{connections}", "-d2s", url], check=True, capture_output=True)
                    (directory / "go").touch()
                    time.sleep(1.5)  # every worker has seen it
                    result = wrk(server, url, authorization, SECONDS, connections)
                finally:
                    server.stop()
                    shutil.rmtree(server.workdir, ignore_errors=True)
                print(f"{probe.__doc__.strip()} wrk -t2 -c{connections} -d{SECONDS}s: p50 {result['p50']:.2f} ms, "
                      f"p90 {result['p90']:.2f} ms, p99 {result['p99']:.2f} ms, {result['rps']:.0f} req/s")
                for path in sorted(directory.glob("*.log")):
                    print("  " + analyze(path))
                shutil.rmtree(directory)
    finally:
        provider.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
