"""The messages' database for the app: migrated at start-up, then one MessageStore per process for the routes."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from namespaces.messages import STORE
from storage import MessageStore, MigrationError, default_url, migrate

from .settings import Settings


def migrate_database(settings: Settings, instance_path: str | Path) -> str:
    """Apply the migrations to DATABASE_URL (default: SQLite in ``instance_path``), exactly once however many
    processes start together; the database's URL. A failed migration stops start-up with its one line.

    Messages stored before authors had an issuer are credited to the first configured issuer: with one,
    the one that wrote them."""
    url = settings.storage.database_url or default_url(instance_path)
    try:
        migrate(url, issuer=settings.auth.issuer)
    except MigrationError as error:
        raise SystemExit(error.description) from None
    return url


def open_message_store(app: Flask, settings: Settings) -> MessageStore:
    """Migrate (see migrate_database), then open the store the messages routes use.

    SQLite keeps ``synchronous=FULL``: a commit, and so a 201, returns only once it is on disk."""
    url = migrate_database(settings, app.instance_path)
    store = MessageStore.open(url, idempotency_key_ttl=settings.storage.idempotency_key_ttl,
                              busy_timeout=settings.storage.busy_timeout, sqlite_synchronous="FULL")
    app.extensions[STORE] = store
    return store
