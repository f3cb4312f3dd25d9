"""GET /readyz: ready only when the database answers, the issuers' keys are held and the shared replay store
answers; otherwise 503 naming the failing check, without a URL's password or a driver's SQL. Real parts: a
PostgreSQL stopped and started again under a running API, a redis-server stopped, issuers that never answer."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest
import requests

from app import create_app
from security.protector import EXTENSION
from tests.support import AUDIENCE, eventually, live
from tests.support.postgres import PostgresServer, running_postgres
from tests.support.redis_server import redis_server

PASSWORD = "pg-secret-123"  # PostgreSQL trusts loopback here: any password connects, and none may be shown


def readiness(url: str) -> tuple[int, dict]:
    response = requests.get(url + "/readyz", timeout=10)
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Type"] == "application/json"
    return response.status_code, response.json()


def metric(url: str, sample: str) -> float:
    """One sample's value on the app's /metrics page (0 when it has none yet)."""
    text = requests.get(url + "/metrics", timeout=10).text
    found = re.search(rf"^{re.escape(sample)} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


@pytest.fixture
def own_postgres():
    """A PostgreSQL server of the test's own: stopping it must not disturb the session's."""
    with running_postgres() as server:
        yield server


def test_a_database_stopped_and_started_again(own_postgres, make_app, tokens):
    database = own_postgres.new_database().replace("postgres@", f"postgres:{PASSWORD}@")
    reader = {"Authorization": f"Bearer {tokens.make(scope='read:messages')}"}
    with live(make_app(DATABASE_URL=database, METRICS="on")) as server:
        assert eventually(lambda: readiness(server.url) == (200, {"status": "ready", "checks": {
            "database": "ok", "keys": "ok"}})), readiness(server.url)  # the keys: once fetched, on the first probe

        own_postgres.stop()
        status, body = readiness(server.url)
        assert status == 503
        assert body["status"] == "not ready" and body["checks"]["keys"] == "ok"
        assert body["checks"]["database"].startswith("unavailable")
        unavailable = metric(server.url, "storage_unavailable_total")
        answer = requests.get(server.url + "/api/messages", headers=reader, timeout=10)
        assert (answer.status_code, answer.json()["error"]) == (503, "temporarily_unavailable")
        assert metric(server.url, "storage_unavailable_total") == unavailable + 1

        own_postgres.start()
        assert eventually(lambda: readiness(server.url)[0] == 200, seconds=10), readiness(server.url)
        answer = requests.get(server.url + "/api/messages", headers=reader, timeout=10)
        assert answer.status_code == 200  # the same API, never restarted

    for text in (str(body), body["checks"]["database"]):
        assert PASSWORD not in text and "postgres" not in text.lower() and "select" not in text.lower()


def test_a_database_that_does_not_answer_fails_the_check_within_about_a_second(own_postgres, make_app):
    with live(make_app(DATABASE_URL=own_postgres.new_database())) as server:
        assert eventually(lambda: readiness(server.url)[0] == 200), readiness(server.url)
        frozen = postgres_processes(own_postgres)
        for pid in frozen:  # the server and its backends: connections are accepted, queries never answered
            os.kill(pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            status, body = readiness(server.url)
            took = time.monotonic() - started
        finally:
            for pid in frozen:
                os.kill(pid, signal.SIGCONT)
        assert (status, body["checks"]["database"]) == (503, "no answer within 1 s")
        assert 1 <= took < 2.5
        assert eventually(lambda: readiness(server.url)[0] == 200), readiness(server.url)


def postgres_processes(server: PostgresServer) -> list[int]:
    """The postmaster's pid (first line of postmaster.pid) and its children's, from /proc."""
    postmaster = int((server.data / "postmaster.pid").read_text().split()[0])
    children = Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()
    return [postmaster, *map(int, children)]


def test_a_replay_store_stopped(make_app):
    with redis_server() as (redis_url, redis_process):
        with live(make_app(AUTH_DPOP="allowed", AUTH_DPOP_REPLAY_URL=redis_url)) as server:
            assert eventually(lambda: readiness(server.url)[0] == 200), readiness(server.url)
            assert readiness(server.url)[1]["checks"] == {"database": "ok", "keys": "ok", "replay_store": "ok"}
            redis_process.terminate()
            redis_process.wait(timeout=10)
            status, body = readiness(server.url)
    assert status == 503
    assert body["checks"]["database"] == "ok" and body["checks"]["keys"] == "ok"
    assert body["checks"]["replay_store"].startswith("unavailable: ")
    assert "redis://" not in str(body) and "127.0.0.1" not in str(body)


def test_no_replay_store_check_without_a_shared_store(make_app):
    with live(make_app(AUTH_DPOP="allowed")) as server:
        assert eventually(lambda: readiness(server.url)[0] == 200)
        assert set(readiness(server.url)[1]["checks"]) == {"database", "keys"}


def test_an_issuer_that_never_answered(hanging_issuer, tmp_path):
    app = create_app({"AUTH_ISSUER": hanging_issuer.url, "AUTH0_AUDIENCE": AUDIENCE, "AUTH_JWKS_TIMEOUT": "1"},
                     instance_path=tmp_path / "instance")
    with live(app) as server:
        started = time.monotonic()
        status, body = readiness(server.url)
        assert time.monotonic() - started < 1  # the fetch it starts runs beside the answer
        assert status == 503
        assert body == {"status": "not ready", "checks": {
            "database": "ok", "keys": f"no signing keys held yet for {hanging_issuer.url}"}}
        while time.monotonic() < started + 2.5:  # past that fetch's timeout, and the retry delay after it
            assert readiness(server.url)[0] == 503
            time.sleep(0.05)
    assert app.extensions[EXTENSION].keys.fetch_count == 1  # one fetch, however many probes


def test_probes_start_at_most_one_fetch_per_cooldown(provider, make_app):
    provider.down = True
    with live(make_app(AUTH_JWKS_COOLDOWN="2")) as server:
        deadline = time.monotonic() + 3  # past the cooldown once, and past the retry delay after a failure
        statuses = set()
        while time.monotonic() < deadline:
            statuses.add(readiness(server.url)[0])
            time.sleep(0.05)
        assert statuses == {503}
        assert provider.discovery_fetches == 2  # one fetch in the first cooldown, one in the second

        provider.down = False  # the issuer is back: the next fetch a probe starts makes the instance ready
        assert eventually(lambda: readiness(server.url)[0] == 200, seconds=5), readiness(server.url)
        assert provider.discovery_fetches == 3


def test_readyz_is_not_in_the_api_documents(server):
    for document in ("/swagger.json", "/openapi.json"):
        paths = requests.get(server.url + document, timeout=10).json()["paths"]
        assert "/readyz" not in paths and "/metrics" not in paths
