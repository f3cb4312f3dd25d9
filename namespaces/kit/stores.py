"""Which store a namespace's routes use. app.database opens one of each, per process, at start-up (after the
migrations), and keeps it in ``app.extensions``; the routes reach it through the accessor ``uses_store``
returns."""

from __future__ import annotations

from typing import Callable, Iterable, TypeVar

from flask import current_app

from storage import Store

S = TypeVar("S", bound=Store)
_STORE = "stored_in"  # the namespace's attribute: (app.extensions key, store class)


def uses_store(ns, store_class: type[S]) -> Callable[[], S]:
    """Declare that ``ns``'s routes keep their items in a ``store_class``; the function that returns the app's."""
    key = f"{ns.name}_store"
    setattr(ns, _STORE, (key, store_class))
    return lambda: current_app.extensions[key]


def store_key(ns) -> str:
    """Where the app keeps ``ns``'s store (``app.extensions[store_key(ns)]``)."""
    return getattr(ns, _STORE)[0]


def declared_stores(namespaces: Iterable) -> list[tuple[str, type[Store]]]:
    """(app.extensions key, store class) of each of these namespaces that uses a store."""
    return [getattr(ns, _STORE) for ns in namespaces if hasattr(ns, _STORE)]
