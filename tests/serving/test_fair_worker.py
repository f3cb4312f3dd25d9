"""`make serve`'s gevent worker (app/gevent_worker.py): connections take turns, workers listen on sockets of
their own once ready, and a second server cannot take a share of the address.

Progress, not timings: who was answered before whom, read from the access log's order.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

from tests.support import ROOT
from tests.support.servers import gunicorn
from tests.support.timing import eventually
from tests.support.tokens import AUDIENCE

FLOOD, OTHERS, EACH = 2000, 4, 3


def test_a_connection_with_requests_always_ready_does_not_keep_its_worker(provider, tmp_path):
    """One connection pipelines 2,000 requests: its greenlet never has to wait for the next one. Four
    other keep-alive connections, on the same (single) worker, each get their answers meanwhile."""
    with gunicorn(provider, tmp_path, WEB_CONCURRENCY="1") as url:
        host, port = url.removeprefix("http://").split(":")
        flood = socket.create_connection((host, int(port)), timeout=30)
        answers = Answers(flood)
        try:
            flood.sendall(b"GET /healthz HTTP/1.1\r\nHost: api\r\nUser-Agent: flood\r\n\r\n" * FLOOD)
            assert eventually(lambda: answers.count >= 1, seconds=10)  # the flood is being answered
            for number in range(OTHERS):
                connection = http.client.HTTPConnection(host, int(port), timeout=30)
                try:
                    for _ in range(EACH):  # keep-alive: one connection, requests one after the other
                        connection.request("GET", "/healthz", headers={"User-Agent": f"other-{number}"})
                        response = connection.getresponse()
                        assert (response.status, json.loads(response.read())) == (200, {"status": "ok"})
                finally:
                    connection.close()
            answers.join()
        finally:
            flood.close()
        assert answers.count == FLOOD

        log = tmp_path / "stdout.log"
        assert eventually(lambda: log.read_text().count('"flood"') == FLOOD)
    # the user agent: the quoted field after the request line (see gunicorn.conf.py, access_log_format)
    agents = [line.split('"')[3] for line in log.read_text().splitlines() if "GET /healthz" in line]
    last_flood = len(agents) - 1 - agents[::-1].index("flood")
    others = [index for index, agent in enumerate(agents) if agent.startswith("other-")]
    assert len(others) == OTHERS * EACH
    assert max(others) < last_flood, "the other connections waited for the flood to end"


class Answers(threading.Thread):
    """Reads the flood's answers as they come (so that the server never waits to write them), counting them."""

    def __init__(self, connection: socket.socket):
        super().__init__(daemon=True)
        self.connection, self.count = connection, 0
        self.start()

    def run(self) -> None:
        received = b""
        while self.count < FLOOD and (chunk := self.connection.recv(65536)):
            received += chunk
            self.count = received.count(b"HTTP/1.1 200 ")


def test_a_second_server_on_the_address_stops_at_start_up(provider, tmp_path):
    """Workers listen on sockets of their own (reuse_port), which another server could join unnoticed:
    like gunicorn without reuse_port, the second one stops with one line."""
    (tmp_path / "first").mkdir()
    with gunicorn(provider, tmp_path / "first", WEB_CONCURRENCY="2") as url:
        address = url.removeprefix("http://")
        env = {"PATH": "", "AUTH_ISSUER": provider.issuer, "AUTH0_AUDIENCE": AUDIENCE, "WEB_CONCURRENCY": "2",
               "DATABASE_URL": f"sqlite:///{tmp_path / 'second.db'}"}
        second = subprocess.run([str(Path(sys.executable).parent / "gunicorn"), "-c", "gunicorn.conf.py",
                                 "-b", address], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert second.returncode == 1
        assert f"cannot listen at {address}: Address already in use" in second.stderr.splitlines()
        assert "Booting worker" not in second.stderr
    assert f"Listening at: {url} " in (tmp_path / "first" / "stderr.log").read_text()


def app_loaded_late():
    """create_app(), held back in every worker but the first to get here until a file named "release"
    appears in LATE_LOAD_DIR (gunicorn calls this in each worker as it loads the app)."""
    from app import create_app  # noqa: PLC0415 - in the worker, as gunicorn loads it

    directory = Path(os.environ["LATE_LOAD_DIR"])
    try:
        (directory / "first").touch(exist_ok=False)
    except FileExistsError:
        while not (directory / "release").exists():
            time.sleep(0.05)
    return create_app()


def test_a_worker_still_loading_the_app_is_sent_no_connection(provider, tmp_path):
    """The kernel spreads connections over the workers' own sockets: a worker must open its socket only
    once it can answer, or the connections sent there wait for it (and are reset if it never does)."""
    factory = f"{__name__}:app_loaded_late()"
    with gunicorn(provider, tmp_path, factory, WEB_CONCURRENCY="2", LATE_LOAD_DIR=str(tmp_path)) as url:
        try:
            for _ in range(20):  # each on a connection of its own
                assert requests.get(url + "/healthz", headers={"Connection": "close"}, timeout=10).status_code == 200
        finally:
            (tmp_path / "release").touch()
