"""The messages' tables, as SQLAlchemy Core sees them, on storage's one MetaData. The migrations in
storage/migrations/versions/ create them; a test checks that the two agree."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Index, Integer, String, Table, Text

from storage import ID_LENGTH, UTCDateTime, metadata

from .rules import IDEMPOTENCY_KEY_MAX_CHARS

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
