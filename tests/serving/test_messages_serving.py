"""No message is lost, through real HTTP and real gunicorn (`make serve`'s command), on SQLite and PostgreSQL:

- 4 freshly started workers and 16 client threads post 2,000 messages: exactly 2,000 rows, each readable,
  no 5xx (a fresh worker's first requests wait for its key fetch);
- concurrent edits with one ETag: exactly one wins, the others get 412;
- workers killed with SIGKILL while clients post: every message answered 201 is there after a restart;
- a locked database (SQLite) or a stopped one (PostgreSQL): 503 with Retry-After, never a 500, then recovery;
- start-up applies the migrations, and a failed one stops `make run` and `make serve` with one line.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from namespaces.messages import MessageStore
from storage import PAGE_MAX
from tests.support import ROOT
from tests.support.processes import ServerProcess, free_port
from tests.support.servers import gunicorn, key_fetches
from tests.support.timing import eventually, run_together
from tests.support.tokens import AUDIENCE

WORKERS, CLIENTS, MESSAGES = 4, 16, 2000
GUNICORN = str(Path(sys.executable).parent / "gunicorn")


@pytest.fixture
def writer(tokens) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.make(sub='loader', scope='read:messages write:messages')}"}


def post_many(url: str, headers: dict, count: int, clients: int = CLIENTS, stop: threading.Event | None = None,
              created: list[str] | None = None):
    """``count`` posts (or until ``stop``) from ``clients`` threads: (ids answered 201, every status seen); the ids
    are added to ``created`` as they come, when given. Plain http.client, a connection per request as gunicorn's
    sync workers want: the clients must not be what limits the rate."""
    parts = urlsplit(url)
    sent = {**headers, "Content-Type": "application/json"}
    created, statuses, lock = [] if created is None else created, [], threading.Lock()

    def client(share: int) -> None:
        for number in range(share):
            if stop is not None and stop.is_set():
                return
            connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
            try:
                connection.request("POST", "/api/messages", json.dumps({"text": f"message {number}"}), sent)
                answer = connection.getresponse()
                body = answer.read()
            except (OSError, http.client.HTTPException):  # its worker was killed mid-request: nothing promised
                continue
            finally:
                connection.close()
            with lock:
                statuses.append(answer.status)
                if answer.status == 201:
                    created.append(json.loads(body)["id"])

    with ThreadPoolExecutor(clients) as pool:
        for done in [pool.submit(client, count // clients + (n < count % clients)) for n in range(clients)]:
            done.result()
    return created, statuses


def listed(url: str, headers: dict) -> list[dict]:
    """Every message, read through the API a page of 100 at a time."""
    items, cursor = [], None
    with requests.Session() as session:
        while True:
            query = {"limit": PAGE_MAX, **({"cursor": cursor} if cursor else {})}
            page = session.get(url + "/api/messages", params=query, headers=headers, timeout=30).json()
            items += page["items"]
            if (cursor := page["next_cursor"]) is None:
                return items


def read_all(url: str, headers: dict, ids: list[str]) -> list[int]:
    """The status of a GET of each message, from 8 threads."""
    def read(chunk: list[str]) -> list[int]:
        with requests.Session() as session:
            return [session.get(f"{url}/api/messages/{message_id}", headers=headers, timeout=30).status_code
                    for message_id in chunk]

    with ThreadPoolExecutor(8) as pool:
        return [status for part in pool.map(read, [ids[n::8] for n in range(8)]) for status in part]


def count_rows(database_url: str) -> int:
    store = MessageStore.open(database_url)
    try:
        with store.engine.connect() as connection:
            return connection.exec_driver_sql("SELECT count(*) FROM messages").scalar()
    finally:
        store.close()


def test_2000_messages_from_16_clients_on_4_workers_are_all_there(provider, writer, database_url, tmp_path):
    with gunicorn(provider, tmp_path, WEB_CONCURRENCY=str(WORKERS), DATABASE_URL=database_url) as url:
        created, statuses = post_many(url, writer, MESSAGES)
        assert sorted(set(statuses)) == [201], {status: statuses.count(status) for status in set(statuses)}
        assert len(created) == len(set(created)) == MESSAGES
        stored = listed(url, writer)  # each one read back through the API
        assert sorted(message["id"] for message in stored) == sorted(created)
        assert {(message["author"], message["version"]) for message in stored} == {("loader", 1)}
        assert read_all(url, writer, created[::50]) == [200] * (MESSAGES // 50)  # and some one by one
    assert count_rows(database_url) == MESSAGES
    assert "Traceback" not in (tmp_path / "stderr.log").read_text()


def test_concurrent_edits_with_one_etag_through_gunicorn_exactly_one_wins(provider, writer, database_url, tmp_path):
    with gunicorn(provider, tmp_path, WEB_CONCURRENCY=str(WORKERS), DATABASE_URL=database_url) as url:
        location = requests.post(url + "/api/messages", json={"text": "original"}, headers=writer).headers["Location"]

        def edit(number: int) -> int:
            return requests.patch(url + location, json={"text": f"edit {number}"},
                                  headers={**writer, "If-Match": '"1"'}, timeout=30).status_code

        assert sorted(run_together(CLIENTS, edit)) == [200] + [412] * (CLIENTS - 1)
        final = requests.get(url + location, headers=writer).json()
        assert final["version"] == 2 and final["text"].startswith("edit ")


def serve(provider, database_url: str, logs: Path, workers: int = WORKERS) -> ServerProcess:
    logs.mkdir(exist_ok=True)
    port = free_port()
    env = {"AUTH_ISSUER": provider.issuer, "AUTH0_AUDIENCE": AUDIENCE, "WEB_CONCURRENCY": str(workers),
           "DATABASE_URL": database_url, "LOG_LEVEL": "INFO"}
    server = ServerProcess([GUNICORN, "-c", "gunicorn.conf.py", "-b", f"127.0.0.1:{port}"], port=port, env=env,
                           cwd=ROOT, logs=logs)
    # every worker booted, as each says once it holds the issuer's keys: the load runs at full strength
    server.wait_until_serving(lambda: len(key_fetches(server.stderr_path)) == workers, seconds=30)
    return server


def workers_of(server: ServerProcess) -> list[int]:
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
    return [int(pid) for pid in children.read_text().split()] if children.exists() else []


def test_every_201_survives_workers_and_then_the_whole_server_killed_mid_load(provider, writer, database_url,
                                                                            tmp_path):
    server = serve(provider, database_url, tmp_path / "first")
    stop = threading.Event()
    try:
        with ThreadPoolExecutor(1) as background:
            so_far: list[str] = []
            load = background.submit(post_many, server.url, writer, 100_000, CLIENTS, stop, so_far)
            assert eventually(lambda: len(so_far) > 100, seconds=60), "the load never got going"
            os.kill(workers_of(server)[0], signal.SIGKILL)  # one worker, mid-request
            time.sleep(1.0)
            workers = workers_of(server)  # then the whole server: the master, so that none is replaced, then these
            server.process.kill()
            server.process.wait(timeout=10)
            for pid in workers:
                os.kill(pid, signal.SIGKILL)
            stop.set()
            created, statuses = load.result(timeout=60)
    finally:
        stop.set()
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait(timeout=10)
    # never a 5xx, from the replaced worker either (its first requests wait for its key fetch)
    assert set(statuses) == {201}, {status: statuses.count(status) for status in set(statuses)}

    restarted = serve(provider, database_url, tmp_path / "second", workers=2)
    try:
        assert read_all(restarted.url, writer, created) == [200] * len(created)
    finally:
        assert restarted.stop() == 0
    if database_url.startswith("sqlite"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as connection:
            assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_a_locked_database_answers_503_with_retry_after_then_recovers(provider, writer, tmp_path):
    path = tmp_path / "messages.db"
    with gunicorn(provider, tmp_path, DATABASE_URL=f"sqlite:///{path}", DATABASE_BUSY_TIMEOUT="0.2") as url:
        location = requests.post(url + "/api/messages", json={"text": "before"}, headers=writer).headers["Location"]
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another writer holds the write lock past the busy timeout
        try:
            refused = [requests.post(url + "/api/messages", json={"text": "while locked"}, headers=writer),
                       requests.patch(url + location, json={"text": "x"}, headers={**writer, "If-Match": '"1"'}),
                       requests.delete(url + location, headers=writer)]
            for answer in refused:
                assert answer.status_code == 503, answer.text
                assert answer.headers["Retry-After"] == "1"
                assert answer.json() == {"error": "temporarily_unavailable",
                                         "error_description": "The database is unavailable; try again shortly."}
            assert requests.get(url + location, headers=writer).status_code == 200  # readers do not wait (WAL)
        finally:
            holder.rollback()
            holder.close()
        assert requests.post(url + "/api/messages", json={"text": "after"}, headers=writer).status_code == 201
    log = (tmp_path / "stderr.log").read_text()
    assert "Traceback" not in log
    assert 'storage unavailable route="/api/messages" reason="database is locked"' in log


def test_a_stopped_postgresql_answers_503_then_recovers(provider, writer, postgres, tmp_path):
    url_of_database = postgres.new_database()
    with gunicorn(provider, tmp_path, DATABASE_URL=url_of_database) as url:
        location = requests.post(url + "/api/messages", json={"text": "before"}, headers=writer).headers["Location"]
        postgres.stop()
        try:
            for attempt in (lambda: requests.get(url + location, headers=writer),
                            lambda: requests.post(url + "/api/messages", json={"text": "down"}, headers=writer)):
                answer = attempt()
                assert (answer.status_code, answer.headers.get("Retry-After")) == (503, "1"), answer.text
        finally:
            postgres.start()
        # a worker's pool finds its old connections broken (503, once), then connects anew
        after = [requests.get(url + location, headers=writer).status_code for _ in range(10)]
        assert set(after) <= {200, 503} and after[-3:] == [200] * 3, after
        assert requests.post(url + "/api/messages", json={"text": "after"}, headers=writer).status_code == 201


# --- start-up ---

UNREACHABLE = "postgresql+psycopg://app:s3cret-password@127.0.0.1:{port}/messages"


@pytest.mark.parametrize("command", [[sys.executable, "-m", "app"], [GUNICORN, "-c", "gunicorn.conf.py"]],
                         ids=["make run", "make serve"])
def test_a_failed_migration_stops_start_up_with_one_line(command, tmp_path):
    database = UNREACHABLE.format(port=free_port())  # nothing listens there
    env = {"PATH": os.environ.get("PATH", ""), "AUTH0_DOMAIN": "tenant.eu.auth0.com", "AUTH0_AUDIENCE": AUDIENCE,
           "DATABASE_URL": database, "PORT": str(free_port())}
    result = subprocess.run([*command, *(["-b", f"127.0.0.1:{env['PORT']}"] if "gunicorn" in command[0] else [])],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    ours = [line for line in result.stderr.splitlines() if "migration" in line]
    assert len(ours) == 1 and ours[0].startswith("database migration failed on postgresql+psycopg://app:***@127.0.0.1:")
    assert "s3cret" not in result.stderr + result.stdout
    assert "Booting worker" not in result.stderr and "Traceback" not in result.stderr


def test_make_run_migrates_a_new_database_at_start_up(tmp_path):
    path = tmp_path / "fresh" / "messages.db"
    port = free_port()
    env = {"PATH": os.environ.get("PATH", ""), "PORT": str(port), "DATABASE_URL": f"sqlite:///{path}",
           "AUTH0_DOMAIN": "tenant.eu.auth0.com", "AUTH0_AUDIENCE": AUDIENCE}  # nothing written to instance/
    server = ServerProcess([sys.executable, "-m", "app"], port=port, env=env, cwd=ROOT, logs=tmp_path)
    try:
        server.wait_until_serving()
        with sqlite3.connect(path) as connection:
            assert connection.execute("SELECT count(*) FROM messages").fetchone() == (0,)
            assert len(connection.execute("SELECT version_num FROM alembic_version").fetchall()) == 1
    finally:
        assert server.stop(signal.SIGINT) == 0
