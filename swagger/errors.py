"""Every error, on every route, is JSON `{"error", "error_description"}`."""

from __future__ import annotations

import logging

from flask import jsonify
from werkzeug.exceptions import HTTPException, InternalServerError

logger = logging.getLogger("app.errors")


class ApiError(HTTPException):
    """An answer in the Error shape with any status, raised from a view: ``ApiError(404, "not_found", "...")``.

    Like the auth failures it offers ``error``, ``body()`` and ``get_headers()``, so the docs can show it as
    an example (``swagger.failure_example``) from the very object that answers."""

    def __init__(self, status: int, error: str, description: str, headers: dict[str, str] | None = None):
        super().__init__(description)
        self.code = status
        self.error = error
        self.data = {"error": error, "error_description": description}
        self.headers = {"Cache-Control": "no-store", **(headers or {})}

    def body(self) -> dict[str, str]:
        return self.data

    def get_headers(self, environ=None, scope=None):
        return [("Content-Type", "application/json"), *self.headers.items()]


def error_body(error: HTTPException) -> dict[str, str]:
    """The Error model for any HTTP exception (auth errors carry theirs in ``.data``)."""
    data = getattr(error, "data", None)
    if isinstance(data, dict) and "error" in data:
        return data
    code = "server_error" if (error.code or 500) >= 500 else (error.name or "error").lower().replace(" ", "_")
    return {"error": code, "error_description": error.description or ""}


def error_headers(error: HTTPException) -> dict[str, str]:
    """The exception's own headers (challenge, Retry-After, Allow...), minus its content type."""
    return {name: value for name, value in error.get_headers() if name.lower() != "content-type"}


def json_error_response(error: HTTPException):
    """A Flask error handler: the HTTP exception's status and headers, the Error model as body."""
    response = jsonify(error_body(error))
    response.status_code = error.code or 500
    response.headers.update(error_headers(error))
    return response


def unexpected_error_response(error: Exception):
    """Anything that is not an HTTP exception is our bug: log it, answer a 500 in the same shape."""
    logger.exception("unhandled error", exc_info=error)
    return json_error_response(InternalServerError())
