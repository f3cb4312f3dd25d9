"""The rules for a message's text, its author and idempotency keys, and what the store says when a message is
someone else's: one place for the store, the routes and the docs.

The store applies them itself (nothing invalid is ever written); routes may call them earlier to
refuse a request before touching the database, and document the constants below. The rules every
store shares (page sizes, cursors) are storage.rules'.
"""

from __future__ import annotations

import re

from storage import SUBJECT_PATTERN, InvalidInput, NotAuthor, check_subject

TEXT_MAX_CHARS = 500  # characters (code points) after trimming
IDEMPOTENCY_KEY_MAX_CHARS = 255

# --- what a reader sees: one table of code point ranges (inclusive) for the check and the pattern ---

Ranges = tuple[tuple[int, int], ...]

#: White space, trimmed from both ends (what str.strip() removes, written out: the rule does not move with
#: the Unicode version of the Python that runs it).
SPACE: Ranges = ((0x09, 0x0D), (0x1C, 0x20), (0x85, 0x85), (0xA0, 0xA0), (0x1680, 0x1680), (0x2000, 0x200A),
                 (0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000))
#: Control characters (Cc) but newline: refused anywhere in the trimmed text.
CONTROLS: Ranges = ((0x00, 0x09), (0x0B, 0x1F), (0x7F, 0x9F))
#: The bidi embedding, override and isolate controls: refused anywhere, as they can make a text read as
#: something else than it says. The marks (U+200E, U+200F, U+061C) only nudge neutral characters: allowed.
BIDI_CONTROLS: Ranges = ((0x202A, 0x202E), (0x2066, 0x2069))
#: Characters that show nothing on their own: Unicode's default-ignorable code points (format characters
#: such as U+200B and U+FEFF, variation selectors, the combining grapheme joiner, the Hangul fillers, tags),
#: the other format characters (Cf) but the prepended concatenation marks (U+0600-U+0605, U+06DD, U+070F,
#: U+0890-U+0891, U+08E2, U+110BD, U+110CD, which are drawn), and the braille blank U+2800.
#: A lone combining mark is drawn (on a dotted circle), so it counts as visible.
INVISIBLE: Ranges = ((0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5),
                     (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x2800, 0x2800),
                     (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFFB),
                     (0x13430, 0x1343F), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF))
SURROGATES: Ranges = ((0xD800, 0xDFFF),)  # a JSON \ud800 escape alone: not encodable, not text

TEXT_RULE = (f"text must be 1 to {TEXT_MAX_CHARS} characters after trimming surrounding white space, with at "
             "least one visible character (white space and invisible characters alone, such as U+200B, U+FEFF, "
             "variation selectors, Hangul fillers or U+2800, show nothing), and no control characters except "
             "newline nor bidi embedding, override or isolate controls (U+202A to U+202E, U+2066 to U+2069)")
IDEMPOTENCY_KEY_RULE = f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX_CHARS} visible ASCII characters"


def _python_class(ranges: Ranges, negated: bool = False) -> str:
    """A character class for Python's own checks (characters beyond U+FFFF in ranges too)."""
    return "[" + "^" * negated + "".join(re.escape(chr(a)) + f"-{re.escape(chr(b))}" * (b > a) for a, b in ranges) + "]"


_SPACE_CHARS = "".join(chr(code) for first, last in SPACE for code in range(first, last + 1))
_REFUSED = tuple((re.compile(_python_class(ranges)), kind) for ranges, kind in (
    (CONTROLS, "control characters"), (SURROGATES, "lone surrogates"),
    (BIDI_CONTROLS, "bidi embedding, override or isolate controls")))
_VISIBLE = re.compile(_python_class(SPACE + CONTROLS + BIDI_CONTROLS + INVISIBLE + SURROGATES, negated=True))


def clean_text(text: object) -> str:
    """The text as stored (trimmed), or InvalidInput saying which rule it breaks."""
    if not isinstance(text, str):
        raise InvalidInput("text", "text must be a string")
    trimmed = text.strip(_SPACE_CHARS)
    if not trimmed:
        raise InvalidInput("text", "text must not be empty or only white space")
    if len(trimmed) > TEXT_MAX_CHARS:
        raise InvalidInput("text", f"text must be at most {TEXT_MAX_CHARS} characters (it has {len(trimmed)})")
    for refused, kind in _REFUSED:
        if found := refused.search(trimmed):
            raise InvalidInput("text", f"text must not contain {kind} (found U+{ord(found.group()):04X})")
    if not _VISIBLE.search(trimmed):
        raise InvalidInput("text", "text must have at least one visible character: white space and invisible "
                                   f"characters alone show nothing (found U+{ord(trimmed[0]):04X})")
    return trimmed


# --- the same rule as a JSON Schema `pattern` -------------------------------------------------------------
# An ECMA-262 regular expression, read as code points as JSON Schema asks (the u flag): so do Python (which
# schemathesis draws texts with) and the Rust engine of jsonschema-rs, and all three agree with clean_text.
# It also compiles without the u flag, which reads UTF-16 code units: there a character beyond U+FFFF is two
# of them, so it counts twice towards the length and always as visible. No escape names a character beyond
# U+FFFF in every dialect, so those ranges are written with the characters themselves, each as "up to the
# last, but not up to the one before the first": one character per bound, which every dialect compiles.

def _merged(ranges: Ranges) -> Ranges:
    merged: list[tuple[int, int]] = []
    for first, last in sorted(ranges):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(last, merged[-1][1]))
        else:
            merged.append((first, last))
    return tuple(merged)


def _escape(code: int) -> str:
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def _bmp_class(ranges: Ranges, negated: bool = False) -> str:
    return ("[" + "^" * negated + "".join(_escape(first) + f"-{_escape(last)}" * (last > first)
                                          for first, last in _merged(ranges) if last <= 0xFFFF) + "]")


def _beyond_bmp(ranges: Ranges) -> str:
    return "|".join(f"(?![\\x00-{chr(first - 1)}])[\\x00-{chr(last)}]" for first, last in ranges if first > 0xFFFF)


def _text_pattern() -> str:
    space = _bmp_class(SPACE)
    allowed = _bmp_class(CONTROLS + BIDI_CONTROLS, negated=True)  # anywhere in the trimmed text
    edge = _bmp_class(SPACE + CONTROLS + BIDI_CONTROLS, negated=True)  # its first and last character
    visible = f"(?!{_beyond_bmp(INVISIBLE)})" + _bmp_class(SPACE + CONTROLS + BIDI_CONTROLS + INVISIBLE, negated=True)
    middle = f"{allowed}{{0,{TEXT_MAX_CHARS - 2}}}"
    # the trimmed text starts with a visible character, or with another one and has a visible one after it
    return f"^{space}*(?:{visible}(?:{middle}{edge})?|{edge}(?={allowed}*?{visible}){middle}{edge}){space}*$"


TEXT_PATTERN = _text_pattern()
IDEMPOTENCY_KEY_PATTERN = f"^[!-~]{{1,{IDEMPOTENCY_KEY_MAX_CHARS}}}$"
AUTHOR_PATTERN = SUBJECT_PATTERN  # check_author's rule, for an author in a query


def check_author(value: object, field: str = "author") -> str:
    """A token's ``sub`` (or ``iss``) as the store keeps it: see storage.rules.check_subject."""
    return check_subject(value, field)


def check_idempotency_key(key: object) -> str:
    if (not isinstance(key, str) or not 1 <= len(key) <= IDEMPOTENCY_KEY_MAX_CHARS
            or not all("\x21" <= char <= "\x7e" for char in key)):
        raise InvalidInput("Idempotency-Key", IDEMPOTENCY_KEY_RULE)
    return key


#: Who may do what to a message that is someone else's, as NotAuthor says it.
WHO_MAY = {
    "update": "only the message's author may edit it",
    "delete": "only the message's author, or a moderator, may delete it",
}


def not_author(action: str) -> NotAuthor:
    """The refusal of an ``update`` or ``delete`` of someone else's message."""
    return NotAuthor(WHO_MAY[action])
