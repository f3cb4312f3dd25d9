"""METRICS: whether ``/metrics`` is served (and requests are timed for it). Off unless set to ``on``.

This module imports nothing of prometheus-client: gunicorn.conf.py reads it before prometheus-client is loaded.
"""

from __future__ import annotations

from config import ConfigError, Env, read_text

SWITCH = ("on", "off")


def metrics_on(env: Env) -> bool:
    """Whether METRICS is ``on`` (default ``off``); any other value is a ConfigError."""
    raw = read_text(env, "METRICS")
    if raw is None:
        return False
    value = raw.lower()
    if value not in SWITCH:
        raise ConfigError(f"METRICS must be on or off, got {raw!r}")
    return value == "on"
