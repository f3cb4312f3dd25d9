"""What can go wrong in a store, one type per answer a caller gives; no HTTP here, only the facts.

Every error has a ``description``: one sentence fit to show a client (no SQL, no URL, no secret). The
errors that concern one item take the words of the resource that raises them (``what``: "message").
"""

from __future__ import annotations

RETRY_AFTER_SECONDS = 1  # how long a client should wait after StorageUnavailable before trying again


class StorageError(Exception):
    """Base of everything a store raises on purpose."""

    def __init__(self, description: str):
        super().__init__(description)
        self.description = description


class InvalidInput(StorageError, ValueError):
    """A value breaks a rule of its store; ``field`` names it (``text``, ``cursor``, ...)."""

    def __init__(self, field: str, description: str):
        super().__init__(description)
        self.field = field


class NotFound(StorageError):
    """No ``what`` has this id."""

    def __init__(self, item_id: str, what: str):
        super().__init__(f"no {what} has this id")
        self.item_id = item_id


class NotAuthor(StorageError):
    """The actor may not change this item: someone else wrote it (and the actor may not override that).
    The description says who may."""


class VersionMismatch(StorageError):
    """Optimistic concurrency: the item changed since the version the caller saw."""

    def __init__(self, current: int, what: str):
        super().__init__(f"the {what} has changed: its current version is {current}")
        self.current = current


class IdempotencyKeyReused(StorageError):
    """The caller used this idempotency key before with a different body (IETF draft: answer 422)."""

    def __init__(self):
        super().__init__("this Idempotency-Key was already used with a different request body")


class StorageUnavailable(StorageError):
    """The database is down, locked past its busy timeout, or out of connections: try again later."""

    def __init__(self, description: str = "the database is unavailable; try again shortly"):
        super().__init__(description)
        self.retry_after = RETRY_AFTER_SECONDS


class MigrationError(StorageError):
    """Migrations could not be applied; ``description`` is one line that says why."""
