"""A real Redis for the tests: Debian's redis-server on a free loopback port, no persistence.

Outside CI a missing redis-server skips the tests that need it, saying why; in CI (CI=true) it fails them.
"""

from __future__ import annotations

import contextlib
import subprocess
import time

import redis

from tests.support.processes import free_port
from tests.support.tools import require_tool


@contextlib.contextmanager
def redis_server(port: int | None = None):
    """Yields (url, process) of a fresh redis-server; stops it afterwards if the test has not."""
    port = port or free_port()
    executable = require_tool("redis-server", install="Debian: apt-get install redis-server")
    process = subprocess.Popen(
        [executable, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {port}") from None
                time.sleep(0.02)
            finally:
                client.close()
        yield url, process
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=10)

