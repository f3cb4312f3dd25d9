"""``@json_body(ns, model, description)``: a route's JSON request body, read strictly and documented with its refusals.

The body must come as ``Content-Type: application/json`` (else 415), be at most ``max_bytes`` (else 413,
decided before it is read), be one JSON object (else 400), and hold every required field of the model and
no other (else 400, naming the field). The view gets it as the keyword argument ``body``; the rules of
each field's value are the view's. One decorator both enforces and documents, so they cannot drift.
"""

from __future__ import annotations

import functools

from flask import request
from werkzeug.exceptions import RequestEntityTooLarge

from refusals import Refusal

from .models import error_model
from .protection import answers, failure_example

MAX_BODY_BYTES = 16 * 1024
JSON = "application/json"


def unsupported_media_type() -> Refusal:
    return Refusal(415, "unsupported_media_type", f"The body must be JSON, sent with Content-Type: {JSON}.")


def too_large(max_bytes: int) -> Refusal:
    return Refusal(413, "request_entity_too_large", f"The body must be at most {max_bytes} bytes.")


def not_an_object(allowed: tuple[str, ...]) -> Refusal:
    return Refusal(400, "invalid_request", f"The body must be a JSON object with the fields: {', '.join(allowed)}.")


def unknown_field(name: str, allowed: tuple[str, ...]) -> Refusal:
    return Refusal(400, "invalid_request",
                   f"The body has an unknown field: {name[:64]}. Its fields are: {', '.join(allowed)}.")


def missing_field(name: str) -> Refusal:
    return Refusal(400, "invalid_request", f"The body must have the field {name}.")


def read_json_object(allowed: tuple[str, ...], required: tuple[str, ...], max_bytes: int) -> dict:
    """The request's JSON object, or the Refusal that refuses it."""
    if request.mimetype != JSON:
        raise unsupported_media_type()
    if (request.content_length or 0) > max_bytes:
        raise too_large(max_bytes)
    request.max_content_length = max_bytes + 1  # a body without Content-Length: read one byte more, to know
    try:
        if len(request.get_data(cache=True)) > max_bytes:
            raise too_large(max_bytes)
    except RequestEntityTooLarge:
        raise too_large(max_bytes) from None
    body = request.get_json(silent=True)  # None when malformed; repeated names and deep nesting raise 400
    if not isinstance(body, dict):
        raise not_an_object(allowed)
    for name in sorted(set(body) - set(allowed)):
        raise unknown_field(name, allowed)
    for name in required:
        if name not in body:
            raise missing_field(name)
    return body


def json_body(ns, model, description: str, *, max_bytes: int = MAX_BODY_BYTES):
    """Read the request body as an object of ``model`` (a SchemaModel with ``properties`` and ``required``)."""
    ns.add_model(model.name, model)
    schema = model.__schema__
    allowed, required = tuple(schema["properties"]), tuple(schema.get("required", ()))
    invalid = [("The body is not a JSON object", not_an_object(allowed), "malformed_json"),
               ("The body has a field the route does not take", unknown_field("colour", allowed), "unknown_field")]
    invalid += [("The body lacks a required field", missing_field(name), "missing_field") for name in required[:1]]
    refusals = [
        (400, "The body is not a JSON object, has an unknown field or lacks a required one (`invalid_request`; "
              "the description names the field).", invalid),
        (413, f"The body is over {max_bytes} bytes.",
         [(f"A body over {max_bytes} bytes", too_large(max_bytes), "request_entity_too_large")]),
        (415, f"The body is not sent as `{JSON}`.",
         [("A body of another content type", unsupported_media_type(), "unsupported_media_type")]),
    ]

    def decorate(view):
        @functools.wraps(view)
        def reading(*args, **kwargs):
            return view(*args, body=read_json_object(allowed, required, max_bytes), **kwargs)

        reading = ns.expect((model, f"{description} At most {max_bytes} bytes of JSON."), validate=False)(reading)
        for status, text, cases in refusals:
            examples = {name: failure_example(summary, error)[1] for summary, error, name in cases}
            reading = answers(ns, status, text, error_model, examples)(reading)
        return reading

    return decorate
