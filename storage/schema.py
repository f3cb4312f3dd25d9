"""The tables, as SQLAlchemy Core sees them. Migrations create them; tests check that the two agree."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import JSON, Column, DateTime, Index, Integer, MetaData, String, Table, Text
from sqlalchemy.types import TypeDecorator

from .rules import IDEMPOTENCY_KEY_MAX_CHARS

ID_LENGTH = 32  # a message id: 128 random bits in hex

metadata = MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
})


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in, aware UTC datetimes out, on every database.

    SQLite has no time zones: it stores the UTC wall time as fixed-width text, which sorts the same
    way as the instants it stands for, so keyset comparisons work there as on PostgreSQL's timestamptz.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: the store only writes aware UTC datetimes")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


messages = Table(
    "messages", metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("text", Text, nullable=False),
    Column("author", Text, nullable=False),  # the token's `sub`
    Column("author_issuer", Text, nullable=False),  # the token's `iss`: a `sub` is unique within one issuer only
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("version", Integer, nullable=False),  # 1 on creation, +1 on each update: the ETag
    Column("actor", Text, nullable=True),  # who posted it for the author (act.sub); NULL: the author did
    # newest first is a backward scan of these: (created_at, id) orders every message totally
    Index(None, "created_at", "id"),
    Index(None, "author", "created_at", "id"),
    Index(None, "author_issuer", "created_at", "id"),  # the author_issuer filter alone
)

# One row per (author, its issuer, Idempotency-Key): the body it came with and the first answer, kept as it
# was (a later edit or delete of the message does not change what a retry of that create gets) until the
# key expires; expired rows are deleted a few at a time, oldest first, through the created_at index.
idempotency_keys = Table(
    "idempotency_keys", metadata,
    Column("author", Text, primary_key=True),
    Column("author_issuer", Text, primary_key=True),
    Column("key", String(IDEMPOTENCY_KEY_MAX_CHARS), primary_key=True),
    Column("fingerprint", String(64), nullable=False),  # SHA-256 of the text exactly as sent
    Column("answer", JSON, nullable=False),  # the message as first created
    Column("created_at", UTCDateTime, nullable=False),
    Index(None, "created_at"),
)
