"""The two sides of the DPoP ``htu`` comparison (RFC 9449 §4.3), normalised alike.

Both the proof's claim and the request URL go through RFC 3986's syntax-based (§6.2.2) and
scheme-based (§6.2.3) normalisation before they are compared, as the RFC advises: scheme and host
lower-cased, the default port dropped, an empty path made "/", percent-encodings of unreserved
characters decoded and the others upper-cased, dot segments removed. Non-ASCII path characters are
percent-encoded as UTF-8, as browsers and express-oauth2-jwt-bearer's URL parser do.

Anything that is not a plain absolute http(s) URL is refused rather than repaired: userinfo (RFC 9110
§4.2.4), a host that is not ASCII (no IDNA, no look-alike characters), whitespace, control characters,
backslashes and malformed percent-encodings. Results are memoised: a client sends the same few URLs.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from urllib.parse import quote

DEFAULT_PORTS = {"http": 80, "https": 443}
# Auth0's host rule: an RFC 3986 reg-name of unreserved characters, or a bracketed IPv6 literal.
AUTHORITY = re.compile(r"(?P<host>[a-z0-9._~-]+|\[(?P<ipv6>[0-9a-f:.]+)\])(?::(?P<port>[0-9]{0,5}))?")
# RFC 3986 path characters: pchar and "/", with well-formed percent-encodings only.
PATH = re.compile(r"(?:[A-Za-z0-9._~!$&'()*+,;=:@/-]|%[0-9A-Fa-f]{2})*")
PERCENT_ENCODED = re.compile(r"%([0-9A-Fa-f]{2})")
UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
CACHE_SIZE = 1024


class NotAnHttpUrl(ValueError):
    """The text is not an absolute http(s) URL this module can compare."""


@lru_cache(maxsize=CACHE_SIZE)
def normalize_htu(htu: str) -> str:
    """The proof's ``htu`` claim, normalised; a query or fragment is refused (RFC 9449 §4.2 leaves them out)."""
    if "?" in htu or "#" in htu:
        raise NotAnHttpUrl("The proof's htu carries a query or fragment.")
    return _normalize(htu)


@lru_cache(maxsize=CACHE_SIZE)
def normalize_request_url(url: str) -> str:
    """The URL a request reached us at, normalised, without its query and fragment."""
    cut = min((i for i in (url.find("?"), url.find("#")) if i >= 0), default=len(url))
    return _normalize(url[:cut])


def _normalize(url: str) -> str:
    scheme, separator, rest = url.partition("://")
    if not separator or not scheme.isascii() or scheme.lower() not in DEFAULT_PORTS:
        raise NotAnHttpUrl("Not an absolute http(s) URL.")
    scheme = scheme.lower()
    slash = rest.find("/")
    authority, path = (rest, "") if slash < 0 else (rest[:slash], rest[slash:])
    return f"{scheme}://{_authority(authority, scheme)}{_path(path)}"


def _authority(authority: str, scheme: str) -> str:
    # isascii() first: lower() would turn look-alikes such as the Kelvin sign into plain ASCII letters.
    match = AUTHORITY.fullmatch(authority.lower()) if authority.isascii() else None
    if match is None:
        raise NotAnHttpUrl("The URL's host is not a plain host name or IP literal (or it carries userinfo).")
    host = match["host"]
    if match["ipv6"] is not None:
        try:
            host = f"[{ipaddress.IPv6Address(match['ipv6']).compressed}]"
        except ValueError:
            raise NotAnHttpUrl("The URL's IPv6 literal is malformed.") from None
    port = match["port"]
    if not port:  # none, or "host:" (an empty port means the default)
        return host
    number = int(port)
    if number > 65535:
        raise NotAnHttpUrl("The URL's port is out of range.")
    return host if number == DEFAULT_PORTS[scheme] else f"{host}:{number}"


def _path(path: str) -> str:
    if not path.isascii():
        # UTF-8 percent-encoding; a lone surrogate cannot be encoded and is refused (UnicodeEncodeError).
        path = "".join(c if c.isascii() else quote(c, safe="") for c in path)
    if not PATH.fullmatch(path):
        raise NotAnHttpUrl("The URL's path holds characters a URL cannot carry.")
    if "%" in path:
        path = PERCENT_ENCODED.sub(_normalize_percent, path)
    return _remove_dot_segments(path) if "." in path else path or "/"


def _normalize_percent(match: re.Match) -> str:
    char = chr(int(match[1], 16))
    return char if char in UNRESERVED else "%" + match[1].upper()


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4 for an absolute path: "." segments vanish, ".." drops the one before it."""
    segments = path.split("/")[1:]
    kept: list[str] = []
    for segment in segments:
        if segment == "..":
            if kept:
                kept.pop()
        elif segment != ".":
            kept.append(segment)
    if segments[-1] in (".", ".."):
        kept.append("")  # "/a/." and "/a/b/.." both end at a directory: "/a/"
    return "/" + "/".join(kept)
