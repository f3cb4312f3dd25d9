"""The database for the app: migrated at start-up, then one store per process for each namespace that uses one
(namespaces.kit.uses_store)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from flask import Flask

from namespaces.kit import declared_stores
from storage import MigrationError, Store, app_engine, default_url, migrate

from .settings import Settings


def migrate_database(settings: Settings, instance_path: str | Path) -> str:
    """Apply the migrations to DATABASE_URL (default: SQLite in ``instance_path``), exactly once however many
    processes start together; the database's URL. A failed migration stops start-up with its one line.

    Rows stored before owners had an issuer are credited to the first configured issuer: with one, the one
    that wrote them."""
    url = settings.storage.database_url or default_url(instance_path)
    try:
        migrate(url, issuer=settings.auth.issuer)
    except MigrationError as error:
        raise SystemExit(error.description) from None
    return url


def open_stores(app: Flask, settings: Settings, namespaces: Iterable) -> Store:
    """Migrate (see migrate_database), then open the store each of ``namespaces`` uses, into ``app.extensions``,
    all on one engine (see storage.app_engine and each store's ``from_settings``); the database itself, for the
    readiness check."""
    url = migrate_database(settings, app.instance_path)
    engine = app_engine(url, settings.storage)
    for key, store_class in declared_stores(namespaces):
        app.extensions[key] = store_class.from_settings(engine, settings.storage)
    return Store.from_settings(engine, settings.storage)
