"""The settings storage reads: where the data lives, how long a writer waits and an Idempotency-Key is kept.
Parsed and checked at start-up (see the config package)."""

from __future__ import annotations

from dataclasses import dataclass, field

from config import ConfigError, Env, read_number, read_text, read_whole_number

from .engine import DEFAULT_BUSY_TIMEOUT, check_url

__all__ = ["IDEMPOTENCY_KEY_TTL", "StorageSettings"]

IDEMPOTENCY_KEY_TTL = 86_400  # seconds an Idempotency-Key is remembered, unless configured otherwise

# The longest a request may wait for another writer's SQLite lock (DATABASE_BUSY_TIMEOUT): well below the
# worker timeout (30 s in gunicorn.conf.py), so a busy database costs a slow 503, never a killed worker.
MAX_DATABASE_BUSY_TIMEOUT = 10.0


@dataclass(frozen=True)
class StorageSettings:
    # None: the SQLite file in the instance folder (storage.default_url); may hold a password, so never shown
    database_url: str | None = field(default=None, repr=False)
    busy_timeout: float = DEFAULT_BUSY_TIMEOUT  # DATABASE_BUSY_TIMEOUT, seconds
    idempotency_key_ttl: int = IDEMPOTENCY_KEY_TTL  # seconds an Idempotency-Key is remembered

    @classmethod
    def from_env(cls, env: Env) -> StorageSettings:
        return cls(
            database_url=_database_url(env),
            busy_timeout=_busy_timeout(env),
            idempotency_key_ttl=read_whole_number(env, "IDEMPOTENCY_KEY_TTL", cls.idempotency_key_ttl, minimum=1),
        )


def _database_url(env: Env) -> str | None:
    url = read_text(env, "DATABASE_URL")
    if url is not None:
        try:
            check_url(url)
        except ValueError as error:  # its sentence never repeats the URL, which may hold a password
            raise ConfigError(f"DATABASE_URL: {error}") from None
    return url


def _busy_timeout(env: Env) -> float:
    seconds = read_number(env, "DATABASE_BUSY_TIMEOUT", StorageSettings.busy_timeout, minimum=0)
    if seconds > MAX_DATABASE_BUSY_TIMEOUT:
        raise ConfigError(f"DATABASE_BUSY_TIMEOUT must be at most {MAX_DATABASE_BUSY_TIMEOUT:g} seconds "
                          f"(well below the worker timeout), got {read_text(env, 'DATABASE_BUSY_TIMEOUT')!r}")
    return seconds
