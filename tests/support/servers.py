"""The two real servers as `make serve` (gunicorn) and `make run` (`python -m app`) start them, on a free
loopback port, as subprocesses whose output lands in files; what their logs say of workers and key fetches;
and a client that sends raw bytes."""

from __future__ import annotations

import contextlib
import re
import signal
import socket
import sys
from collections import Counter
from pathlib import Path

from tests.support import ROOT
from tests.support.processes import free_port, server_process
from tests.support.tokens import AUDIENCE

KEYS_FETCHED = re.compile(r"\[(\d+)\] \[INFO\] security\.keys: jwks fetched")
WORKER_BOOTED = re.compile(r"Booting worker with pid: (\d+)")


@contextlib.contextmanager
def gunicorn(provider, logs: Path, *args: str, root: Path = ROOT, **env: str | None):
    """`make serve`'s command against the fake provider (None: local mode), `args` after
    `-c gunicorn.conf.py`, run from ``root``. Yields its URL; stdout and stderr land in ``logs``."""
    command = [str(Path(sys.executable).parent / "gunicorn"), "-c", "gunicorn.conf.py", *args]
    with _serving(command, provider, logs, env, root=root, status=0) as url:  # 0: gunicorn stopped gracefully
        yield url


@contextlib.contextmanager
def dev_server(provider, logs: Path, *, root: Path = ROOT, **env: str | None):
    """`make run`'s command (`python -m app`, werkzeug's development server) against the fake provider."""
    with _serving([sys.executable, "-m", "app"], provider, logs, env, root=root, status=-signal.SIGTERM) as url:
        yield url


@contextlib.contextmanager
def _serving(command: list[str], provider, logs: Path, env: dict, *, root: Path, status: int):
    """``command`` with the provider's settings, BIND_HOST on loopback, a SQLite database in ``logs`` and ``env``
    on top (None removes a variable); SIGTERM must then end it with ``status``."""
    provider_env = {"AUTH_ISSUER": provider.issuer, "AUTH0_AUDIENCE": AUDIENCE} if provider else {}
    env = {**provider_env, "WEB_CONCURRENCY": "2", "LOG_LEVEL": "INFO", "BIND_HOST": "127.0.0.1",
           "DATABASE_URL": f"sqlite:///{logs / 'messages.db'}", **env}  # never the repository's database
    with server_process(command, port=free_port(), env=env, cwd=root, logs=logs, status=status) as url:
        yield url


def send_raw(url: str, request: bytes, timeout: float = 5) -> bytes:
    """Send ``request`` as is (bytes no HTTP client would send) and read the answer until the server closes."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as conn:
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


def key_fetches(log: Path) -> Counter:
    """How many times each process (pid) fetched the issuer's keys, from the app's lines in a server's ``log``."""
    return Counter(int(pid) for pid in KEYS_FETCHED.findall(log.read_text()))


def booted_workers(log: Path) -> list[int]:
    """The pids of the workers gunicorn has booted, in order, from its ``log``."""
    return [int(pid) for pid in WORKER_BOOTED.findall(log.read_text())]
