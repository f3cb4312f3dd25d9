"""Migrations, crashes, locks and outages: the storage layer's promises when things go wrong.

Other processes are real ones (``python -c`` in the repository), killed with real signals.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from namespaces.messages import MessageStore, Owner
from storage import (
    MigrationError,
    NotAuthor,
    StorageUnavailable,
    check_url,
    default_url,
    make_engine,
    migrate,
)
from storage.errors import RETRY_AFTER_SECONDS
from storage.migrate import alembic_config
from storage.schema import metadata
from tests.support import ROOT
from tests.support.databases import database_of_0001

HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()
ISSUER, OTHER_ISSUER = "https://login.example.com/", "https://other.example.com/"
ALICE = Owner(ISSUER, "alice")


def python(code: str, *args: str, **popen) -> subprocess.Popen:
    """A Python process running ``code`` from the repository root, its output piped as text."""
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen)


def versions(url: str) -> list[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return [row[0] for row in connection.execute(text("SELECT version_num FROM alembic_version"))]
    finally:
        engine.dispose()


# --- migrations ---

def test_migrate_applies_once_then_does_nothing(database_url):
    assert migrate(database_url) is True
    assert migrate(database_url) is False
    assert versions(database_url) == [HEAD]


def test_the_migrations_build_exactly_the_schema_the_code_uses(database_url):
    migrate(database_url)
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), metadata) == []
    finally:
        engine.dispose()


def test_messages_from_before_authors_had_an_issuer_are_all_kept_and_credited_to_the_issuer_given(database_url):
    old = database_of_0001(database_url, ["alice", "bob", "alice"], keyed=2)
    assert migrate(database_url, issuer=ISSUER) is True
    store = MessageStore.open(database_url)
    try:
        kept = store.list(limit=100).items[::-1]
        assert [(m.id, m.text, m.author, m.author_issuer, m.created_at.isoformat(), m.version) for m in kept] == [
            (row["id"], row["text"], row["author"], ISSUER, row["created_at"], row["version"]) for row in old]
        with pytest.raises(NotAuthor):
            store.update(old[0]["id"], "the same sub, another issuer", 1, Owner(OTHER_ISSUER, "alice"))
        assert store.update(old[0]["id"], "edited", 1, ALICE).version == 2
        for n, row in enumerate(old[:2]):  # their Idempotency-Keys still give the first answers
            first, created = store.create(Owner(ISSUER, row["author"]), row["text"], idempotency_key=f"key-{n}")
            assert (created, first.id, first.author_issuer, first.version) == (False, row["id"], ISSUER, 1)
        assert store.create(Owner(OTHER_ISSUER, "alice"), old[0]["text"], idempotency_key="key-0")[1] is True
    finally:
        store.close()


def test_stored_messages_without_an_issuer_to_credit_stop_the_migration_and_lose_nothing(database_url):
    old = database_of_0001(database_url, ["alice"])
    with pytest.raises(MigrationError, match="the stored messages need the issuer whose tokens wrote them"):
        migrate(database_url)
    assert versions(database_url) == ["0001"]  # the failed migration left nothing behind
    done = subprocess.run([sys.executable, "-m", "storage", "migrate", database_url, "--issuer", ISSUER], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "migrated\n"), done.stderr
    store = MessageStore.open(database_url)
    try:
        assert store.get(old[0]["id"]).author_issuer == ISSUER
    finally:
        store.close()


def test_idempotency_keys_are_indexed_by_age_for_their_sweep(database_url):
    migrate(database_url)
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            indexes = {index["name"]: index["column_names"]
                       for index in inspect(connection).get_indexes("idempotency_keys")}
    finally:
        engine.dispose()
    assert indexes["ix_idempotency_keys_created_at"] == ["created_at"]


MIGRATE_WHEN_TOLD = """
import sys, time
from pathlib import Path
from storage import migrate
print("ready", flush=True)
while not Path(sys.argv[2]).exists():
    time.sleep(0.001)
print(migrate(sys.argv[1]))
"""


def test_four_processes_migrating_at_once_apply_the_migrations_once(database_url, tmp_path):
    go = tmp_path / "go"
    processes = [python(MIGRATE_WHEN_TOLD, database_url, str(go)) for _ in range(4)]
    try:
        for process in processes:
            assert process.stdout.readline() == "ready\n", process.communicate(timeout=60)
        go.touch()  # all four are loaded and waiting: release them together
        outcomes = [process.communicate(timeout=180) for process in processes]
    finally:
        for process in processes:
            process.kill()
            process.wait()
    assert [process.returncode for process in processes] == [0] * 4, outcomes
    assert sorted(out.strip() for out, _ in outcomes) == ["False", "False", "False", "True"]
    assert versions(database_url) == [HEAD]


def test_a_failed_migration_is_one_line_naming_the_database(tmp_path):
    path = tmp_path / "not-a-database.db"
    path.write_bytes(b"these bytes are not a SQLite database " * 200)
    with pytest.raises(MigrationError) as caught:
        migrate(f"sqlite:///{path}")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"database migration failed on sqlite:///{path}: ")
    assert "file is not a database" in message


def test_an_unreachable_postgresql_fails_without_showing_the_password():
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(MigrationError) as caught:
        migrate(f"postgresql+psycopg://app:s3cret-pw@127.0.0.1:{port}/messages")
    message = str(caught.value)
    assert "\n" not in message and "s3cret-pw" not in message
    where = f"postgresql+psycopg://app:***@127.0.0.1:{port}/messages"
    assert message.startswith(f"database migration failed on {where}: ")
    assert "OperationalError" in message


def test_a_database_from_a_newer_release_is_refused(database_url):
    migrate(database_url)
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'from_the_future'"))
    engine.dispose()
    with pytest.raises(MigrationError, match="Can't locate revision identified by 'from_the_future'"):
        migrate(database_url)


@pytest.mark.parametrize("url, says", [
    ("mysql://user@host/db", "unsupported database 'mysql'"),
    ("postgresql://user@host/db", "must name the psycopg driver"),
    ("sqlite://", "must be a file path"),
    ("sqlite:///:memory:", "must be a file path"),
    ("not a url", "not a database URL"),
])
def test_unusable_urls_are_refused_with_a_sentence(url, says):
    with pytest.raises(ValueError, match=says):
        check_url(url)
    with pytest.raises(MigrationError, match=f"^database migration failed: .*{says}"):
        migrate(url)


def test_the_command_line_migrates_and_fails_in_one_line(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    first, again = (subprocess.run([sys.executable, "-m", "storage", "migrate", url], cwd=ROOT,
                                   capture_output=True, text=True, timeout=60) for _ in range(2))
    assert (first.returncode, first.stdout) == (0, "migrated\n")
    assert (again.returncode, again.stdout) == (0, "already up to date\n")
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"garbage " * 1000)
    failed = subprocess.run([sys.executable, "-m", "storage", "migrate", f"sqlite:///{broken}"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert failed.returncode == 1
    assert failed.stderr.count("\n") == 1 and failed.stderr.startswith("database migration failed on ")



def test_the_command_line_without_a_url_migrates_the_apps_database(tmp_path):
    """DATABASE_URL from the environment, as the app reads it (with none, the file in config.INSTANCE_PATH, the
    app's own default)."""
    url = f"sqlite:///{tmp_path / 'from-env.db'}"
    done = subprocess.run([sys.executable, "-m", "storage", "migrate"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "DATABASE_URL": url})
    assert (done.returncode, done.stdout, done.stderr) == (0, "migrated\n", "")
    assert (tmp_path / "from-env.db").exists()


# --- SQLite set-up ---

def test_sqlite_connections_are_durable_and_wait_for_the_lock(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'nested' / 'm.db'}", busy_timeout=2.5)  # creates the folder
    try:
        with engine.connect() as connection:

            def pragma(name):
                return connection.exec_driver_sql(f"PRAGMA {name}").scalar()

            assert pragma("journal_mode") == "wal"
            assert pragma("synchronous") == 2  # FULL
            assert pragma("foreign_keys") == 1
            assert pragma("busy_timeout") == 2500
    finally:
        engine.dispose()


def test_the_default_database_is_a_file_in_the_instance_folder(tmp_path):
    assert default_url(tmp_path) == f"sqlite:///{tmp_path.resolve()}/messages.db"
    assert check_url(default_url(tmp_path)).database == str(tmp_path.resolve() / "messages.db")


# --- a writer killed mid-load ---

WRITE_UNTIL_KILLED = """
import os, sys, threading
from namespaces.messages import MessageStore, Owner
store = MessageStore.open(sys.argv[1], sqlite_synchronous=sys.argv[2])
WRITER = Owner("https://login.example.com/", "writer")

def write():
    while True:
        message, _ = store.create(WRITER, "acknowledged")
        os.write(1, (message.id + "\\n").encode())  # after the commit returned: the id is acknowledged

for _ in range(4):
    threading.Thread(target=write).start()
"""


def test_every_acknowledged_create_survives_a_sigkilled_writer(database_url):
    assert_acknowledged_creates_survive_sigkill(database_url, "FULL")


def test_sqlite_normal_sync_also_keeps_every_acknowledged_create_through_sigkill(tmp_path):
    """NORMAL risks the last commits on power loss only: a killed process loses nothing."""
    assert_acknowledged_creates_survive_sigkill(f"sqlite:///{tmp_path / 'messages.db'}", "NORMAL")


def assert_acknowledged_creates_survive_sigkill(database_url: str, sqlite_synchronous: str) -> None:
    migrate(database_url)
    writer = python(WRITE_UNTIL_KILLED, database_url, sqlite_synchronous)
    acknowledged = []
    try:
        deadline = time.monotonic() + 60
        while len(acknowledged) < 200 and time.monotonic() < deadline:
            line = writer.stdout.readline()
            if not line:
                break
            acknowledged.append(line.strip())
    finally:
        os.kill(writer.pid, signal.SIGKILL)  # mid-load: four threads are inside create() right now
        rest, errors = writer.communicate(timeout=30)
    assert writer.returncode == -signal.SIGKILL, errors
    acknowledged += rest.split()
    assert len(acknowledged) >= 200, errors

    store = MessageStore.open(database_url)
    try:
        for message_id in acknowledged:
            assert store.get(message_id).text == "acknowledged"
        after, _ = store.create(Owner(ISSUER, "survivor"), "the database still takes writes")
        assert store.get(after.id) == after
        if database_url.startswith("sqlite"):
            with store.engine.connect() as connection:
                assert connection.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    finally:
        store.close()


# --- locked or stopped database ---

def attempts(store, message):
    return {
        "create": lambda: store.create(ALICE, "while locked"),
        "update": lambda: store.update(message.id, "while locked", 1, ALICE),
        "delete": lambda: store.delete(message.id, ALICE),
        "get": lambda: store.get(message.id),
        "list": lambda: store.list(),
    }


def test_a_locked_sqlite_database_gives_storage_unavailable_after_the_busy_timeout(tmp_path):
    path = tmp_path / "messages.db"
    migrate(f"sqlite:///{path}")
    store = MessageStore.open(f"sqlite:///{path}", busy_timeout=0.3)
    message, _ = store.create(ALICE, "before the lock")
    writes = {name: attempt for name, attempt in attempts(store, message).items()
              if name in ("create", "update", "delete")}

    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another writer keeps the write lock
    try:
        for name, attempt in writes.items():
            started = time.monotonic()
            with pytest.raises(StorageUnavailable) as caught:
                attempt()
            waited = time.monotonic() - started
            assert 0.25 <= waited < 5, f"{name} gave up after {waited:.2f} s, not at the 0.3 s busy timeout"
            assert caught.value.retry_after == RETRY_AFTER_SECONDS
        assert store.get(message.id) == message  # WAL: readers do not wait for a writer
        assert store.list().items == [message]
    finally:
        holder.rollback()
        holder.close()
    assert store.update(message.id, "after the lock", 1, ALICE).version == 2
    store.close()


def test_a_database_locked_even_for_readers_gives_storage_unavailable(tmp_path):
    path = tmp_path / "messages.db"
    migrate(f"sqlite:///{path}")
    store = MessageStore.open(f"sqlite:///{path}", busy_timeout=0.3)
    message, _ = store.create(ALICE, "before the lock")
    store.close()  # no connection of ours is open: the holder can take the file for itself

    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("SELECT count(*) FROM messages").fetchall()
    try:
        for attempt in attempts(store, message).values():
            with pytest.raises(StorageUnavailable):
                attempt()
    finally:
        holder.rollback()
        holder.close()
    assert store.get(message.id) == message
    store.close()


def test_a_stopped_postgresql_gives_storage_unavailable_then_recovers(postgres):
    url = postgres.new_database()
    migrate(url)
    store = MessageStore.open(url)
    message, _ = store.create(ALICE, "before the outage")
    postgres.stop()
    try:
        for name, attempt in attempts(store, message).items():
            with pytest.raises(StorageUnavailable) as caught:
                attempt()
            assert caught.value.retry_after == RETRY_AFTER_SECONDS, name
    finally:
        postgres.start()
    assert store.get(message.id) == message  # the pool reconnects by itself
    assert store.create(ALICE, "after the outage")[1] is True
    store.close()
