"""The app's log lines, in LOG_FORMAT: ``text`` (one line as a person reads it) or ``json`` (one JSON object).

Both carry the id of the request they were written for (app/request_ids.py): text lines end with
``request_id=...``, JSON lines have a ``request_id`` field. JSON lines are python-json-logger's: every field is
JSON-escaped (``ensure_ascii``), so a value can neither break its line nor hold a raw control character, and
each line has at least ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``pid`` and ``message``, plus the
fields the code adds (``extra``). Both servers' request lines go through ``access_fields``: the same fields,
whichever server wrote them.
"""

from __future__ import annotations

import logging
import sys
from datetime import timedelta

from flask import Flask
from flask.globals import request_ctx
from pythonjsonlogger.json import JsonFormatter

from metrics.catalog import UNMATCHED_ROUTE
from security.protector import ACTOR

from .request_ids import REQUEST_ID, current_request_id

TEXT_FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s"
TEXT_DATE_FORMAT = "%Y-%m-%d %H:%M:%S %z"
#: LogRecord attributes every JSON line carries, and the names they get there.
JSON_FIELDS = {"levelname": "level", "name": "logger", "process": "pid", "message": "message"}


class RequestIdFilter(logging.Filter):
    """Gives a record written while a request is handled that request's id (``record.request_id``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            request_id = current_request_id()
            if request_id is not None:
                record.request_id = request_id
        return True


class TextFormatter(logging.Formatter):
    """The text layout, ending with ``request_id=<id>`` when the record has one. The id needs no quoting:
    it is 1 to 128 visible ASCII characters, no space, at the end of the line."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        line = super().formatMessage(record)
        request_id = getattr(record, "request_id", None)
        return line if request_id is None else f"{line} request_id={request_id}"


def json_formatter() -> logging.Formatter:
    """One JSON object per record (see the module's docstring)."""
    return JsonFormatter(" ".join(f"%({name})s" for name in JSON_FIELDS), rename_fields=JSON_FIELDS,
                         timestamp="time")


def formatter(log_format: str) -> logging.Formatter:
    """The formatter of LOG_FORMAT's ``log_format`` (``text`` or ``json``)."""
    return json_formatter() if log_format == "json" else TextFormatter(TEXT_FORMAT, TEXT_DATE_FORMAT)


def configure_logging(log_level: str, log_format: str) -> None:
    """The app's lines (loggers ``security``, ``app``, ``storage``...) to stderr at ``log_level``, in
    ``log_format``, each with its request's id, unless the host (pytest) already set handlers.

    gunicorn configures only its own loggers, so under it these lines reach stderr beside its error log, in the
    same format, with the worker's pid (several workers write to one stream)."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(formatter(log_format))
        handler.addFilter(RequestIdFilter())
        root.addHandler(handler)
    for name in ("security", "app"):
        logging.getLogger(name).setLevel(log_level)


def access_fields(environ: dict, status: int | None, duration: timedelta | float, client: str | None = None) -> dict:
    """A request line's fields: ``request_id``, ``method``, ``route`` (the URL rule), ``path`` (no query string),
    ``status``, ``duration_ms``, ``client`` (the address the app trusts as the client's), ``user_agent`` and
    ``actor``.
    ``duration`` in seconds, or as a timedelta."""
    seconds = duration.total_seconds() if isinstance(duration, timedelta) else duration
    return {
        "request_id": environ.get(REQUEST_ID),
        "method": environ.get("REQUEST_METHOD"),
        "route": route_of(environ),
        "path": environ.get("PATH_INFO"),
        "status": status,
        "duration_ms": round(seconds * 1000, 3),
        "client": client or environ.get("REMOTE_ADDR"),
        "user_agent": environ.get("HTTP_USER_AGENT"),
        "actor": environ.get(ACTOR),  # a delegated token's act.sub: who acted for the user
    }


ROUTE = "app.route"  # environ key: the URL rule that matched, for the request line and the metrics


def record_routes(app: Flask) -> None:
    """Write each request's URL rule into its environ, where the request line and the metrics read it once the
    app has answered (Flask forgets its request object by then). Installed only when something reads it."""

    def record_route():
        context = request_ctx._get_current_object()  # type: ignore[attr-defined]  # one lookup, not two proxies
        rule = context.request.url_rule
        if rule is not None:
            context.request.environ[ROUTE] = rule.rule

    app.before_request(record_route)


def route_of(environ: dict) -> str:
    """The URL rule that answered the request (``/api/messages/<message_id>``); ``UNMATCHED_ROUTE`` when none
    matched, so that the values stay as few as the routes, whatever paths are sent."""
    return environ.get(ROUTE, UNMATCHED_ROUTE)
