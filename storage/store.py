"""Store: what every resource's store is built on. Short transactions, the writers' turn, reads and writes
through the driver itself for the busiest statements, and group commit; a resource's store (e.g.
namespaces/messages/store.py) adds its SQL.

Concurrency is the database's job, never a read-then-write race in Python: a resource's store writes with
single statements whose WHERE clauses hold their conditions (a compare-and-set on a version, an owner).

Database trouble (down, locked past the busy timeout, no free connection) is raised as StorageUnavailable,
so callers can answer "try again" instead of failing.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence, TypeVar

import sqlalchemy
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.sql import ClauseElement

from .engine import DEFAULT_BUSY_TIMEOUT, is_sqlite, make_engine
from .errors import StorageUnavailable
from .file_lock import file_lock
from .group_commit import GroupCommit
from .settings import StorageSettings

Item = TypeVar("Item")
S = TypeVar("S", bound="Store")


def app_engine(url: str, settings: StorageSettings) -> Engine:
    """The app's engine, one per process, shared by every resource's store: one pool of connections, which one
    ``dispose`` closes. SQLite keeps ``synchronous=FULL``, so a commit, and so a 201, returns only once it is on
    disk."""
    return make_engine(url, busy_timeout=settings.busy_timeout, sqlite_synchronous="FULL")


class Store:
    """The engine of one database, and the ways a resource's store talks to it (see each method)."""

    def __init__(self, engine: Engine, busy_timeout: float = DEFAULT_BUSY_TIMEOUT):
        """``busy_timeout``: on SQLite, the longest a writer waits for its turn (see writers_turn)."""
        self.engine = engine
        self.sqlite = is_sqlite(engine)
        self._busy_timeout = busy_timeout
        self._turns = f"{engine.url.database}-write.lock" if self.sqlite else None
        # Reads are single statements: on PostgreSQL they skip BEGIN and ROLLBACK (two round trips of
        # three). SQLite's reads already run outside any transaction (see storage.engine).
        self._reader = engine if self.sqlite else engine.execution_options(isolation_level="AUTOCOMMIT")
        dialect = engine.dialect
        self._unavailable = (dialect.loaded_dbapi.OperationalError, dialect.loaded_dbapi.InterfaceError)

    @classmethod
    def open(cls: type[S], url: str, **engine_options) -> S:
        """A store on a new engine for ``url`` (options: see storage.engine.make_engine); migrate first."""
        return cls(make_engine(url, **engine_options), engine_options.get("busy_timeout", DEFAULT_BUSY_TIMEOUT))

    @classmethod
    def from_settings(cls: type[S], engine: Engine, settings: StorageSettings) -> S:
        """The app's store on ``engine``, the one every store of the process shares (see app_engine); a store
        that reads more settings adds them here."""
        return cls(engine, settings.busy_timeout)

    def close(self) -> None:
        self.engine.dispose()

    def ping(self) -> None:
        """One trivial query (the readiness check): StorageUnavailable unless the database answers it."""
        with self.reading() as connection:
            connection.exec_driver_sql("SELECT 1")

    def compiled(self, statement: ClauseElement) -> str:
        """``statement``'s SQL for this database, for ``driver()``: the same SQL SQLAlchemy would send."""
        return str(statement.compile(dialect=self.engine.dialect))

    def group_commit(self, write_all: Callable[[Sequence[Item]], Sequence[Item]]) -> GroupCommit[Item]:
        """Writes that arrive together share one ``write_all`` (see storage.group_commit), each in the writers'
        turn. ``write_all`` commits through ``driver()``, saying ``BEGIN IMMEDIATE`` first on SQLite."""
        return GroupCommit(write_all, self.writers_turn)

    @contextmanager
    def driver(self, *, autocommit: bool = False) -> Iterator:
        """A connection of the driver's own (sqlite3 or psycopg) from the engine's pool, for the busiest
        statements, with the store's error handling: an unreachable or locked database, or a lost connection
        (then dropped from the pool), is StorageUnavailable. ``autocommit``: on PostgreSQL, a single-statement
        read then skips BEGIN and ROLLBACK (two round trips of three); SQLite's reads already do."""
        try:
            with _unavailable_on_trouble():  # SQLAlchemy's: no free connection in the pool
                pooled = self.engine.raw_connection()
        except self._unavailable as exc:  # the driver's, as it connects (or sets up a SQLite connection)
            raise StorageUnavailable() from exc
        connection: Any = pooled.driver_connection  # sqlite3's or psycopg's
        autocommit = autocommit and not self.sqlite
        try:
            if autocommit:
                connection.autocommit = True
            try:
                yield connection
            finally:
                if autocommit and pooled.is_valid:
                    connection.autocommit = False  # as the pool's other users expect it
        except self._unavailable as exc:
            if self.engine.dialect.is_disconnect(exc, connection, None):
                pooled.invalidate(exc)
            raise StorageUnavailable() from exc
        finally:
            pooled.close()  # back to the pool (rolled back, as SQLAlchemy does, if a transaction is open)

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        with _unavailable_on_trouble(), self._reader.connect() as connection:
            yield connection

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """One transaction, committed on leaving the block (durably: see storage.engine)."""
        with _unavailable_on_trouble(), self.writers_turn(), self.engine.connect() as connection:
            if self.sqlite:
                connection.exec_driver_sql("BEGIN IMMEDIATE")  # take the write lock now, waiting busy_timeout
            yield connection
            connection.commit()

    @contextmanager
    def writers_turn(self) -> Iterator[None]:
        """SQLite: writers, of this process and of others, take turns through a lock on a file beside the
        database; the next one is woken as soon as the turn comes free (see storage.file_lock). SQLite's own
        busy handler sleeps and retries inside the driver, where nothing else of the process runs (under
        gevent: no other request), so no more writes join the next group commit meanwhile; this wait lets
        them. Past busy_timeout: StorageUnavailable."""
        if self._turns is None:  # not SQLite
            yield
            return
        with file_lock(self._turns, wait=self._busy_timeout, on_timeout=lambda _: StorageUnavailable()):
            yield  # closing the file ends the turn


@contextmanager
def _unavailable_on_trouble() -> Iterator[None]:
    try:
        yield
    except (OperationalError, InterfaceError, sqlalchemy.exc.TimeoutError) as exc:
        raise StorageUnavailable() from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise StorageUnavailable() from exc
        raise
