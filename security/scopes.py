"""The ``scope`` grammar of RFC 6749 §3.3, in one place: scope-tokens separated by the ASCII space.

``scope = scope-token *( SP scope-token )`` and ``scope-token = 1*NQCHAR``: only the space (U+0020)
separates. A tab, a line feed, a no-break space (U+00A0), an ideographic space (U+3000)... belong to
the token they sit in, so ``"read:messages\\u00a0delete:messages"`` is one scope, which names none of
ours (``str.split()`` would have granted both). Empty tokens, from two spaces in a row or a space at
either end, name nothing and are ignored.
"""

from __future__ import annotations

import re

SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5B\x5D-\x7E]+")  # 1*NQCHAR: printable ASCII but space, '"' and '\'


def scope_tokens(scope: str) -> list[str]:
    """The scope-tokens of a space-delimited ``scope`` value, in order."""
    return [token for token in scope.split(" ") if token]


def check_scope_names(names) -> None:
    """Raise ValueError for a name no ``scope`` value can grant (not a scope-token): a route needing it
    could never be opened."""
    unusable = [name for name in names if not SCOPE_TOKEN.fullmatch(name)]
    if unusable:
        raise ValueError(f"not a scope (RFC 6749 §3.3: printable ASCII, no space, quote or backslash): {unusable!r}")
