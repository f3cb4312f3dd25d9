"""The two real servers as `make serve` (gunicorn) and `make run` (`python -m app`) start them, on a free
loopback port, as subprocesses whose output lands in files; and a client that sends raw bytes."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.support import AUDIENCE

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def gunicorn(provider, logs: Path, *args: str, **env: str | None):
    """`make serve`'s command against the fake provider (None: local mode), `args` after
    `-c gunicorn.conf.py`. Yields its URL; stdout and stderr land in ``logs``."""
    command = [str(Path(sys.executable).parent / "gunicorn"), "-c", "gunicorn.conf.py", *args]
    with _serving(command, provider, logs, env, stopped=0) as url:  # 0: gunicorn stopped gracefully
        yield url


@contextlib.contextmanager
def dev_server(provider, logs: Path, **env: str | None):
    """`make run`'s command (`python -m app`, werkzeug's development server) against the fake provider."""
    with _serving([sys.executable, "-m", "app"], provider, logs, env, stopped=-signal.SIGTERM) as url:
        yield url


@contextlib.contextmanager
def _serving(command: list[str], provider, logs: Path, env: dict, stopped: int):
    """Run ``command`` from the repository with the provider's settings, a free PORT, BIND_HOST on
    loopback and ``env`` on top (None removes a variable); SIGTERM must then end it with ``stopped``."""
    port = free_port()
    provider_env = {"AUTH_ISSUER": provider.issuer, "AUTH0_AUDIENCE": AUDIENCE} if provider else {}
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("AUTH", "GUNICORN"))}, **provider_env,
           "WEB_CONCURRENCY": "2", "LOG_LEVEL": "INFO", "PORT": str(port), "BIND_HOST": "127.0.0.1", **env}
    with open(logs / "stdout.log", "wb") as out, open(logs / "stderr.log", "wb") as err:
        process = subprocess.Popen(command, cwd=ROOT, env={k: v for k, v in env.items() if v is not None},
                                   stdout=out, stderr=err)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(url, process, logs / "stderr.log")
        yield url
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=40)
    assert code == stopped, f"exit status {code}: " + (logs / "stderr.log").read_text()


def _wait_until_serving(url: str, process: subprocess.Popen, stderr: Path) -> None:
    for _ in range(300):
        if process.poll() is not None:
            break
        try:
            if requests.get(url + "/healthz", timeout=10).status_code == 200:
                return
        except requests.ConnectionError:  # not listening yet
            time.sleep(0.05)
    pytest.fail("the server did not start: " + stderr.read_text())


def send_raw(url: str, request: bytes, timeout: float = 5) -> bytes:
    """Send ``request`` as is (bytes no HTTP client would send) and read the answer until the server closes."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as conn:
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer
