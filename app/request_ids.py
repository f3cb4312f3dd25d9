"""Request ids: one per request, from the load balancer or made here, on the answer and on every log line.

- An incoming ``X-Request-ID`` of 1 to 128 visible ASCII characters (``!`` to ``~``: no space, no control) is
  kept, so one id follows a request from the load balancer to the app's lines; anything else (too long, empty,
  a control character, non-ASCII) is replaced by a fresh random id, and never reaches a log.
- The id goes back on every answer as ``X-Request-ID``, refusals of the outer middleware included (this is the
  outermost one), and into ``environ[REQUEST_ID]`` for the access line.
- While the app handles the request, ``current_request_id()`` gives it to the log lines (app/logs.py): a context
  variable, so each thread (``make run``) or greenlet (``make serve``) sees its own request's.
"""

from __future__ import annotations

import re
import secrets
from contextvars import ContextVar

HEADER = "X-Request-ID"
REQUEST_ID = "app.request_id"  # environ key
VALID = re.compile(r"[!-~]{1,128}")

_current: ContextVar[str | None] = ContextVar("request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being handled here, None outside one."""
    return _current.get()


def accepted_id(sent: str | None) -> str:
    """``sent`` when it is a valid id, else a fresh random one (128 bits, hexadecimal)."""
    if sent is not None and VALID.fullmatch(sent):
        return sent
    return secrets.token_hex(16)


class RequestIds:
    """WSGI middleware giving each request its id (see the module's docstring)."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        request_id = environ[REQUEST_ID] = accepted_id(environ.get("HTTP_X_REQUEST_ID"))

        def start_with_id(status, headers, exc_info=None):
            headers.append((HEADER, request_id))
            return start_response(status, headers, exc_info)

        token = _current.set(request_id)
        try:
            return self.app(environ, start_with_id)
        finally:
            _current.reset(token)
