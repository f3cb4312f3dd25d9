"""JSON request bodies no parser can take safely are a 400 ``invalid_request``, never a 500 or a guess."""

from __future__ import annotations

from flask.json.provider import DefaultJSONProvider
from flask.wrappers import Request

from refusals import Refusal


def invalid_json(description: str) -> Refusal:
    """A JSON body refused as a whole."""
    return Refusal(400, "invalid_request", description)


class RepeatedName(Exception):
    """Not a ValueError on purpose: ``get_json(silent=True)`` swallows those, and this must reach the client."""


def _object_of_unique_names(pairs: list[tuple[str, object]]) -> dict:
    """Parsers disagree on which of two same-named members wins (RFC 8259 §4): refuse the object instead."""
    seen = set()
    for name, _ in pairs:
        if name in seen:
            raise RepeatedName(f"The JSON body names {name[:64]!r} more than once.")
        seen.add(name)
    return dict(pairs)


class ApiJSONProvider(DefaultJSONProvider):
    """Flask's JSON, except that ``loads`` raises RepeatedName for an object that repeats a member name."""

    def loads(self, s, **kwargs):
        kwargs.setdefault("object_pairs_hook", _object_of_unique_names)
        return super().loads(s, **kwargs)


class ApiRequest(Request):
    """Flask's request, whose ``get_json`` (every JSON read in the app, silent or not) raises ``invalid_json``
    for a body nested too deeply for the parser (a RecursionError) or repeating a member name."""

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True):
        try:
            return super().get_json(force=force, silent=silent, cache=cache)
        except RecursionError:
            raise invalid_json("The JSON body is nested too deeply.") from None
        except RepeatedName as error:
            raise invalid_json(str(error)) from None
