"""The messages' shapes as the API documents them, how a message is shown, and the documented example message."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

from flask_restx import SchemaModel

from namespaces.kit import page_model, paging_parameters
from storage import ID_PATTERN

from .rules import (
    AUTHOR_PATTERN,
    IDEMPOTENCY_KEY_MAX_CHARS,
    IDEMPOTENCY_KEY_PATTERN,
    IDEMPOTENCY_KEY_RULE,
    TEXT_MAX_CHARS,
    TEXT_PATTERN,
    TEXT_RULE,
)
from .store import Message

message_model = SchemaModel("Message", {
    "type": "object",
    "required": ["author", "created_at", "id", "text", "updated_at", "version"],
    "properties": {
        "id": {"type": "string", "pattern": f"^{ID_PATTERN.pattern}$", "readOnly": True,
               "description": "The message's id: opaque and not sequential."},
        "text": {"type": "string", "minLength": 1, "maxLength": TEXT_MAX_CHARS,
                 "description": "The text, as sent less its surrounding white space."},
        "author": {"type": "string", "minLength": 1, "readOnly": True,
                   "description": "The `sub` of the token that posted it."},
        "author_issuer": {"type": "string", "minLength": 1, "readOnly": True,
                          "description": "The `iss` of the token that posted it. Present only when the API trusts "
                                         "several issuers (`AUTH_ISSUER` or `AUTH0_DOMAIN` lists more than one): a "
                                         "`sub` names one user within one issuer only, so the author is `author` "
                                         "and `author_issuer` together."},
        "actor": {"type": "string", "minLength": 1, "readOnly": True,
                  "description": "Who posted it for `author`: the current actor (`act.sub`, RFC 8693 §4.1) of the "
                                 "delegated token that posted it, e.g. an agent acting for the user. Absent when "
                                 "the author posted it themselves."},
        "created_at": {"type": "string", "format": "date-time", "readOnly": True},
        "updated_at": {"type": "string", "format": "date-time", "readOnly": True},
        "version": {"type": "integer", "minimum": 1, "readOnly": True,
                    "description": "1 when posted, one more on each edit. The `ETag` is this number in quotes."},
    },
})

message_page_model = page_model(message_model)

EXAMPLE_TEXT = "Hello from the messages API!"
text_model = SchemaModel("MessageText", {
    "type": "object",
    "required": ["text"],
    "additionalProperties": False,
    "properties": {
        "text": {"type": "string", "minLength": 1, "pattern": TEXT_PATTERN, "example": EXAMPLE_TEXT,
                 "description": f"The message: {TEXT_RULE}."},
    },
})

MESSAGE_ID = {"description": "A message's `id`.", "pattern": f"^{ID_PATTERN.pattern}$"}
LIST_PARAMETERS = {
    **paging_parameters("messages"),
    "author": {"in": "query", "type": "string", "minLength": 1, "pattern": AUTHOR_PATTERN,
               "description": "Only messages whose author is this `sub` (any text but NUL), from whichever issuer."},
    "author_issuer": {"in": "query", "type": "string", "minLength": 1, "pattern": AUTHOR_PATTERN,
                      "description": "Only messages whose author's issuer (`iss`) is this one; with `author`, one "
                                     "user's, when the API trusts several issuers."},
}
IDEMPOTENCY_KEY = {"in": "header", "type": "string", "minLength": 1, "maxLength": IDEMPOTENCY_KEY_MAX_CHARS,
                   "pattern": IDEMPOTENCY_KEY_PATTERN,
                   "description": f"Makes the request safe to retry: {IDEMPOTENCY_KEY_RULE}. A retry with the same "
                                  "key and body returns the first answer and creates nothing; the same key with "
                                  "another body is refused (422). Keys are the caller's own (its `sub` and `iss`), "
                                  "remembered for `IDEMPOTENCY_KEY_TTL` seconds from their first use (a day unless "
                                  "configured otherwise): after that, the same key makes a new message."}


def as_json(message: Message, with_issuer: bool = False) -> dict:
    """The message as the API shows it (built field by field: dataclasses.asdict deep-copies, at a cost
    as large as the database read); ``with_issuer`` when several issuers are trusted (see kit.several_issuers)."""
    shown = {"id": message.id, "text": message.text, "author": message.author,
             "created_at": message.created_at.isoformat(), "updated_at": message.updated_at.isoformat(),
             "version": message.version}
    if with_issuer:
        shown["author_issuer"] = message.author_issuer
    if message.actor is not None:
        shown["actor"] = message.actor
    return shown


# --- the documented example: what the live API answers in each case (tests/routes/test_examples.py asks it) ---

EXAMPLE_AUTHOR = "alice"
_POSTED_AT = datetime(2025, 6, 1, 9, 30, 0, 125000, tzinfo=timezone.utc)
EXAMPLE = Message(id="4f9c2a7e81d34b6f9a0e5c1d2b3a4f5e", text=EXAMPLE_TEXT, author=EXAMPLE_AUTHOR,
                  author_issuer="https://login.example.com/", created_at=_POSTED_AT, updated_at=_POSTED_AT,
                  version=1)
EDITED = replace(EXAMPLE, updated_at=_POSTED_AT + timedelta(minutes=5), version=2)
EXAMPLE_URL = f"/api/messages/{EXAMPLE.id}"
