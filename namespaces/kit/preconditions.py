"""Entity tags: an item's ETag is its version in quotes. A read answers 304 to the ETag the client holds
(If-None-Match); an edit names the version it changes (If-Match), so no edit is ever lost: 428 without
one, 412 (the store's VersionMismatch) when it is no longer current."""

from __future__ import annotations

import re
from typing import Callable

from flask import Response, request
from werkzeug.http import quote_etag

from refusals import Refusal

ENTITY_TAGS = r'^(W/)?"[^"]*"( *, *(W/)?"[^"]*")*$'  # a list of entity tags (RFC 9110), but not *


def etag(version: int) -> str:
    return quote_etag(str(version))


def precondition_required(what: str) -> Refusal:
    return Refusal(428, "precondition_required", f"If-Match is missing or is not an entity tag: send the {what}'s "
                                                 'ETag with its quotes ("1", not 1) as GET, POST or PATCH gave it; * '
                                                 "is not enough to protect an edit.")


def expected_version(what: str, current: Callable[[], int]) -> int:
    """The version If-Match names; 0 (which no item has) when it names none of ours. ``current()`` reads the
    item's version, needed only when If-Match lists several."""
    if not re.fullmatch(ENTITY_TAGS, request.headers.get("If-Match", "").strip()):  # absent, *, or not ETags
        raise precondition_required(what)
    tags = request.if_match
    versions = {int(tag) for tag in tags.as_set() if isinstance(tag, str) and re.fullmatch(r"[1-9][0-9]{0,9}", tag)}
    if len(versions) > 1:  # any of several: the current one, if named
        version = current()
        return version if version in versions else 0
    return versions.pop() if versions else 0


def not_modified(version: int) -> Response | None:
    """304 with the ETag when If-None-Match names this version; None otherwise."""
    if "HTTP_IF_NONE_MATCH" in request.environ and request.if_none_match.contains_weak(str(version)):
        return Response(status=304, headers={"ETag": etag(version)})
    return None


def if_match(what: str) -> dict:
    """The documented If-Match header of an edit of a ``what``."""
    return {"in": "header", "type": "string", "required": True, "pattern": ENTITY_TAGS, "x-example": '"1"',
            "description": f"The `ETag` of the {what} as you last saw it. The edit happens only if the {what} "
                           "is still at that version (412 otherwise), so no edit is ever lost."}


def if_none_match(what: str) -> dict:
    """The documented If-None-Match header of a read of a ``what``."""
    return {"in": "header", "type": "string",
            "description": f"An `ETag` you hold: 304 without a body if the {what} is still at that version."}
