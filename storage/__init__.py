"""Durable messages: SQLite or PostgreSQL through SQLAlchemy Core, the schema kept by Alembic migrations.

Start-up calls ``migrate(url)`` (safe from every worker at once), then requests go through a
``MessageStore``. Nothing here knows about HTTP: each error type carries a description fit for a
client, and the web layer picks the status.
"""

from .engine import DEFAULT_BUSY_TIMEOUT, SQLITE_SYNCHRONOUS, check_url, default_url, make_engine
from .errors import (
                     IdempotencyKeyReused,
                     InvalidInput,
                     MigrationError,
                     NotAuthor,
                     NotFound,
                     StorageError,
                     StorageUnavailable,
                     VersionMismatch,
)
from .migrate import migrate
from .rules import (
                     AUTHOR_PATTERN,
                     CURSOR_LENGTH,
                     CURSOR_PATTERN,
                     CURSOR_RULE,
                     IDEMPOTENCY_KEY_MAX_CHARS,
                     IDEMPOTENCY_KEY_PATTERN,
                     IDEMPOTENCY_KEY_RULE,
                     PAGE_DEFAULT,
                     PAGE_MAX,
                     TEXT_MAX_CHARS,
                     TEXT_PATTERN,
                     TEXT_RULE,
                     check_author,
                     check_idempotency_key,
                     check_page_size,
                     clean_text,
)
from .store import IDEMPOTENCY_KEY_TTL, Message, MessageStore, Owner, Page

__all__ = [
    "DEFAULT_BUSY_TIMEOUT", "SQLITE_SYNCHRONOUS",
    "AUTHOR_PATTERN", "CURSOR_LENGTH", "CURSOR_PATTERN", "CURSOR_RULE",
    "IDEMPOTENCY_KEY_MAX_CHARS", "IDEMPOTENCY_KEY_PATTERN", "IDEMPOTENCY_KEY_RULE", "IDEMPOTENCY_KEY_TTL",
    "PAGE_DEFAULT", "PAGE_MAX",
    "TEXT_MAX_CHARS", "TEXT_PATTERN", "TEXT_RULE",
    "IdempotencyKeyReused", "InvalidInput", "MigrationError", "NotAuthor", "NotFound", "StorageError",
    "StorageUnavailable", "VersionMismatch",
    "Message", "MessageStore", "Owner", "Page",
    "check_author", "check_idempotency_key", "check_page_size", "check_url", "clean_text", "default_url",
    "make_engine", "migrate",
]
