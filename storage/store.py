"""MessageStore: create, read, page through, update and delete messages, each in one short transaction.

An author, or an actor, is an Owner: a token's issuer and subject, since OpenID Connect makes a `sub`
unique within one issuer only.

Concurrency is the database's job, never a read-then-write race in Python:
- an update is one compare-and-set ``UPDATE ... WHERE id = ? AND version = ? AND author = ? AND author_issuer = ?``;
- a delete is one ``DELETE ... WHERE id = ? [AND author = ? AND author_issuer = ?]``;
- an idempotent create relies on the (author, author_issuer, key) primary key: of two concurrent requests
  with one key, the second waits for the first and then returns its answer;
- an idempotency key is remembered for ``idempotency_key_ttl`` seconds; each keyed create also deletes a
  few of the oldest expired records (EXPIRED_KEYS_PER_CREATE, found through the created_at index), so the
  table stays small without any request paying for a whole sweep;
- plain creates that arrive together in one process share one transaction (group commit): one commit,
  one fsync on SQLite, makes them all durable, and none returns before it has;
- pages follow the total order (created_at, id), newest first, with a cursor that names the last item
  seen: rows inserted meanwhile cannot shift a page, so nothing is repeated or skipped.

Database trouble (down, locked past the busy timeout, no free connection) is raised as
StorageUnavailable, so callers can answer "try again" instead of failing.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator, NamedTuple, Sequence

import sqlalchemy
from sqlalchemy import and_, bindparam, delete, insert, or_, select, tuple_, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError

from .engine import DEFAULT_BUSY_TIMEOUT, is_sqlite, make_engine
from .errors import IdempotencyKeyReused, InvalidInput, NotAuthor, NotFound, StorageUnavailable, VersionMismatch
from .file_lock import file_lock
from .rules import (
    CURSOR_PATTERN,
    CURSOR_RULE,
    PAGE_DEFAULT,
    check_author,
    check_idempotency_key,
    check_page_size,
    clean_text,
)
from .schema import ID_LENGTH, idempotency_keys, messages

ID_PATTERN = re.compile(f"[0-9a-f]{{{ID_LENGTH}}}")  # 128 random bits, hex: opaque, not sequential
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_LAST_MICROS = (datetime.max.replace(tzinfo=timezone.utc) - EPOCH) // timedelta(microseconds=1)
IDEMPOTENCY_KEY_TTL = 86_400  # seconds an Idempotency-Key is remembered, unless the store is told otherwise
EXPIRED_KEYS_PER_CREATE = 10  # the most expired key records one keyed create deletes besides its own


class Owner(NamedTuple):
    """Who writes a message: a token's ``iss`` and ``sub``, which only together name one user."""

    issuer: str
    subject: str


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    text: str
    author: str  # the author's `sub`
    author_issuer: str  # and its issuer
    created_at: datetime  # aware, UTC
    updated_at: datetime  # aware, UTC
    version: int  # 1 when created, +1 on each update
    actor: str | None = None  # who posted it for the author (a delegated token's act.sub); None: the author

    def to_json(self) -> dict:
        """The fields as JSON values (timestamps in ISO 8601): how an idempotency record keeps it."""
        return {**asdict(self), "created_at": self.created_at.isoformat(),
                "updated_at": self.updated_at.isoformat()}

    @classmethod
    def from_json(cls, data: dict) -> "Message":
        return cls(**{**data, "created_at": datetime.fromisoformat(data["created_at"]),
                      "updated_at": datetime.fromisoformat(data["updated_at"])})


class Page(NamedTuple):
    items: list[Message]
    next_cursor: str | None  # None on the last page


_GET = select(messages).where(messages.c.id == bindparam("id"))
_INSERT = insert(messages)  # every column
_KEYS = idempotency_keys.c
# Deletes the oldest expired key records, at most EXPIRED_KEYS_PER_CREATE, found through the created_at index;
# on PostgreSQL, rows another create is deleting right now are skipped, not waited for (SQLite has one writer
# at a time).
SWEEP_EXPIRED_KEYS = delete(idempotency_keys).where(tuple_(_KEYS.author, _KEYS.author_issuer, _KEYS.key).in_(
    select(_KEYS.author, _KEYS.author_issuer, _KEYS.key).where(_KEYS.created_at <= bindparam("expired_before"))
    .order_by(_KEYS.created_at).limit(EXPIRED_KEYS_PER_CREATE).with_for_update(skip_locked=True)))


class MessageStore:
    def __init__(self, engine: Engine, busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
                 idempotency_key_ttl: float = IDEMPOTENCY_KEY_TTL):
        """``busy_timeout``: on SQLite, the longest a writer waits for its turn (see _writers_turn).
        ``idempotency_key_ttl``: seconds an Idempotency-Key is remembered; after that, it makes a new message."""
        self.engine = engine
        self._key_ttl = timedelta(seconds=idempotency_key_ttl)
        self._sqlite = is_sqlite(engine)
        self._busy_timeout = busy_timeout
        self._turns = f"{engine.url.database}-write.lock" if self._sqlite else None
        # Reads are single statements: on PostgreSQL they skip BEGIN and ROLLBACK (two round trips of
        # three). SQLite's reads already run outside any transaction (see storage.engine).
        self._reader = engine if self._sqlite else engine.execution_options(isolation_level="AUTOCOMMIT")
        self._group_commit = _GroupCommit(self._insert_all, self._writers_turn)
        # The two busiest statements, reading one message and creating some, go through the driver itself
        # (see _driver): the same SQL and conversions as SQLAlchemy's, at a fraction of a Core execution's cost.
        dialect = engine.dialect
        self._get_sql = str(_GET.compile(dialect=dialect))
        self._insert_sql = str(_INSERT.compile(dialect=dialect))
        time_type = messages.c.created_at.type.dialect_impl(dialect)
        # UTCDateTime's conversions for this dialect (a TypeDecorator has both; SQLAlchemy types them loosely)
        self._time_to_db: Any = time_type.bind_processor(dialect)
        self._time_from_db: Any = time_type.result_processor(dialect, None)
        self._unavailable = (dialect.loaded_dbapi.OperationalError, dialect.loaded_dbapi.InterfaceError)

    @classmethod
    def open(cls, url: str, *, idempotency_key_ttl: float = IDEMPOTENCY_KEY_TTL, **engine_options) -> "MessageStore":
        """A store on a new engine for ``url`` (options: see storage.engine.make_engine); migrate first."""
        return cls(make_engine(url, **engine_options), engine_options.get("busy_timeout", DEFAULT_BUSY_TIMEOUT),
                   idempotency_key_ttl)

    def close(self) -> None:
        self.engine.dispose()

    def ping(self) -> None:
        """One trivial query (the readiness check): StorageUnavailable unless the database answers it."""
        with self._reading() as connection:
            connection.exec_driver_sql("SELECT 1")

    def create(self, author: Owner, text: str, idempotency_key: str | None = None,
               actor: str | None = None) -> tuple[Message, bool]:
        """Store a new message by ``author`` (posted by ``actor`` for them, when given): (message, True).

        With an ``idempotency_key`` this author (same issuer, same subject) already used with the same text
        less than ``idempotency_key_ttl`` seconds ago, nothing is created: (the message as first created,
        False); with another text, IdempotencyKeyReused. InvalidInput for a bad text, author or key."""
        author = _check_owner(author)
        stored_text = clean_text(text)
        if idempotency_key is None:
            return self._group_commit.write(_new_message(author, stored_text, actor)), True

        key = check_idempotency_key(idempotency_key)
        fingerprint = hashlib.sha256(text.encode()).hexdigest()  # the text as sent, before trimming
        expired_before = _now() - self._key_ttl
        try:
            with self._writing() as connection:
                _forget_expired_keys(connection, author, key, expired_before)
                first = _first_answer(connection, author, key, fingerprint, expired_before)
                if first is not None:
                    return first, False
                message = _new_message(author, stored_text, actor)
                connection.execute(insert(messages).values(asdict(message)))
                connection.execute(insert(idempotency_keys).values(
                    author=author.subject, author_issuer=author.issuer, key=key, fingerprint=fingerprint,
                    answer=message.to_json(), created_at=message.created_at))
            return message, True
        except IntegrityError:
            # PostgreSQL: a concurrent request with this key committed first; ours was rolled back.
            # (SQLite's BEGIN IMMEDIATE serializes the two, so the second finds the first's row above.)
            with self._reading() as connection:
                first = _first_answer(connection, author, key, fingerprint, expired_before)
            if first is None:
                raise
            return first, False

    def get(self, message_id: str) -> Message:
        """The message, or NotFound."""
        if not _is_id(message_id):
            raise NotFound(str(message_id))
        with self._driver(autocommit=True) as connection:
            cursor = connection.cursor()
            try:
                cursor.execute(self._get_sql, {"id": message_id})
                row = cursor.fetchone()
            finally:
                cursor.close()
        if row is None:
            raise NotFound(message_id)
        id_, text, author, author_issuer, created_at, updated_at, version, actor = row
        return Message(id_, text, author, author_issuer, self._time_from_db(created_at),
                       self._time_from_db(updated_at), version, actor)

    def update(self, message_id: str, text: str, expected_version: int, actor: Owner) -> Message:
        """The message with its new text and version (expected_version + 1).

        NotFound, NotAuthor (actor is not the author: another subject, or the same from another issuer),
        VersionMismatch (the message is no longer at expected_version: someone else's update won),
        InvalidInput (text)."""
        actor = _check_owner(actor, "actor")
        stored_text = clean_text(text)
        if isinstance(expected_version, bool) or not isinstance(expected_version, int):
            raise InvalidInput("version", "the expected version must be an integer")
        if not _is_id(message_id):
            raise NotFound(str(message_id))
        with self._writing() as connection:
            row = connection.execute(
                update(messages)
                .where(messages.c.id == message_id, messages.c.version == expected_version, _by(actor))
                .values(text=stored_text, version=messages.c.version + 1, updated_at=_now())
                .returning(*messages.c)
            ).first()
            if row is not None:
                return Message(**row._mapping)
            current = connection.execute(_GET, {"id": message_id}).first()
        if current is None:
            raise NotFound(message_id)
        if Owner(current.author_issuer, current.author) != actor:
            raise NotAuthor("update")
        raise VersionMismatch(current.version)

    def delete(self, message_id: str, actor: Owner, may_delete_any: bool = False) -> None:
        """Delete the message if actor wrote it or ``may_delete_any`` (a moderator, whatever its issuer);
        NotFound, NotAuthor."""
        actor = _check_owner(actor, "actor")
        if not _is_id(message_id):
            raise NotFound(str(message_id))
        condition = messages.c.id == message_id
        if not may_delete_any:
            condition = and_(condition, _by(actor))
        with self._writing() as connection:
            if connection.execute(delete(messages).where(condition)).rowcount == 1:
                return
            exists = connection.execute(_GET, {"id": message_id}).first() is not None
        raise NotAuthor("delete") if exists else NotFound(message_id)

    def list(self, limit: int = PAGE_DEFAULT, cursor: str | None = None, author: str | None = None,
             author_issuer: str | None = None) -> Page:
        """Up to ``limit`` messages, newest first, after ``cursor`` (a page's next_cursor); when given, only
        by ``author`` (a `sub`, whatever its issuer) and only from ``author_issuer`` (with ``author``: one
        user). Each filter has an index that keeps its order. InvalidInput for a bad limit, cursor, author or
        issuer."""
        limit = check_page_size(limit)
        query = select(messages).order_by(messages.c.created_at.desc(), messages.c.id.desc()).limit(limit + 1)
        if author_issuer is not None:
            query = query.where(messages.c.author_issuer == check_author(author_issuer, "author_issuer"))
        if author is not None:
            query = query.where(messages.c.author == check_author(author))
        if cursor is not None:
            created_at, last_id = decode_cursor(cursor)
            query = query.where(or_(messages.c.created_at < created_at,
                                    and_(messages.c.created_at == created_at, messages.c.id < last_id)))
        with self._reading() as connection:
            rows = connection.execute(query).all()
        items = [Message(**row._mapping) for row in rows[:limit]]
        return Page(items, encode_cursor(items[-1]) if len(rows) > limit else None)

    def _insert_all(self, batch: Sequence[Message]) -> Sequence[Message]:
        """Store ``batch`` in one transaction, stamped with the time it holds the write lock (on SQLite,
        writers one at a time: creation times then follow commit order); the messages as stored. The
        caller holds the writer's turn (see _GroupCommit)."""
        with self._driver() as connection:
            cursor = connection.cursor()
            try:
                if self._sqlite:
                    cursor.execute("BEGIN IMMEDIATE")  # take the write lock now, waiting busy_timeout
                now = _now()
                stored = [Message(message.id, message.text, message.author, message.author_issuer, now, now,
                                  message.version, message.actor) for message in batch]
                at = self._time_to_db(now)
                cursor.executemany(self._insert_sql, [
                    {"id": m.id, "text": m.text, "author": m.author, "author_issuer": m.author_issuer,
                     "created_at": at, "updated_at": at, "version": m.version, "actor": m.actor} for m in stored])
                connection.commit()  # durably: see storage.engine
            finally:
                cursor.close()  # on failure, the pool rolls the transaction back (see _driver)
        return stored

    @contextmanager
    def _driver(self, *, autocommit: bool = False) -> Iterator:
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
        autocommit = autocommit and not self._sqlite
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
    def _reading(self) -> Iterator[Connection]:
        with _unavailable_on_trouble(), self._reader.connect() as connection:
            yield connection

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """One transaction, committed on leaving the block (durably: see storage.engine)."""
        with _unavailable_on_trouble(), self._writers_turn(), self.engine.connect() as connection:
            if self._sqlite:
                connection.exec_driver_sql("BEGIN IMMEDIATE")  # take the write lock now, waiting busy_timeout
            yield connection
            connection.commit()

    @contextmanager
    def _writers_turn(self) -> Iterator[None]:
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


@dataclass(eq=False)
class _Waiting:
    message: Message
    done: threading.Event = field(default_factory=threading.Event)  # set when answered, or asked to lead
    leads_next: bool = False
    stored: Message | None = None
    error: Exception | None = None


class _GroupCommit:
    """Writes that arrive together share one commit. One writer at a time leads: it waits for the writers'
    turn (on SQLite, other processes' writers may hold it), steps aside once more so that the other
    requests in hand (threads, or greenlets under gevent, whose threading and time.sleep are gevent's) can
    join, then writes everything that arrived meanwhile in one transaction and hands the lead to the first
    writer that arrived after that, if any. Each writer returns once the commit that holds its message is
    done, and raises what that commit raised."""

    def __init__(self, write_all, turn):
        self._write_all = write_all  # list[Message] -> list[Message] as stored, in one transaction
        self._turn = turn  # () -> context manager held around each commit
        self._lock = threading.Lock()
        self._waiting: list[_Waiting] = []
        self._leading = False

    def write(self, message: Message) -> Message:
        mine = _Waiting(message)
        with self._lock:
            self._waiting.append(mine)
            lead, self._leading = not self._leading, True
        if lead:
            self._commit_waiting()
        while True:
            mine.done.wait()
            if not mine.leads_next:
                break
            mine.leads_next = False
            mine.done.clear()
            self._commit_waiting()  # the batch holds this message too: it was waiting
        if mine.error is not None:
            raise mine.error
        assert mine.stored is not None  # each commit sets either stored or error
        return mine.stored

    def _commit_waiting(self) -> None:
        batch: list[_Waiting] = []
        try:
            with self._turn():
                time.sleep(0)  # let the others in hand join
                with self._lock:
                    batch, self._waiting = self._waiting, []
                stored, failure = self._write_all([waiting.message for waiting in batch]), None
        except Exception as error:  # StorageError is answered; anything else is a bug, raised to every writer
            if not batch:  # the turn never came: every writer waiting gets the refusal
                with self._lock:
                    batch, self._waiting = self._waiting, []
            stored, failure = [None] * len(batch), error
        for waiting, message in zip(batch, stored, strict=True):
            waiting.stored, waiting.error = message, failure
            waiting.done.set()
        with self._lock:
            if self._waiting:
                self._waiting[0].leads_next = True
                self._waiting[0].done.set()
            else:
                self._leading = False


def encode_cursor(last: Message) -> str:
    """The position after ``last``: its creation time (microseconds since 1970, 8 bytes) and id (16 bytes),
    in base64url: always CURSOR_LENGTH characters, and every string of that form names some position."""
    micros = (last.created_at - EPOCH) // timedelta(microseconds=1)
    return base64.urlsafe_b64encode(micros.to_bytes(8, "big") + bytes.fromhex(last.id)).decode()


def decode_cursor(cursor: object) -> tuple[datetime, str]:
    """(created_at, id) of the last item of the previous page, or InvalidInput. A time past the last one a
    datetime holds is that last one: the page then starts at the newest message."""
    if not isinstance(cursor, str) or not re.fullmatch(CURSOR_PATTERN, cursor):
        raise InvalidInput("cursor", CURSOR_RULE)
    raw = base64.urlsafe_b64decode(cursor)
    return EPOCH + timedelta(microseconds=min(int.from_bytes(raw[:8], "big"), _LAST_MICROS)), raw[8:].hex()


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


def _check_owner(owner: object, field: str = "author") -> Owner:
    """An Owner whose issuer and subject are both usable (see rules.check_author), or InvalidInput."""
    if not isinstance(owner, Owner):
        raise InvalidInput(field, f"{field} must be an issuer and a subject")
    return Owner(check_author(owner.issuer, f"{field}'s issuer"), check_author(owner.subject, field))


def _by(owner: Owner):
    """The condition: written by ``owner`` (its issuer and its subject)."""
    return and_(messages.c.author == owner.subject, messages.c.author_issuer == owner.issuer)


def _forget_expired_keys(connection: Connection, author: Owner, key: str, expired_before: datetime) -> None:
    """Delete this key's record if it expired (the key then makes a new message), and at most
    EXPIRED_KEYS_PER_CREATE other expired records, the oldest."""
    connection.execute(delete(idempotency_keys).where(_key_of(author, key), _KEYS.created_at <= expired_before))
    connection.execute(SWEEP_EXPIRED_KEYS, {"expired_before": expired_before})


def _key_of(author: Owner, key: str):
    """The condition: the record of ``author``'s ``key``."""
    return and_(_KEYS.author == author.subject, _KEYS.author_issuer == author.issuer, _KEYS.key == key)


def _first_answer(connection: Connection, author: Owner, key: str, fingerprint: str,
                  expired_before: datetime) -> Message | None:
    row = connection.execute(
        select(_KEYS.fingerprint, _KEYS.answer).where(_key_of(author, key), _KEYS.created_at > expired_before)
    ).first()
    if row is None:
        return None
    if row.fingerprint != fingerprint:
        raise IdempotencyKeyReused()
    return Message.from_json({"author_issuer": author.issuer, **row.answer})  # answers from before 0002 lack it


def _new_message(author: Owner, text: str, actor: str | None = None) -> Message:
    now = _now()
    return Message(id=secrets.token_hex(ID_LENGTH // 2), text=text, author=author.subject,
                   author_issuer=author.issuer, created_at=now, updated_at=now, version=1, actor=actor)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _is_id(value: object) -> bool:
    return isinstance(value, str) and ID_PATTERN.fullmatch(value) is not None
