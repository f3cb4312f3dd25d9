"""Servers as separate processes: a copy of the repository to run them from, and a command started on a
loopback port, waited for until it serves, and stopped with the signal and exit status a test expects."""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from tests.support import ROOT
from tests.support.timing import eventually


def free_port() -> int:
    """A loopback port nothing listens on now, for a server process to take."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def repository_copy(dest: Path, instance: Path | None = None) -> Path:
    """The app's code and gunicorn.conf.py copied to ``dest`` (with ``instance`` as its instance/): a server
    run from there reads no developer's .env and writes nothing into the repository."""
    shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(
        ".*", "__pycache__", "instance", "build", "tests", "bench", "openapi", "test-artifacts"))
    if instance is not None:
        shutil.copytree(instance, dest / "instance")
    return dest


class ServerProcess:
    """``command`` (e.g. `make run`'s or `make serve`'s) started on loopback ``port``, with ``env`` and PORT over
    the environment minus any AUTH*/GUNICORN*/DATABASE* variable of the caller's own; stdout and stderr go to
    files in ``logs``."""

    def __init__(self, command: list[str], *, port: int, env: dict[str, str | None], cwd: Path, logs: Path):
        self.command, self.port, self.url = command, port, f"http://127.0.0.1:{port}"
        self.stderr_path = logs / "stderr.log"
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH", "GUNICORN", "DATABASE"))}
        with open(logs / "stdout.log", "wb") as out, open(self.stderr_path, "wb") as err:
            environment = {k: v for k, v in {**inherited, **env}.items() if v is not None}  # None: unset
            self.process = subprocess.Popen(command, cwd=cwd, env={**environment, "PORT": str(port)},
                                            stdout=out, stderr=err)

    def wait_until_serving(self, ready=lambda: True, seconds: float = 60) -> None:
        """Until /healthz answers and ``ready()`` holds; an AssertionError with the server's stderr if it never does.
        A deadline, not a measure: with the suite on 3 workers on 2 busy cores, gunicorn's workers have taken more
        than 20 s to load the app."""
        def ended_or_serving() -> bool:
            return self.process.poll() is not None or (_answers(self.url + "/healthz") and ready())

        # one /healthz request once up (tests count the access-log lines a server writes)
        if not eventually(ended_or_serving, seconds) or self.process.poll() is not None:
            raise AssertionError(f"{self.command[0]} did not start: " + self.stderr_path.read_text())

    def stop(self, stop: signal.Signals = signal.SIGTERM, seconds: float = 40) -> int:
        """Send ``stop`` unless it has ended already; its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(stop)
        return self.process.wait(timeout=seconds)


@contextlib.contextmanager
def server_process(command: list[str], *, port: int, env: dict[str, str | None], cwd: Path, logs: Path,
                   stop: signal.Signals = signal.SIGTERM, status: int = 0):
    """A ServerProcess, yielding its URL once /healthz answers; on exit it gets ``stop`` and must end with
    ``status`` (0: a graceful stop)."""
    server = ServerProcess(command, port=port, env=env, cwd=cwd, logs=logs)
    try:
        server.wait_until_serving()
        yield server.url
    finally:
        code = server.stop(stop)
        assert code == status, f"exit status {code}: " + server.stderr_path.read_text()


def _answers(url: str) -> bool:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request("GET", parts.path)
        return connection.getresponse().status == 200
    except OSError:  # not listening yet
        return False
    finally:
        connection.close()
