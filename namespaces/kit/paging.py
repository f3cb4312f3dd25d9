"""Cursor paging for a list route: its ``limit`` and ``cursor`` parameters, read and documented, and the page's
model. The store pages with storage.paging."""

from __future__ import annotations

import re

from flask import request
from flask_restx import SchemaModel

from storage import CURSOR_LENGTH, CURSOR_PATTERN, PAGE_DEFAULT, PAGE_MAX, InvalidInput

from .params import single

LIMIT_RULE = f"limit must be an integer from 1 to {PAGE_MAX}"


def page_size() -> int:
    """The request's ``limit``: PAGE_DEFAULT when absent, InvalidInput when not a whole number in range."""
    raw = single(request.args, "limit")
    if raw is None:
        return PAGE_DEFAULT
    if not re.fullmatch(r"[0-9]{1,3}", raw) or not 1 <= int(raw) <= PAGE_MAX:
        raise InvalidInput("limit", LIMIT_RULE)
    return int(raw)


def cursor() -> str | None:
    """The request's ``cursor``, as sent (the store checks it)."""
    return single(request.args, "cursor")


def paging_parameters(things: str) -> dict[str, dict]:
    """The documented ``limit`` and ``cursor`` of a list of ``things`` (plural: "messages")."""
    return {
        "limit": {"in": "query", "type": "integer", "minimum": 1, "maximum": PAGE_MAX, "default": PAGE_DEFAULT,
                  "description": f"How many {things}, at most, on this page."},
        "cursor": {"in": "query", "type": "string", "minLength": CURSOR_LENGTH, "maxLength": CURSOR_LENGTH,
                   "pattern": CURSOR_PATTERN,
                   "description": f"A page's `next_cursor`: the page after it. Opaque, always {CURSOR_LENGTH} "
                                  "characters; none for the first page (an empty one is refused, as any other "
                                  "length is)."},
    }


def page_model(item_model: SchemaModel) -> SchemaModel:
    """``<Item>Page``: a page of ``item_model``, newest first, and the cursor of the next one."""
    return SchemaModel(f"{item_model.name}Page", {
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {
            "items": {"type": "array", "maxItems": PAGE_MAX, "items": {"$ref": f"#/definitions/{item_model.name}"},
                      "description": "Newest first."},
            "next_cursor": {"type": "string", "x-nullable": True, "pattern": CURSOR_PATTERN,
                            "description": "Pass it as `cursor` for the next page; null on the last page."},
        },
    })
