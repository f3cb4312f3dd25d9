"""The rules every store shares: page sizes, cursors and the subjects that own items. One place for stores,
routes and docs.

A store applies them itself (nothing invalid is ever written); routes may call them earlier to refuse a
request before touching the database, and document the constants below.
"""

from __future__ import annotations

from .errors import InvalidInput

PAGE_DEFAULT = 20
PAGE_MAX = 100
CURSOR_LENGTH = 32  # a page's next_cursor: base64url of 24 bytes (see paging.encode_cursor)

CURSOR_RULE = f"cursor must be a page's next_cursor: {CURSOR_LENGTH} characters from A-Z, a-z, 0-9, - and _"
CURSOR_PATTERN = f"^[A-Za-z0-9_-]{{{CURSOR_LENGTH}}}$"
SUBJECT_PATTERN = r"^[^\x00]+$"  # check_subject's rule, for a subject in a query (where no lone surrogate can come)


def check_subject(value: object, field: str) -> str:
    """A token's ``sub`` or ``iss`` as a store keeps it: any non-empty text a database can hold."""
    if not isinstance(value, str) or not value or "\x00" in value or not _is_utf8(value):
        raise InvalidInput(field, f"{field} must be a non-empty string without NUL or lone surrogates")
    return value


def check_page_size(limit: object) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= PAGE_MAX:
        raise InvalidInput("limit", f"limit must be an integer from 1 to {PAGE_MAX}")
    return limit


def _is_utf8(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
