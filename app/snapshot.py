"""The fixed settings the committed contract snapshots in ``openapi/`` are made with.

``make spec`` runs ``flask --app 'app.snapshot:snapshot_app()' spec`` and the drift test serves the
same app, so the snapshots never depend on anyone's environment or ``.env``.
"""

from __future__ import annotations

from flask import Flask

from . import create_app

#: Local mode: no provider configured, the embedded issuer on the default port.
SNAPSHOT_CONFIG: dict[str, str] = {}


def snapshot_app(instance_path=None) -> Flask:
    """The snapshot app; ``instance_path`` is where local mode keeps its key (nothing of it is published)."""
    return create_app(SNAPSHOT_CONFIG, instance_path=instance_path)
