"""Pages, newest first, in the total order (created_at, id), with a cursor that names the last item seen:
rows inserted meanwhile cannot shift a page, so nothing is repeated or skipped.

A table pages this way when it has ``created_at`` (UTCDateTime) and ``id`` (storage.rows' ids) columns, and
an index on them that keeps the order (one per filter a list takes).
"""

from __future__ import annotations

import base64
import re
from datetime import datetime, timedelta, timezone
from typing import Callable, Generic, NamedTuple, Protocol, Sequence, TypeVar

from sqlalchemy import Select, Table, and_, or_, select

from .errors import InvalidInput
from .rules import CURSOR_PATTERN, CURSOR_RULE, check_page_size

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_LAST_MICROS = (datetime.max.replace(tzinfo=timezone.utc) - EPOCH) // timedelta(microseconds=1)


class Paged(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def created_at(self) -> datetime: ...


Item = TypeVar("Item", bound=Paged)


class Page(NamedTuple, Generic[Item]):
    items: list[Item]
    next_cursor: str | None  # None on the last page


def newest_first(table: Table, limit: int, cursor: str | None) -> Select:
    """Up to ``limit`` + 1 rows of ``table`` (the one more tells whether a next page exists), newest first, after
    ``cursor`` (a page's next_cursor); add filters with ``.where``. InvalidInput for a bad limit or cursor."""
    limit = check_page_size(limit)
    query = select(table).order_by(table.c.created_at.desc(), table.c.id.desc()).limit(limit + 1)
    if cursor is not None:
        created_at, last_id = decode_cursor(cursor)
        query = query.where(or_(table.c.created_at < created_at,
                                and_(table.c.created_at == created_at, table.c.id < last_id)))
    return query


def page_of(rows: Sequence, limit: int, item: Callable[..., Item]) -> Page[Item]:
    """The page of what ``newest_first`` read: ``item(row)`` for each of the first ``limit`` rows, and the
    cursor after the last when there are more."""
    items = [item(row) for row in rows[:limit]]
    return Page(items, encode_cursor(items[-1]) if len(rows) > limit else None)


def encode_cursor(last: Paged) -> str:
    """The position after ``last``: its creation time (microseconds since 1970, 8 bytes) and id (16 bytes),
    in base64url: always CURSOR_LENGTH characters, and every string of that form names some position."""
    micros = (last.created_at - EPOCH) // timedelta(microseconds=1)
    return base64.urlsafe_b64encode(micros.to_bytes(8, "big") + bytes.fromhex(last.id)).decode()


def decode_cursor(cursor: object) -> tuple[datetime, str]:
    """(created_at, id) of the last item of the previous page, or InvalidInput. A time past the last one a
    datetime holds is that last one: the page then starts at the newest item."""
    if not isinstance(cursor, str) or not re.fullmatch(CURSOR_PATTERN, cursor):
        raise InvalidInput("cursor", CURSOR_RULE)
    raw = base64.urlsafe_b64decode(cursor)
    return EPOCH + timedelta(microseconds=min(int.from_bytes(raw[:8], "big"), _LAST_MICROS)), raw[8:].hex()
