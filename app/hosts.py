"""The host a request names must be one this API answers to (``TRUSTED_HOSTS``); what a plain host is.

That host is in every URL the app reads back, above all the one a DPoP proof's ``htu`` must match: if
any host were taken, a proof made for another server that accepts the same tokens could be replayed
here with that server's name in ``Host``. So a request naming any other host is answered 400
``invalid_request`` in front of the whole app: no route, proof check, page or redirect sees it.

The host that counts is the one left in the WSGI environ by the layers around this check: a request
line in absolute form (RFC 9112 §3.2.2: its host replaces ``Host``, see ``AbsoluteFormTarget``), then a
trusted proxy's ``X-Forwarded-Host``/``-Port`` (app/proxies.py).

Flask 3.1's own ``TRUSTED_HOSTS`` is not used: it ignores ports, and it refuses while routing, after
the before_request hooks have run, with an HTML page.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from typing import TYPE_CHECKING, NamedTuple

from refusals import Refusal
from security.schemes import OFF

if TYPE_CHECKING:  # app/settings.py reads HostRule from here
    from .settings import Settings

DEFAULT_PORTS = {"http": 80, "https": 443}
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
PLAIN_HOST = re.compile(rf"(?:{_LABEL}(?:\.{_LABEL})*\.?|\[[0-9A-Fa-f:.]+\])(?::(?P<port>[0-9]{{1,5}}))?")


class HostRule(NamedTuple):
    """One ``TRUSTED_HOSTS`` entry: ``name`` (lower case, an IPv6 address compressed in brackets), and
    with it ``port`` (None: any port) and ``subdomains`` (a leading dot: the name and any name under it)."""

    name: str
    port: int | None
    subdomains: bool

    @classmethod
    def parse(cls, text: str) -> HostRule:
        """``name[:port]`` or ``.name[:port]``; ValueError saying why when it is neither."""
        subdomains = text.startswith(".")
        name, port = parse_host(text[1:] if subdomains else text)
        if subdomains and _is_address(name):
            raise ValueError("a leading dot goes before a name, not an address")
        return cls(name, port, subdomains)

    def __str__(self) -> str:
        return ("." if self.subdomains else "") + self.name + ("" if self.port is None else f":{self.port}")

    def allows(self, name: str, port: int) -> bool:
        if self.port is not None and port != self.port:
            return False
        return name == self.name or (self.subdomains and name.endswith("." + self.name))


@lru_cache(maxsize=1024)  # every request's Host goes through it, and clients send the same few
def parse_host(text: str) -> tuple[str, int | None]:
    """A DNS name or an IP address (IPv6 in brackets) with an optional port, as (lower-case name, port or
    None), an IPv6 address compressed; ValueError saying why when ``text`` is not that."""
    match = PLAIN_HOST.fullmatch(text) if len(text) <= 255 else None
    if match is None:
        raise ValueError("it is not a host name or address with an optional port")
    port = None if match["port"] is None else int(match["port"])
    if port is not None and not 0 < port <= 65535:
        raise ValueError("its port is out of range")
    name = text[:match.start("port") - 1] if port is not None else text
    if name.startswith("["):
        try:
            name = f"[{ipaddress.IPv6Address(name[1:-1]).compressed}]"
        except ValueError:
            raise ValueError("its IPv6 address is malformed") from None
    return name.lower(), port


def host_problem(host: str) -> str | None:
    """Why ``host`` is not ``name[:port]`` or ``address[:port]`` (None when it is)."""
    try:
        parse_host(host)
    except ValueError as error:
        return str(error)
    return None


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


def refusal(description: str) -> Refusal:
    """The 400 ``invalid_request`` these checks answer, in the API's error shape (a WSGI app)."""
    return Refusal(400, "invalid_request", description)


NOT_OURS = "The request names a host this API does not answer to (TRUSTED_HOSTS)."
NO_HOST = "The request names no host: HTTP/1.1 needs a Host header."
NOT_HTTP = "The request target is an absolute URI whose scheme is not http or https."
NO_AUTHORITY = "The request target is an absolute URI without a host, or with userinfo."


class TrustedHosts:
    """WSGI middleware: a request whose host no rule allows gets ``NOT_OURS``; one without ``Host`` is
    served only in HTTP/1.0, which has none (the server's own address then stands for it)."""

    def __init__(self, app, rules: list[HostRule]):
        self.app = app
        self.rules = rules

    @classmethod
    def wrap(cls, app, settings: Settings):
        """``app`` behind the check of ``settings.trusted_hosts``; unchanged when any host is answered."""
        if settings.trusted_hosts is None:
            return app
        return cls(app, [HostRule.parse(rule) for rule in settings.trusted_hosts])

    def __call__(self, environ, start_response):
        host = environ.get("HTTP_HOST")
        if host is None:
            problem = None if environ.get("SERVER_PROTOCOL") == "HTTP/1.0" else NO_HOST
        else:
            problem = None if self.allows(host, environ["wsgi.url_scheme"]) else NOT_OURS
        if problem:
            return refusal(problem)(environ, start_response)
        return self.app(environ, start_response)

    def allows(self, host: str, scheme: str) -> bool:
        try:
            name, port = parse_host(host)
        except ValueError:
            return False
        port = DEFAULT_PORTS.get(scheme, 0) if port is None else port
        return any(rule.allows(name, port) for rule in self.rules)


class AbsoluteFormTarget:
    """WSGI middleware for a request line in absolute form (``GET http://api.example/x HTTP/1.1``): as RFC
    9112 §3.2.2 says, the host in it is the request's host (it replaces ``Host``), and the path served is
    its path ("/" when empty). Its scheme must be http or https, and it must carry no userinfo (RFC 9110
    §4.2.4); the scheme that counts stays the connection's (or a trusted proxy's). Both servers put the
    request line's target in ``RAW_URI``; werkzeug's also takes the host from it, gunicorn does not."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        target = environ.get("RAW_URI") or environ.get("REQUEST_URI") or "/"
        if target.startswith("/") or "://" not in target:  # origin form (and "*"): the usual case
            return self.app(environ, start_response)
        scheme, _, rest = target.partition("://")
        authority = rest[:min((i for i in map(rest.find, "/?#") if i >= 0), default=len(rest))]
        if scheme.lower() not in DEFAULT_PORTS:
            return refusal(NOT_HTTP)(environ, start_response)
        if not authority or "@" in authority:
            return refusal(NO_AUTHORITY)(environ, start_response)
        environ["HTTP_HOST"] = authority
        if not environ.get("PATH_INFO"):
            environ["PATH_INFO"] = "/"
        return self.app(environ, start_response)


def any_host_note(settings: Settings) -> str | None:
    """The start-up line when any host is answered while DPoP proofs are taken (None: nothing to say);
    logged once per server, by gunicorn's master or by `make run`."""
    if settings.trusted_hosts is not None or settings.dpop.mode == OFF:
        return None
    return ("TRUSTED_HOSTS is unset: this API answers to any Host, so a DPoP proof made for another server "
            "that accepts the same tokens could be replayed here under that server's name; set TRUSTED_HOSTS "
            "to the host names clients call this API at")
