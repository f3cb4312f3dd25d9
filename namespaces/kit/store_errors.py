"""What a store refuses becomes the documented error: ``refusal`` builds it for both the answer and the docs,
``refusing_store_errors`` raises it from a view, and the app's one error handler answers it, as every
refusal. An unavailable database is a 503 with Retry-After, logged in one line."""

from __future__ import annotations

import functools
import json
import logging

from flask import request

from metrics.catalog import STORAGE_UNAVAILABLE
from refusals import Refusal
from storage import (
    IdempotencyKeyReused,
    InvalidInput,
    NotAuthor,
    NotFound,
    StorageError,
    StorageUnavailable,
    VersionMismatch,
)
from swagger import answers, error_model, failure_example

logger = logging.getLogger("app.storage")

REFUSALS = {  # what a store raises -> (status, error code)
    InvalidInput: (400, "invalid_request"),
    NotAuthor: (403, "not_author"),
    NotFound: (404, "not_found"),
    VersionMismatch: (412, "precondition_failed"),
    IdempotencyKeyReused: (422, "idempotency_key_reused"),
    StorageUnavailable: (503, "temporarily_unavailable"),
}


def refusal(error: StorageError) -> Refusal:
    """The answer to what a store refused: one sentence from its description, and Retry-After for 503."""
    status, code = next(REFUSALS[kind] for kind in type(error).__mro__ if kind in REFUSALS)  # a subclass: its base's
    headers = {"Retry-After": str(error.retry_after)} if isinstance(error, StorageUnavailable) else None
    return Refusal(status, code, error.description[:1].upper() + error.description[1:] + ".", headers)


def refusing_store_errors(view):
    """The view's StorageError, raised again as its refusal. An unavailable database is logged here, in one
    line (the driver's first): no traceback per request, and no SQL in a log."""

    @functools.wraps(view)
    def refusing(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except StorageError as error:
            if isinstance(error, StorageUnavailable):
                STORAGE_UNAVAILABLE.inc()
                cause = getattr(error.__cause__, "orig", None) or error.__cause__
                reason = (str(cause).strip().splitlines() or ["-"])[0][:200]
                logger.warning("storage unavailable route=%s reason=%s", json.dumps(request.path[:200]),
                               json.dumps(reason))
            raise refusal(error) from None

    return refusing


def named_examples(*cases: tuple[str, str, Refusal]) -> dict[str, dict]:
    """(name, summary, refusal) -> the named examples ``answers`` documents: each the refusal's answer."""
    return {name: failure_example(summary, error)[1] for name, summary, error in cases}


def storage_down(ns):
    """Document the 503 every stored route may answer."""
    return answers(ns, 503, "The database is unavailable (down, or locked past its busy timeout); retry "
                            "after `Retry-After` seconds.", error_model,
                   named_examples(("storage_unavailable", "The database is unavailable",
                                   refusal(StorageUnavailable()))))


def not_found(ns, what: str):
    """Document the 404 of a route on one ``what``, by its id."""
    return answers(ns, 404, f"No {what} has this id.", error_model,
                   named_examples(("not_found", f"No {what} has this id", refusal(NotFound("", what)))))
