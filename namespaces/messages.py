"""The messages collection, stored in the database (storage/): read with read:messages, post and change your own
with write:messages, delete anyone's with delete:messages (moderators).

- ``GET /api/messages``: newest first, in pages (``limit``, ``cursor``), optionally by one ``author`` (and
  ``author_issuer``).
- ``POST /api/messages``: the author is the token's ``sub`` and ``iss``; 201 with ``Location`` and ``ETag``; an
  ``Idempotency-Key`` (the caller's own) makes a retry return the first answer instead of a second message,
  for as long as the store remembers the key (``IDEMPOTENCY_KEY_TTL``).
- ``GET /api/messages/{message_id}``: with ``ETag``; ``If-None-Match`` gives 304.
- ``PATCH /api/messages/{message_id}``: the author only, with ``If-Match`` (428 without, 412 when stale).
- ``DELETE /api/messages/{message_id}``: the author with write:messages, or anyone with delete:messages.

An author is a subject of one issuer (``iss`` and ``sub``): the same ``sub`` from another issuer is someone else.
With several issuers configured, each message names its author's (``author_issuer``); with one, it is left out.

What the store refuses becomes the documented error, built by ``refusal`` for both the answer and the docs;
the app's one error handler answers it, as every refusal.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone

from flask import Response, current_app, request, url_for
from flask_restx import Namespace, Resource, SchemaModel
from werkzeug.http import quote_etag

from refusals import Refusal
from security import current_token
from security.settings import current_auth_settings
from storage import (
    AUTHOR_PATTERN,
    CURSOR_LENGTH,
    CURSOR_PATTERN,
    CURSOR_RULE,
    IDEMPOTENCY_KEY_MAX_CHARS,
    IDEMPOTENCY_KEY_PATTERN,
    IDEMPOTENCY_KEY_RULE,
    PAGE_DEFAULT,
    PAGE_MAX,
    TEXT_MAX_CHARS,
    TEXT_PATTERN,
    TEXT_RULE,
    IdempotencyKeyReused,
    InvalidInput,
    Message,
    MessageStore,
    NotAuthor,
    NotFound,
    Owner,
    StorageError,
    StorageUnavailable,
    VersionMismatch,
    check_author,
    clean_text,
)
from storage.store import ID_PATTERN
from swagger import SUCCESS, Scope, answers, error_model, example, failure_example, json_body, links, protected

from .private import READ_MESSAGES

ns = Namespace("messages", description="Messages stored by the API: anyone with `read:messages` reads them; "
                                       "writers post and change their own; moderators delete any.")

WRITE_MESSAGES = Scope("write:messages", "Post messages, and edit or delete your own (POST /api/messages, "
                                         "PATCH and DELETE /api/messages/{message_id}).")
DELETE_MESSAGES = Scope("delete:messages", "Delete anyone's message, as a moderator "
                                           "(DELETE /api/messages/{message_id}).")

logger = logging.getLogger("app.messages")

#: Where the app keeps its MessageStore (``app.extensions``); app.database puts it there at start-up.
STORE = "message_store"


def store() -> MessageStore:
    return current_app.extensions[STORE]


# --- the shapes -------------------------------------------------------------------------------------

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
        "created_at": {"type": "string", "format": "date-time", "readOnly": True},
        "updated_at": {"type": "string", "format": "date-time", "readOnly": True},
        "version": {"type": "integer", "minimum": 1, "readOnly": True,
                    "description": "1 when posted, one more on each edit. The `ETag` is this number in quotes."},
    },
})

page_model = SchemaModel("MessagePage", {
    "type": "object",
    "required": ["items", "next_cursor"],
    "properties": {
        "items": {"type": "array", "maxItems": PAGE_MAX, "items": {"$ref": "#/definitions/Message"},
                  "description": "Newest first."},
        "next_cursor": {"type": "string", "x-nullable": True, "pattern": CURSOR_PATTERN,
                        "description": "Pass it as `cursor` for the next page; null on the last page."},
    },
})

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
    "limit": {"in": "query", "type": "integer", "minimum": 1, "maximum": PAGE_MAX, "default": PAGE_DEFAULT,
              "description": "How many messages, at most, on this page."},
    "cursor": {"in": "query", "type": "string", "minLength": CURSOR_LENGTH, "maxLength": CURSOR_LENGTH,
               "pattern": CURSOR_PATTERN,
               "description": f"A page's `next_cursor`: the page after it. Opaque, always {CURSOR_LENGTH} characters; "
                              "none for the first page (an empty one is refused, as any other length is)."},
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
ENTITY_TAGS = r'^(W/)?"[^"]*"( *, *(W/)?"[^"]*")*$'  # a list of entity tags (RFC 9110), but not *
IF_MATCH = {"in": "header", "type": "string", "required": True, "pattern": ENTITY_TAGS,
            "description": "The `ETag` of the message as you last saw it. The edit happens only if the message "
                           "is still at that version (412 otherwise), so no edit is ever lost."}
IF_NONE_MATCH = {"in": "header", "type": "string",
                 "description": "An `ETag` you hold: 304 without a body if the message is still at that version."}


def as_json(message: Message, with_issuer: bool = False) -> dict:
    """The message as the API shows it (built field by field: dataclasses.asdict deep-copies, at a cost
    as large as the database read); ``with_issuer`` when several issuers are trusted (see several_issuers)."""
    shown = {"id": message.id, "text": message.text, "author": message.author,
             "created_at": message.created_at.isoformat(), "updated_at": message.updated_at.isoformat(),
             "version": message.version}
    if with_issuer:
        shown["author_issuer"] = message.author_issuer
    return shown


def several_issuers() -> bool:
    """The app trusts several issuers: a message's author then needs its issuer to be named."""
    return len(current_auth_settings().issuers) > 1


def json_answer(body: dict, status: int, headers: dict[str, str]) -> Response:
    """The answer, as flask-restx would render it (JSON and a newline), made at once: the tuple form costs
    the busiest routes a Headers object more, and a second pass over them."""
    return Response(json.dumps(body) + "\n", status, headers, mimetype="application/json")


def etag(message: Message) -> str:
    return quote_etag(str(message.version))


# --- the refusals -------------------------------------------------------------------------------------

REFUSALS = {  # what the store raises -> (status, error code)
    InvalidInput: (400, "invalid_request"),
    NotAuthor: (403, "not_author"),
    NotFound: (404, "not_found"),
    VersionMismatch: (412, "precondition_failed"),
    IdempotencyKeyReused: (422, "idempotency_key_reused"),
    StorageUnavailable: (503, "temporarily_unavailable"),
}


def refusal(error: StorageError) -> Refusal:
    """The answer to what the store refused: one sentence from its description, and Retry-After for 503."""
    status, code = REFUSALS[type(error)]
    headers = {"Retry-After": str(error.retry_after)} if isinstance(error, StorageUnavailable) else None
    return Refusal(status, code, error.description[:1].upper() + error.description[1:] + ".", headers)


def no_subject() -> Refusal:
    return Refusal(403, "forbidden", "The access token has no usable subject (sub claim), so it cannot own messages.")


def precondition_required() -> Refusal:
    return Refusal(428, "precondition_required", "Send If-Match with the message's ETag (as GET, POST or PATCH "
                                                 "gave it); * or anything else is not enough to protect an edit.")


def refusing_store_errors(view):
    """The view's StorageError, raised again as its refusal. An unavailable database is logged here, in one
    line (the driver's first): no traceback per request, and no SQL in a log."""

    @functools.wraps(view)
    def refusing(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except StorageError as error:
            if isinstance(error, StorageUnavailable):
                cause = getattr(error.__cause__, "orig", None) or error.__cause__
                reason = (str(cause).strip().splitlines() or ["-"])[0][:200]
                logger.warning("storage unavailable route=%s reason=%s", json.dumps(request.path[:200]),
                               json.dumps(reason))
            raise refusal(error) from None

    return refusing


def caller() -> Owner:
    """The token's issuer and subject: the author of what it posts (its `iss` is one the app trusts)."""
    claims = current_token.claims
    try:
        return Owner(claims["iss"], check_author(claims.get("sub")))
    except InvalidInput:
        raise no_subject() from None


def single(values, name: str) -> str | None:
    """A query parameter or header given at most once (twice is ambiguous: refused, never guessed)."""
    found = values.getlist(name)
    if len(found) > 1:
        raise InvalidInput(name, f"{name} is given more than once")
    return found[0] if found else None


def page_size() -> int:
    raw = single(request.args, "limit")
    if raw is None:
        return PAGE_DEFAULT
    if not re.fullmatch(r"[0-9]{1,3}", raw) or not 1 <= int(raw) <= PAGE_MAX:
        raise InvalidInput("limit", f"limit must be an integer from 1 to {PAGE_MAX}")
    return int(raw)


def expected_version(message_id: str) -> int:
    """The version If-Match names; 0 (which no message has) when it names none of ours."""
    if not re.fullmatch(ENTITY_TAGS, request.headers.get("If-Match", "").strip()):  # absent, *, or not ETags
        raise precondition_required()
    tags = request.if_match
    versions = {int(tag) for tag in tags.as_set() if isinstance(tag, str) and re.fullmatch(r"[1-9][0-9]{0,9}", tag)}
    if len(versions) > 1:  # any of several: the current one, if named
        current = store().get(message_id).version
        return current if current in versions else 0
    return versions.pop() if versions else 0


# --- the documented examples: what the live API answers in each case (tests/routes/test_examples.py asks it) ---

EXAMPLE_AUTHOR = "alice"
_POSTED_AT = datetime(2025, 6, 1, 9, 30, 0, 125000, tzinfo=timezone.utc)
EXAMPLE = Message(id="4f9c2a7e81d34b6f9a0e5c1d2b3a4f5e", text=EXAMPLE_TEXT, author=EXAMPLE_AUTHOR,
                  author_issuer="https://login.example.com/", created_at=_POSTED_AT, updated_at=_POSTED_AT,
                  version=1)
EDITED = replace(EXAMPLE, updated_at=_POSTED_AT + timedelta(minutes=5), version=2)
EXAMPLE_URL = f"/api/messages/{EXAMPLE.id}"


def _examples(*cases: tuple[str, str, Refusal]) -> dict[str, dict]:
    return {name: failure_example(summary, error)[1] for name, summary, error in cases}


storage_down = answers(ns, 503, "The database is unavailable (down, or locked past its busy timeout); retry "
                                "after `Retry-After` seconds.", error_model,
                       _examples(("storage_unavailable", "The database is unavailable", refusal(StorageUnavailable()))))
not_found = answers(ns, 404, "No message has this id.", error_model,
                    _examples(("not_found", "No message has this id", refusal(NotFound("")))))


def refused_text(text: str) -> Refusal:
    """What the API answers to this text, as clean_text words it."""
    try:
        clean_text(text)
    except InvalidInput as error:
        return refusal(error)
    raise ValueError(f"{text!r} is a valid text")


INVISIBLE_EXAMPLE = "\u200b\u200b"  # two zero width spaces
BIDI_EXAMPLE = "Invoice for \u202egpj.exe"  # shows as "Invoice for exe.jpg"
invalid_text = _examples(("invalid_text", "The text is empty once trimmed", refused_text("   ")),
                         ("invisible_text", "The text has only invisible characters (U+200B)",
                          refused_text(INVISIBLE_EXAMPLE)),
                         ("bidi_control", "The text has a right-to-left override (U+202E)",
                          refused_text(BIDI_EXAMPLE)))
NO_SUBJECT = "A token without a usable `sub` claim gets `forbidden`"

#: From a message's answer to the next call on it: how a client (or schemathesis) follows on.
ITEM_LINKS = {
    "GetMessage": {"operationId": "get_message", "parameters": {"message_id": "$response.body#/id"},
                   "description": "Read this message."},
    "EditMessage": {"operationId": "edit_message", "description": "Edit this message, at the version just seen.",
                    "parameters": {"message_id": "$response.body#/id", "header.If-Match": "$response.header.ETag"}},
    "DeleteMessage": {"operationId": "delete_message", "parameters": {"message_id": "$response.body#/id"},
                      "description": "Delete this message."},
}


# --- the routes ----------------------------------------------------------------------------------------

@ns.route("/messages", endpoint="messages")
class Messages(Resource):
    @ns.doc("list_messages", params=LIST_PARAMETERS)
    @answers(ns, 200, "A page of messages, newest first. Messages posted while you page through never make "
                      "one repeat or skip another.", page_model,
             {SUCCESS: example("One message, on the last page", {"items": [as_json(EXAMPLE)], "next_cursor": None})})
    @answers(ns, 400, "A `limit`, `cursor`, `author` or `author_issuer` that breaks its rule (`invalid_request`).",
             error_model,
             _examples(("invalid_limit", "A limit out of range", refusal(InvalidInput(
                 "limit", f"limit must be an integer from 1 to {PAGE_MAX}"))),
                       ("invalid_cursor", "A cursor not of the form a next_cursor has", refusal(InvalidInput(
                           "cursor", CURSOR_RULE)))))
    @storage_down
    @protected(ns, READ_MESSAGES)
    @refusing_store_errors
    def get(self):
        """List messages, newest first. Needs `read:messages`."""
        args = request.args
        page = store().list(page_size(), single(args, "cursor"), single(args, "author"), single(args, "author_issuer"))
        with_issuer = several_issuers()
        return {"items": [as_json(message, with_issuer) for message in page.items], "next_cursor": page.next_cursor}

    @ns.doc("create_message", params={"Idempotency-Key": IDEMPOTENCY_KEY})
    @links(ns, 201, ITEM_LINKS)
    @answers(ns, 201, "Posted: the message, its URL in `Location` and its `ETag`. A retry with the same "
                      "`Idempotency-Key` and body, while the key is remembered, gets this same answer and creates "
                      "nothing.", message_model,
             {SUCCESS: example("The message as stored", as_json(EXAMPLE), {"ETag": etag(EXAMPLE),
                                                                            "Location": EXAMPLE_URL})})
    @answers(ns, 400, "The text or the `Idempotency-Key` breaks its rule.", error_model,
             {**invalid_text, **_examples(("invalid_idempotency_key", "An Idempotency-Key with a space",
                                           refusal(InvalidInput("Idempotency-Key", IDEMPOTENCY_KEY_RULE))))})
    @answers(ns, 403, NO_SUBJECT + ".", error_model)
    @answers(ns, 422, "This caller used this `Idempotency-Key` before, with another body.", error_model,
             _examples(("idempotency_key_reused", "The key again, with another text", refusal(IdempotencyKeyReused()))))
    @storage_down
    @protected(ns, WRITE_MESSAGES)
    @json_body(ns, text_model, "The message to post.")
    @refusing_store_errors
    def post(self, body):
        """Post a message. Needs `write:messages`; the author is the token's `sub` (of its `iss`)."""
        # A repeated header reaches a WSGI app as one value, joined by commas: headers.get sees it all.
        message, _ = store().create(caller(), body["text"], request.headers.get("Idempotency-Key"))
        location = url_for("message", message_id=message.id)
        return json_answer(as_json(message, several_issuers()), 201, {"ETag": etag(message), "Location": location})


@ns.route("/messages/<message_id>", endpoint="message")
@ns.doc(params={"message_id": MESSAGE_ID})
class MessageItem(Resource):
    @ns.doc("get_message", params={"If-None-Match": IF_NONE_MATCH})
    @links(ns, 200, {name: link for name, link in ITEM_LINKS.items() if name != "GetMessage"})
    @answers(ns, 200, "The message, with its `ETag`.", message_model,
             {SUCCESS: example("The message", as_json(EXAMPLE), {"ETag": etag(EXAMPLE)})})
    @answers(ns, 304, "`If-None-Match` names the message's current `ETag`: nothing changed. No body.", None,
             {"not_modified": example("The message has not changed", None, {"ETag": etag(EXAMPLE)})})
    @not_found
    @storage_down
    @protected(ns, READ_MESSAGES)
    @refusing_store_errors
    def get(self, message_id):
        """Read a message. Needs `read:messages`."""
        message = store().get(message_id)
        tag = etag(message)
        if "HTTP_IF_NONE_MATCH" in request.environ and request.if_none_match.contains_weak(str(message.version)):
            return Response(status=304, headers={"ETag": tag})
        return json_answer(as_json(message, several_issuers()), 200, {"ETag": tag})

    @ns.doc("edit_message", params={"If-Match": IF_MATCH})
    @links(ns, 200, ITEM_LINKS)
    @answers(ns, 200, "Edited: the message with its new text, version and `ETag`.", message_model,
             {SUCCESS: example("The message, edited once", as_json(EDITED), {"ETag": etag(EDITED)})})
    @answers(ns, 400, "The text breaks its rule.", error_model, invalid_text)
    @answers(ns, 403, f"The message is someone else's (`not_author`): another `sub`, or the same `sub` from another "
                      f"issuer. {NO_SUBJECT}.", error_model,
             _examples(("not_author", "Another user's message", refusal(NotAuthor("update")))))
    @not_found
    @answers(ns, 412, "`If-Match` is not the message's current `ETag`: someone edited it since. Read it again, "
                      "then retry with its new `ETag`.", error_model,
             _examples(("precondition_failed", "An ETag from before the last edit", refusal(VersionMismatch(2)))))
    @answers(ns, 428, "No `If-Match`, or one that names no entity tag (`*`, or not in quotes): an edit must "
                      "name the version it changes.", error_model,
             _examples(("precondition_required", "No If-Match", precondition_required())))
    @storage_down
    @protected(ns, WRITE_MESSAGES)
    @json_body(ns, text_model, "The message's new text.")
    @refusing_store_errors
    def patch(self, message_id, body):
        """Edit your message. Needs `write:messages`, being its author, and `If-Match` with its `ETag`."""
        message = store().update(message_id, body["text"], expected_version(message_id), caller())
        return as_json(message, several_issuers()), 200, {"ETag": etag(message)}

    @ns.doc("delete_message")
    @answers(ns, 204, "Deleted. No body.")
    @answers(ns, 403, "The message is someone else's and the token has no `delete:messages` (`not_author`). "
                      f"{NO_SUBJECT}.", error_model,
             _examples(("not_author", "Another user's message, without delete:messages", refusal(NotAuthor("delete")))))
    @not_found
    @storage_down
    @protected(ns, WRITE_MESSAGES, DELETE_MESSAGES)
    @refusing_store_errors
    def delete(self, message_id):
        """Delete a message. Its author may, with `write:messages`; anyone with `delete:messages` may (moderators)."""
        store().delete(message_id, caller(), may_delete_any=DELETE_MESSAGES.name in current_token.scopes)
        deleted = Response(status=204)
        del deleted.headers["Content-Type"]  # no body, so no type
        return deleted
