"""Durable storage for the API's resources: SQLite or PostgreSQL through SQLAlchemy Core, the schema kept by
Alembic migrations (storage/migrations/versions/, one folder for every resource's tables).

Start-up calls ``migrate(url)`` (safe from every worker at once), then requests go through each resource's
store, a ``Store`` (engine, transactions, writers' turn, group commit) with its own SQL. Nothing here knows
about HTTP, nor about any one resource: each error type carries a description fit for a client, and the web
layer picks the status.
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
from .group_commit import GroupCommit
from .migrate import migrate
from .paging import Page, decode_cursor, encode_cursor, newest_first, page_of
from .rows import ID_LENGTH, ID_PATTERN, is_id, new_id, now
from .rules import (
                     CURSOR_LENGTH,
                     CURSOR_PATTERN,
                     CURSOR_RULE,
                     PAGE_DEFAULT,
                     PAGE_MAX,
                     SUBJECT_PATTERN,
                     check_page_size,
                     check_subject,
)
from .schema import UTCDateTime, metadata
from .settings import IDEMPOTENCY_KEY_TTL, StorageSettings
from .store import Store, app_engine

__all__ = [
    "DEFAULT_BUSY_TIMEOUT", "SQLITE_SYNCHRONOUS",
    "CURSOR_LENGTH", "CURSOR_PATTERN", "CURSOR_RULE", "IDEMPOTENCY_KEY_TTL", "ID_LENGTH", "ID_PATTERN",
    "PAGE_DEFAULT", "PAGE_MAX", "SUBJECT_PATTERN",
    "IdempotencyKeyReused", "InvalidInput", "MigrationError", "NotAuthor", "NotFound", "StorageError",
    "StorageUnavailable", "VersionMismatch",
    "GroupCommit", "Page", "StorageSettings", "Store", "UTCDateTime",
    "app_engine", "check_page_size", "check_subject", "check_url", "decode_cursor", "default_url", "encode_cursor",
    "is_id", "make_engine", "metadata", "migrate", "new_id", "newest_first", "now", "page_of",
]
