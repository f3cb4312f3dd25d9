"""Apply the Alembic migrations in storage/migrations, exactly once however many processes ask at once.

Every gunicorn worker (and ``make run``) may call migrate() as it starts. The first to take the lock
upgrades the database inside one transaction (DDL is transactional on both databases, so a failed
migration leaves nothing behind); the others wait for it, then find nothing left to do:
- PostgreSQL: ``pg_advisory_xact_lock`` on a fixed key, released by the commit.
- SQLite: an exclusive ``flock`` on a file beside the database, taken before connecting. SQLite's own
  lock is not enough: the first connections to a new file all turn it to WAL mode, and SQLite makes
  all but one of them fail at once ("database is locked") rather than wait. The upgrade itself then
  runs in ``BEGIN IMMEDIATE``, so it also waits for a running app's writers.

To add a revision: ``python -m storage revision "what it changes"``, then edit the new file in
storage/migrations/versions/.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import URL
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from .engine import check_url, is_sqlite, make_engine
from .errors import MigrationError
from .file_lock import file_lock

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
ADVISORY_LOCK_KEY = 0x6D65_7373_6167_6573 & 0x7FFF_FFFF_FFFF_FFFF  # "messages": any fixed bigint will do
LOCK_WAIT = 120.0  # seconds a process waits for another one's migration to finish


def migrate(url: str, issuer: str | None = None) -> bool:
    """Bring the database at ``url`` to the newest revision; True when this call changed it.

    ``issuer``: the issuer whose tokens wrote the rows that predate revision 0002 (authors by `sub` alone);
    needed only when such rows exist. Raises MigrationError, whose message is one line naming the database
    (password hidden) and why.
    """
    try:
        parsed = check_url(url)
    except ValueError as exc:
        raise MigrationError(f"database migration failed: {exc}") from None
    try:
        with _sqlite_file_lock(parsed):
            return _upgrade(url, issuer)
    except Exception as exc:
        where = parsed.render_as_string(hide_password=True)
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "no details"
        raise MigrationError(f"database migration failed on {where}: {type(exc).__name__}: {reason}") from exc


def alembic_config(connection: Connection | None = None, issuer: str | None = None) -> Config:
    """Alembic's configuration, without an alembic.ini: env.py takes ``connection`` from its attributes, and
    the migrations ``issuer`` (see migrate)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    config.attributes["connection"] = connection
    config.attributes["issuer"] = issuer
    return config


def _upgrade(url: str, issuer: str | None) -> bool:
    engine = make_engine(url, busy_timeout=LOCK_WAIT, poolclass=NullPool)
    try:
        with engine.connect() as connection, connection.begin():
            _lock_database(connection)
            before = _current_revision(connection)
            command.upgrade(alembic_config(connection, issuer), "head")
            return _current_revision(connection) != before
    finally:
        engine.dispose()


@contextmanager
def _sqlite_file_lock(url: URL) -> Iterator[None]:
    """Holds an exclusive lock on ``<database>-migrate.lock`` (nothing for PostgreSQL). The kernel
    drops it when the holder exits, even killed, so a crashed migration never blocks the next one."""
    if url.get_backend_name() != "sqlite":
        yield
        return
    path = Path(f"{url.database}-migrate.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(path, wait=LOCK_WAIT):
        yield


def _lock_database(connection: Connection) -> None:
    if is_sqlite(connection.engine):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({ADVISORY_LOCK_KEY})")


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()
