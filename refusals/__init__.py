"""How a request is refused, whatever refuses it: a status, ``{"error", "error_description"}``, headers.

Each domain raises its own errors (security's ``AuthFailure``, storage's ``StorageError``...) and turns
them into a ``Refusal`` where it meets HTTP; the routes and the request checks raise ``Refusal`` itself.
``answer`` is the app's one error handler (``app.register_error_handler(Exception, answer)``), for
Flask-RESTX routes and plain Flask views alike: a Refusal as it is, Flask's own HTTP errors (404, 405...)
in the same shape, anything else as a logged 500. The documents build their examples from the same
objects (``swagger.failure_example``). Nothing here knows a route, a token or a database.
"""

from __future__ import annotations

import json
import logging

from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.wrappers import Response

__all__ = ["Refusal", "answer"]

logger = logging.getLogger("app.errors")  # the app's logger for its own bugs (LOG_LEVEL applies)


class Refusal(HTTPException):
    """A refused request, raised from anywhere in it: ``Refusal(404, "not_found", "No message has this id.")``.

    ``headers`` (``WWW-Authenticate``, ``Retry-After``, ``Allow``...) go on the answer after
    ``Cache-Control: no-store``: a refusal speaks of one request, and no cache may hand it to another.
    A werkzeug ``HTTPException``, so it answers alike where no handler is registered (Flask renders it
    as it is) and in a WSGI middleware (``refusal(environ, start_response)``).
    """

    description: str  # always given

    def __init__(self, status: int, error: str, description: str, headers: dict[str, str] | None = None):
        super().__init__(description)
        self.code = status
        self.error = error
        self.headers = {"Cache-Control": "no-store", **(headers or {})}

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}

    def get_body(self, environ=None, scope=None) -> str:
        return json.dumps(self.body()) + "\n"

    def get_headers(self, environ=None, scope=None) -> list[tuple[str, str]]:
        return [("Content-Type", "application/json"), *self.headers.items()]


def answer(error: Exception) -> Response:
    """The answer to any exception a request raised: see ``refusal_of``."""
    return refusal_of(error).get_response()


def refusal_of(error: Exception) -> Refusal:
    """``error`` as a Refusal: a Refusal as it is; another HTTP exception (Flask's 404, 405 with ``Allow``...)
    with its status, its name as the error code (``server_error`` for a 5xx) and its headers; anything else
    is our bug: logged with its traceback, and a 500 ``server_error``."""
    if isinstance(error, Refusal):
        return error
    if isinstance(error, HTTPException):
        status = error.code or 500
        code = "server_error" if status >= 500 else (error.name or "error").lower().replace(" ", "_")
        headers = {name: value for name, value in error.get_headers() if name.lower() != "content-type"}
        return Refusal(status, code, error.description or "", headers)
    logger.exception("unhandled error", exc_info=error)
    return refusal_of(InternalServerError())
