"""The messages' database for the app: migrated at start-up, then one MessageStore per process for the routes."""

from __future__ import annotations

from flask import Flask

from namespaces.messages import STORE
from storage import MessageStore, MigrationError, default_url, migrate

from .settings import Settings


def open_message_store(app: Flask, settings: Settings) -> MessageStore:
    """Apply the migrations (exactly once, however many processes start together), then open the store the
    messages routes use. A failed migration stops start-up with its one line.

    SQLite keeps ``synchronous=FULL``: a commit, and so a 201, returns only once it is on disk."""
    url = settings.database_url or default_url(app.instance_path)
    try:
        migrate(url)
    except MigrationError as error:
        raise SystemExit(error.description) from None
    store = MessageStore.open(url, busy_timeout=settings.database_busy_timeout, sqlite_synchronous="FULL")
    app.extensions[STORE] = store
    return store
