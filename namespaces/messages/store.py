"""MessageStore: create, read, page through, update and delete messages, each in one short transaction, on
storage's Store (engine, writers' turn, group commit, "unavailable").

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
- pages follow the total order (created_at, id), newest first (see storage.paging).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Sequence

from sqlalchemy import and_, bindparam, delete, insert, select, tuple_, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from security import Owner
from storage import (
    DEFAULT_BUSY_TIMEOUT,
    IDEMPOTENCY_KEY_TTL,
    PAGE_DEFAULT,
    IdempotencyKeyReused,
    InvalidInput,
    NotFound,
    Page,
    StorageSettings,
    Store,
    VersionMismatch,
    is_id,
    make_engine,
    new_id,
    newest_first,
    now,
    page_of,
)

from .rules import check_author, check_idempotency_key, clean_text, not_author
from .table import idempotency_keys, messages

WHAT = "message"  # what NotFound and VersionMismatch call one
EXPIRED_KEYS_PER_CREATE = 10  # the most expired key records one keyed create deletes besides its own


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


_GET = select(messages).where(messages.c.id == bindparam("id"))
_INSERT = insert(messages)  # every column
_KEYS = idempotency_keys.c
# Deletes the oldest expired key records, at most EXPIRED_KEYS_PER_CREATE, found through the created_at index;
# on PostgreSQL, rows another create is deleting right now are skipped, not waited for (SQLite has one writer
# at a time).
SWEEP_EXPIRED_KEYS = delete(idempotency_keys).where(tuple_(_KEYS.author, _KEYS.author_issuer, _KEYS.key).in_(
    select(_KEYS.author, _KEYS.author_issuer, _KEYS.key).where(_KEYS.created_at <= bindparam("expired_before"))
    .order_by(_KEYS.created_at).limit(EXPIRED_KEYS_PER_CREATE).with_for_update(skip_locked=True)))


class MessageStore(Store):
    def __init__(self, engine: Engine, busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
                 idempotency_key_ttl: float = IDEMPOTENCY_KEY_TTL):
        """``busy_timeout``: on SQLite, the longest a writer waits for its turn (see Store.writers_turn).
        ``idempotency_key_ttl``: seconds an Idempotency-Key is remembered; after that, it makes a new message."""
        super().__init__(engine, busy_timeout)
        self._key_ttl = timedelta(seconds=idempotency_key_ttl)
        self._group_commit = self.group_commit(self._insert_all)
        # The two busiest statements, reading one message and creating some, go through the driver itself
        # (see Store.driver): the same SQL and conversions as SQLAlchemy's, at a fraction of a Core execution's cost.
        self._get_sql = self.compiled(_GET)
        self._insert_sql = self.compiled(_INSERT)
        dialect = engine.dialect
        time_type = messages.c.created_at.type.dialect_impl(dialect)
        # UTCDateTime's conversions for this dialect (a TypeDecorator has both; SQLAlchemy types them loosely)
        self._time_to_db: Any = time_type.bind_processor(dialect)
        self._time_from_db: Any = time_type.result_processor(dialect, None)

    @classmethod
    def open(cls, url: str, *, idempotency_key_ttl: float = IDEMPOTENCY_KEY_TTL, **engine_options) -> "MessageStore":
        """A store on a new engine for ``url`` (options: see storage.engine.make_engine); migrate first."""
        return cls(make_engine(url, **engine_options), engine_options.get("busy_timeout", DEFAULT_BUSY_TIMEOUT),
                   idempotency_key_ttl)

    @classmethod
    def from_settings(cls, engine: Engine, settings: StorageSettings) -> "MessageStore":
        """Store.from_settings, and how long an Idempotency-Key is remembered (IDEMPOTENCY_KEY_TTL)."""
        return cls(engine, settings.busy_timeout, settings.idempotency_key_ttl)

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
        expired_before = now() - self._key_ttl
        try:
            with self.writing() as connection:
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
            with self.reading() as connection:
                first = _first_answer(connection, author, key, fingerprint, expired_before)
            if first is None:
                raise
            return first, False

    def get(self, message_id: str) -> Message:
        """The message, or NotFound."""
        if not is_id(message_id):
            raise NotFound(str(message_id), WHAT)
        with self.driver(autocommit=True) as connection:
            cursor = connection.cursor()
            try:
                cursor.execute(self._get_sql, {"id": message_id})
                row = cursor.fetchone()
            finally:
                cursor.close()
        if row is None:
            raise NotFound(message_id, WHAT)
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
        if not is_id(message_id):
            raise NotFound(str(message_id), WHAT)
        with self.writing() as connection:
            row = connection.execute(
                update(messages)
                .where(messages.c.id == message_id, messages.c.version == expected_version, _by(actor))
                .values(text=stored_text, version=messages.c.version + 1, updated_at=now())
                .returning(*messages.c)
            ).first()
            if row is not None:
                return Message(**row._mapping)
            current = connection.execute(_GET, {"id": message_id}).first()
        if current is None:
            raise NotFound(message_id, WHAT)
        if Owner(current.author_issuer, current.author) != actor:
            raise not_author("update")
        raise VersionMismatch(current.version, WHAT)

    def delete(self, message_id: str, actor: Owner, may_delete_any: bool = False) -> None:
        """Delete the message if actor wrote it or ``may_delete_any`` (a moderator, whatever its issuer);
        NotFound, NotAuthor."""
        actor = _check_owner(actor, "actor")
        if not is_id(message_id):
            raise NotFound(str(message_id), WHAT)
        condition = messages.c.id == message_id
        if not may_delete_any:
            condition = and_(condition, _by(actor))
        with self.writing() as connection:
            if connection.execute(delete(messages).where(condition)).rowcount == 1:
                return
            exists = connection.execute(_GET, {"id": message_id}).first() is not None
        raise not_author("delete") if exists else NotFound(message_id, WHAT)

    def list(self, limit: int = PAGE_DEFAULT, cursor: str | None = None, author: str | None = None,
             author_issuer: str | None = None) -> Page[Message]:
        """Up to ``limit`` messages, newest first, after ``cursor`` (a page's next_cursor); when given, only
        by ``author`` (a `sub`, whatever its issuer) and only from ``author_issuer`` (with ``author``: one
        user). Each filter has an index that keeps its order. InvalidInput for a bad limit, cursor, author or
        issuer."""
        query = newest_first(messages, limit, cursor)
        if author_issuer is not None:
            query = query.where(messages.c.author_issuer == check_author(author_issuer, "author_issuer"))
        if author is not None:
            query = query.where(messages.c.author == check_author(author))
        with self.reading() as connection:
            rows = connection.execute(query).all()
        return page_of(rows, limit, lambda row: Message(**row._mapping))

    def _insert_all(self, batch: Sequence[Message]) -> Sequence[Message]:
        """Store ``batch`` in one transaction, stamped with the time it holds the write lock (on SQLite,
        writers one at a time: creation times then follow commit order); the messages as stored. The
        caller holds the writer's turn (see storage.group_commit)."""
        with self.driver() as connection:
            cursor = connection.cursor()
            try:
                if self.sqlite:
                    cursor.execute("BEGIN IMMEDIATE")  # take the write lock now, waiting busy_timeout
                at_now = now()
                stored = [Message(message.id, message.text, message.author, message.author_issuer, at_now, at_now,
                                  message.version, message.actor) for message in batch]
                at = self._time_to_db(at_now)
                cursor.executemany(self._insert_sql, [
                    {"id": m.id, "text": m.text, "author": m.author, "author_issuer": m.author_issuer,
                     "created_at": at, "updated_at": at, "version": m.version, "actor": m.actor} for m in stored])
                connection.commit()  # durably: see storage.engine
            finally:
                cursor.close()  # on failure, the pool rolls the transaction back (see Store.driver)
        return stored


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
    at = now()
    return Message(id=new_id(), text=text, author=author.subject, author_issuer=author.issuer, created_at=at,
                   updated_at=at, version=1, actor=actor)
