"""The messages collection, stored in the database: read with read:messages, post and change your own with
write:messages, delete anyone's with delete:messages (moderators).

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

One folder holds the resource, the model for another (docs/stored-resources.md): ``routes`` (the namespace,
its scopes and routes), ``models`` (the documented shapes), ``rules`` (what a message may hold), ``store``
(its SQL, on storage.Store) and ``table`` (its tables; the migrations are in storage/migrations/versions/).
"""

from namespaces.kit import store_key
from security import Owner

from .models import EXAMPLE, EXAMPLE_AUTHOR, EXAMPLE_TEXT, as_json
from .routes import BIDI_EXAMPLE, DELETE_MESSAGES, INVISIBLE_EXAMPLE, WRITE_MESSAGES, ns
from .rules import (
    AUTHOR_PATTERN,
    BIDI_CONTROLS,
    IDEMPOTENCY_KEY_MAX_CHARS,
    IDEMPOTENCY_KEY_PATTERN,
    IDEMPOTENCY_KEY_RULE,
    INVISIBLE,
    SPACE,
    TEXT_MAX_CHARS,
    TEXT_PATTERN,
    TEXT_RULE,
    check_author,
    check_idempotency_key,
    clean_text,
    not_author,
)
from .store import EXPIRED_KEYS_PER_CREATE, SWEEP_EXPIRED_KEYS, Message, MessageStore
from .table import idempotency_keys, messages

#: Where the app keeps its MessageStore (``app.extensions``).
STORE = store_key(ns)

__all__ = [
    "AUTHOR_PATTERN", "BIDI_CONTROLS", "BIDI_EXAMPLE", "DELETE_MESSAGES", "EXAMPLE", "EXAMPLE_AUTHOR", "EXAMPLE_TEXT",
    "EXPIRED_KEYS_PER_CREATE", "IDEMPOTENCY_KEY_MAX_CHARS", "IDEMPOTENCY_KEY_PATTERN", "IDEMPOTENCY_KEY_RULE",
    "INVISIBLE", "INVISIBLE_EXAMPLE", "SPACE", "STORE", "SWEEP_EXPIRED_KEYS", "TEXT_MAX_CHARS", "TEXT_PATTERN",
    "TEXT_RULE", "WRITE_MESSAGES",
    "Message", "MessageStore", "Owner", "as_json", "check_author", "check_idempotency_key", "clean_text",
    "idempotency_keys", "messages", "not_author", "ns",
]
