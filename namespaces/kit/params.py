"""Query parameters and headers, each given at most once."""

from __future__ import annotations

from storage import InvalidInput


def single(values, name: str) -> str | None:
    """A query parameter or header given at most once (twice is ambiguous: refused, never guessed)."""
    found = values.getlist(name)
    if len(found) > 1:
        raise InvalidInput(name, f"{name} is given more than once")
    return found[0] if found else None
