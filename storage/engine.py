"""Engines from a ``DATABASE_URL``: a SQLite file (the default) or PostgreSQL, with the same code above.

SQLite is set up on every new connection:
- ``journal_mode=WAL``: readers never wait for the writer, and a writer only for another writer.
- ``synchronous=FULL`` (the default): each commit syncs the WAL to disk before it returns, so an
  answer that says "created" holds even through power loss, at the price of one fsync per write.
  ``NORMAL`` (``sqlite_synchronous="NORMAL"``) syncs only at checkpoints: every commit still survives
  a killed process (the WAL is in the OS's cache), but the last ones may be lost on power loss or an
  OS crash. It makes writes several times faster where fsync is slow.
- ``busy_timeout``: a writer waits this long for another writer's lock, then the store answers
  StorageUnavailable (try again) rather than an error.
- ``foreign_keys=ON``: SQLite leaves them off unless asked, per connection.
- the driver's own implicit transactions are off (``isolation_level = None``): the store says
  ``BEGIN IMMEDIATE`` itself before a write, so a write transaction holds the write lock from its
  first statement and never fails half-way on a snapshot another writer made stale.

PostgreSQL needs none of this: its defaults are durable (``synchronous_commit=on``) and its writers
lock rows, not the database.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy
from sqlalchemy import URL, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError

SQLITE_FILE = "messages.db"  # every resource's tables; named after the first, so existing databases are found
DEFAULT_BUSY_TIMEOUT = 5.0  # seconds a SQLite writer waits for the lock before giving up
SQLITE_SYNCHRONOUS = ("FULL", "NORMAL")  # the choices; the first is the default
POSTGRES_CONNECT_TIMEOUT = 5  # seconds; a server that does not answer is unavailable, not slow
EXAMPLES = "sqlite:///path/to/messages.db or postgresql+psycopg://user:password@host:5432/dbname"


def default_url(instance_path: str | Path) -> str:
    """The database used when nothing is configured: one SQLite file in the instance folder."""
    return f"sqlite:///{Path(instance_path).resolve() / SQLITE_FILE}"


def check_url(url: str) -> URL:
    """The parsed URL, or ValueError with a sentence that says what is wrong (never the URL itself)."""
    try:
        parsed = sqlalchemy.make_url(url)
    except ArgumentError:
        raise ValueError(f"not a database URL; expected {EXAMPLES}") from None
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        if not parsed.database or parsed.database == ":memory:" or parsed.database.startswith("file:"):
            raise ValueError("a SQLite database must be a file path, e.g. sqlite:///path/to/messages.db")
    elif parsed.get_backend_name() == "postgresql":
        if parsed.drivername != "postgresql+psycopg":
            raise ValueError("PostgreSQL URLs must name the psycopg driver: postgresql+psycopg://...")
    else:
        raise ValueError(f"unsupported database {parsed.get_backend_name()!r}; expected {EXAMPLES}")
    return parsed


def make_engine(url: str, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
                sqlite_synchronous: str = SQLITE_SYNCHRONOUS[0], **options) -> Engine:
    """An engine for ``url`` (see check_url); ``options`` go to SQLAlchemy's create_engine.

    ``busy_timeout`` (seconds) and ``sqlite_synchronous`` apply to SQLite only; see above."""
    parsed = check_url(url)
    if sqlite_synchronous not in SQLITE_SYNCHRONOUS:
        raise ValueError(f"sqlite_synchronous must be one of {', '.join(SQLITE_SYNCHRONOUS)}")
    if parsed.get_backend_name() == "sqlite":
        assert parsed.database, "check_url refuses a SQLite URL without a file"
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # Named parameters, as psycopg's: the store's driver-level statements then take the same dicts on both.
        engine = sqlalchemy.create_engine(parsed, paramstyle="named", **options)
        event.listen(engine, "connect", _sqlite_setup(busy_timeout, sqlite_synchronous))
        return engine
    if "connect_timeout" not in parsed.query:
        options.setdefault("connect_args", {}).setdefault("connect_timeout", POSTGRES_CONNECT_TIMEOUT)
    return sqlalchemy.create_engine(parsed, **options)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _sqlite_setup(busy_timeout: float, synchronous: str):
    def on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")  # first: the next may wait
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute(f"PRAGMA synchronous = {synchronous}")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    return on_connect
