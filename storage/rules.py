"""The rules for a message's text, its author, page sizes and idempotency keys: one place for routes and docs.

The store applies them itself (nothing invalid is ever written); routes may call them earlier to
refuse a request before touching the database, and document the constants below.
"""

from __future__ import annotations

import unicodedata

from .errors import InvalidInput

TEXT_MAX_CHARS = 500  # characters (code points) after trimming
PAGE_DEFAULT = 20
PAGE_MAX = 100
IDEMPOTENCY_KEY_MAX_CHARS = 255

TEXT_RULE = (f"text must be 1 to {TEXT_MAX_CHARS} characters after trimming surrounding white space, "
             "with no control characters except newline")
IDEMPOTENCY_KEY_RULE = f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX_CHARS} visible ASCII characters"

# TEXT_RULE as a regular expression (for JSON Schema's `pattern`, which validators and generators read):
# optional white space (what str.strip() removes), then 1 to TEXT_MAX_CHARS characters that start and end
# with a visible one and hold no control character but newline, then optional white space.
_SPACE = r"[\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
_VISIBLE = r"[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
_NOT_CONTROL = r"[^\x00-\x09\x0b-\x1f\x7f-\x9f]"
TEXT_PATTERN = f"^{_SPACE}*{_VISIBLE}(?:{_NOT_CONTROL}{{0,{TEXT_MAX_CHARS - 2}}}{_VISIBLE})?{_SPACE}*$"
IDEMPOTENCY_KEY_PATTERN = f"^[!-~]{{1,{IDEMPOTENCY_KEY_MAX_CHARS}}}$"


def clean_text(text: object) -> str:
    """The text as stored (trimmed), or InvalidInput saying which rule it breaks."""
    if not isinstance(text, str):
        raise InvalidInput("text", "text must be a string")
    trimmed = text.strip()
    if not trimmed:
        raise InvalidInput("text", "text must not be empty or only white space")
    if len(trimmed) > TEXT_MAX_CHARS:
        raise InvalidInput("text", f"text must be at most {TEXT_MAX_CHARS} characters (it has {len(trimmed)})")
    for char in trimmed:
        category = unicodedata.category(char)
        if category == "Cc" and char != "\n":
            raise InvalidInput("text", f"text must not contain control characters (found U+{ord(char):04X})")
        if category == "Cs":  # a lone surrogate from a JSON \ud800 escape: not encodable, not text
            raise InvalidInput("text", f"text must not contain lone surrogates (found U+{ord(char):04X})")
    return trimmed


def check_author(value: object, field: str = "author") -> str:
    """A token's ``sub`` as the store keeps it: any non-empty text a database can hold."""
    if not isinstance(value, str) or not value or "\x00" in value or not _is_utf8(value):
        raise InvalidInput(field, f"{field} must be a non-empty string without NUL or lone surrogates")
    return value


def check_page_size(limit: object) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= PAGE_MAX:
        raise InvalidInput("limit", f"limit must be an integer from 1 to {PAGE_MAX}")
    return limit


def check_idempotency_key(key: object) -> str:
    if (not isinstance(key, str) or not 1 <= len(key) <= IDEMPOTENCY_KEY_MAX_CHARS
            or not all("\x21" <= char <= "\x7e" for char in key)):
        raise InvalidInput("Idempotency-Key", IDEMPOTENCY_KEY_RULE)
    return key


def _is_utf8(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
