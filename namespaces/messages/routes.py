"""The messages routes: what each needs (its scope), reads, answers and documents. The shapes are in models,
the rules in rules, the SQL in store; what every stored resource shares is namespaces.kit's."""

from __future__ import annotations

from flask import request, url_for
from flask_restx import Namespace, Resource

from namespaces.kit import (
    LIMIT_RULE,
    caller,
    cursor,
    etag,
    expected_version,
    if_match,
    if_none_match,
    json_answer,
    json_body,
    named_examples,
    no_content,
    not_found,
    not_modified,
    page_size,
    precondition_required,
    refusal,
    refusing_store_errors,
    several_issuers,
    single,
    storage_down,
    uses_store,
)
from refusals import Refusal
from security import current_token, require_auth
from security.errors import DelegationRefused
from security.step_up import EXAMPLE_STEP_UP
from storage import CURSOR_RULE, IdempotencyKeyReused, InvalidInput, NotAuthor, VersionMismatch
from swagger import SUCCESS, Case, Scope, answers, error_model, example, links, protected

from ..private import READ_MESSAGES
from .models import (
    EDITED,
    EXAMPLE,
    EXAMPLE_URL,
    IDEMPOTENCY_KEY,
    LIST_PARAMETERS,
    MESSAGE_ID,
    as_json,
    message_model,
    message_page_model,
    text_model,
)
from .rules import IDEMPOTENCY_KEY_RULE, clean_text, not_author
from .store import WHAT, MessageStore

ns = Namespace("messages", description="Messages stored by the API: anyone with `read:messages` reads them; "
                                       "writers post and change their own; moderators delete any.")

WRITE_MESSAGES = Scope("write:messages", "Post messages, and edit or delete your own (POST /api/messages, "
                                         "PATCH and DELETE /api/messages/{message_id}).")
DELETE_MESSAGES = Scope("delete:messages", "Delete anyone's message, as a moderator "
                                           "(DELETE /api/messages/{message_id}).")

store = uses_store(ns, MessageStore)


# --- the documented refusals: built by the same code that answers them ----------------------------------

def refused_text(text: str) -> Refusal:
    """What the API answers to this text, as clean_text words it."""
    try:
        clean_text(text)
    except InvalidInput as error:
        return refusal(error)
    raise ValueError(f"{text!r} is a valid text")


INVISIBLE_EXAMPLE = "\u200b\u200b"  # two zero width spaces
BIDI_EXAMPLE = "Invoice for \u202egpj.exe"  # shows as "Invoice for exe.jpg"
invalid_text = named_examples(("invalid_text", "The text is empty once trimmed", refused_text("   ")),
                              ("invisible_text", "The text has only invisible characters (U+200B)",
                               refused_text(INVISIBLE_EXAMPLE)),
                              ("bidi_control", "The text has a right-to-left override (U+202E)",
                               refused_text(BIDI_EXAMPLE)))
NO_SUBJECT = "A token without a usable `sub` claim gets `forbidden`"
no_message = not_found(ns, WHAT)

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
                      "one repeat or skip another.", message_page_model,
             {SUCCESS: example("One message, on the last page", {"items": [as_json(EXAMPLE)], "next_cursor": None})})
    @answers(ns, 400, "A `limit`, `cursor`, `author` or `author_issuer` that breaks its rule (`invalid_request`).",
             error_model,
             named_examples(("invalid_limit", "A limit out of range", refusal(InvalidInput("limit", LIMIT_RULE))),
                            ("invalid_cursor", "A cursor not of the form a next_cursor has",
                             refusal(InvalidInput("cursor", CURSOR_RULE)))))
    @storage_down(ns)
    @protected(ns, READ_MESSAGES)
    @refusing_store_errors
    def get(self):
        """List messages, newest first. Needs `read:messages`."""
        args = request.args
        page = store().list(page_size(), cursor(), single(args, "author"), single(args, "author_issuer"))
        with_issuer = several_issuers()
        return {"items": [as_json(message, with_issuer) for message in page.items], "next_cursor": page.next_cursor}

    @ns.doc("create_message", params={"Idempotency-Key": IDEMPOTENCY_KEY})
    @links(ns, 201, ITEM_LINKS)
    @answers(ns, 201, "Posted: the message, its URL in `Location` and its `ETag`. A retry with the same "
                      "`Idempotency-Key` and body, while the key is remembered, gets this same answer and creates "
                      "nothing.", message_model,
             {SUCCESS: example("The message as stored", as_json(EXAMPLE), {"ETag": etag(EXAMPLE.version),
                                                                            "Location": EXAMPLE_URL})})
    @answers(ns, 400, "The text or the `Idempotency-Key` breaks its rule.", error_model,
             {**invalid_text, **named_examples(("invalid_idempotency_key", "An Idempotency-Key with a space",
                                                refusal(InvalidInput("Idempotency-Key", IDEMPOTENCY_KEY_RULE))))})
    @answers(ns, 403, NO_SUBJECT + ".", error_model)
    @answers(ns, 422, "This caller used this `Idempotency-Key` before, with another body.", error_model,
             named_examples(("idempotency_key_reused", "The key again, with another text",
                             refusal(IdempotencyKeyReused()))))
    @storage_down(ns)
    @protected(ns, WRITE_MESSAGES)
    @json_body(ns, text_model, "The message to post.")
    @refusing_store_errors
    def post(self, body):
        """Post a message. Needs `write:messages`; the author is the token's `sub` (of its `iss`), and a delegated
        token's current actor (`act.sub`) is recorded as `actor`."""
        # A repeated header reaches a WSGI app as one value, joined by commas: headers.get sees it all.
        message, _ = store().create(caller("messages"), body["text"], request.headers.get("Idempotency-Key"),
                                    actor=current_token.actor)
        location = url_for("message", message_id=message.id)
        return json_answer(as_json(message, several_issuers()), 201,
                           {"ETag": etag(message.version), "Location": location})


@ns.route("/messages/<message_id>", endpoint="message")
@ns.doc(params={"message_id": MESSAGE_ID})
class MessageItem(Resource):
    @ns.doc("get_message", params={"If-None-Match": if_none_match(WHAT)})
    @links(ns, 200, {name: link for name, link in ITEM_LINKS.items() if name != "GetMessage"})
    @answers(ns, 200, "The message, with its `ETag`.", message_model,
             {SUCCESS: example("The message", as_json(EXAMPLE), {"ETag": etag(EXAMPLE.version)})})
    @answers(ns, 304, "`If-None-Match` names the message's current `ETag`: nothing changed. No body.", None,
             {"not_modified": example("The message has not changed", None, {"ETag": etag(EXAMPLE.version)})})
    @no_message
    @storage_down(ns)
    @protected(ns, READ_MESSAGES)
    @refusing_store_errors
    def get(self, message_id):
        """Read a message. Needs `read:messages`."""
        message = store().get(message_id)
        return not_modified(message.version) or json_answer(as_json(message, several_issuers()), 200,
                                                            {"ETag": etag(message.version)})

    @ns.doc("edit_message", params={"If-Match": if_match(WHAT)})
    @links(ns, 200, ITEM_LINKS)
    @answers(ns, 200, "Edited: the message with its new text, version and `ETag`.", message_model,
             {SUCCESS: example("The message, edited once", as_json(EDITED), {"ETag": etag(EDITED.version)})})
    @answers(ns, 400, "The text breaks its rule.", error_model, invalid_text)
    @answers(ns, 403, f"The message is someone else's (`not_author`): another `sub`, or the same `sub` from another "
                      f"issuer. {NO_SUBJECT}.", error_model,
             named_examples(("not_author", "Another user's message", refusal(not_author("update")))))
    @no_message
    @answers(ns, 412, "`If-Match` is not the message's current `ETag`: someone edited it since. Read it again, "
                      "then retry with its new `ETag`.", error_model,
             named_examples(("precondition_failed", "An ETag from before the last edit",
                             refusal(VersionMismatch(2, WHAT)))))
    @answers(ns, 428, "No `If-Match`, or one that names no entity tag (`*`, or not in quotes): an edit must "
                      "name the version it changes.", error_model,
             named_examples(("precondition_required", "No If-Match", precondition_required(WHAT))))
    @storage_down(ns)
    @protected(ns, WRITE_MESSAGES)
    @json_body(ns, text_model, "The message's new text.")
    @refusing_store_errors
    def patch(self, message_id, body):
        """Edit your message. Needs `write:messages`, being its author, and `If-Match` with its `ETag`."""
        version = expected_version(WHAT, lambda: store().get(message_id).version)
        message = store().update(message_id, body["text"], version, caller("messages"))
        return as_json(message, several_issuers()), 200, {"ETag": etag(message.version)}

    @ns.doc("delete_message")
    @answers(ns, 204, "Deleted. No body.")
    @answers(ns, 401, "With step-up on (`AUTH_STEP_UP_ACR`, `AUTH_STEP_UP_MAX_AGE`), a moderator deleting someone "
                      "else's message whose login is not strong or recent enough: "
                      "`insufficient_user_authentication` (RFC 9470), the challenge's `acr_values` and `max_age` "
                      "saying what a new login needs (the example: multi-factor, within 300 seconds).", error_model,
             {"insufficient_user_authentication": Case("A moderator's login without multi-factor (step-up on)",
                                                       EXAMPLE_STEP_UP.failure())})
    @answers(ns, 403, "The message is someone else's and the token has no `delete:messages` (`not_author`). "
                      "A moderator's token that is delegated (an `act` claim: an agent acting for the moderator): "
                      f"`delegation_refused`, a moderator deletes in person. {NO_SUBJECT}.", error_model,
             named_examples(("not_author", "Another user's message, without delete:messages",
                             refusal(not_author("delete"))),
                            ("delegation_refused", "A moderator's agent (a token with act)",
                             DelegationRefused().refusal())))
    @no_message
    @storage_down(ns)
    @protected(ns, WRITE_MESSAGES, DELETE_MESSAGES)
    @refusing_store_errors
    def delete(self, message_id):
        """Delete a message. Its author may, with `write:messages`; anyone with `delete:messages` may (moderators),
        in person (not with a delegated token), after a strong and recent enough login when step-up is on."""
        me = caller("messages")
        try:
            store().delete(message_id, me)  # its author's, as any author may
        except NotAuthor:
            if DELETE_MESSAGES.name not in current_token.scopes:
                raise
            require_auth.in_person()  # a moderator's power over someone else's message: never an agent's,
            require_auth.step_up()  # and after a strong and recent enough login when step-up is on
            store().delete(message_id, me, may_delete_any=True)
        return no_content()
