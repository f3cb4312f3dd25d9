"""Which forwarded headers to believe, and only in a shape that cannot send a browser off-site.

``TRUSTED_PROXIES`` (how many proxies are in front) makes ``X-Forwarded-For`` and ``-Proto`` believed.
``-Host``, ``-Port`` and ``-Prefix`` decide the URLs our pages and redirects carry, and many proxies
pass a client's copy through: they are believed only when ``TRUSTED_PROXY_HEADERS`` names them. Even
then a value counts only when it is plain (an http/https scheme, a host name or address with an
optional port, a prefix of plain path segments); anything else is ignored, the request is served as
if the header were absent, and the reason is logged once per process.
"""

from __future__ import annotations

import logging
import re
import threading

from flask import Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix

from .hosts import host_problem
from .settings import Settings

logger = logging.getLogger("app.proxies")

# RFC 3986 pchar without percent-encoding: nothing a browser or a later decoder could read as "/" or "\"
PLAIN_SEGMENT = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@-]+")


def trust_proxies(wsgi_app, settings: Settings):
    """``wsgi_app`` behind ProxyFix for the configured hops and headers (unchanged with no proxy)."""
    hops = settings.trusted_proxies
    if not hops:
        return wsgi_app

    def hops_for(name: str) -> int:
        return hops if name in settings.trusted_proxy_headers else 0

    return ProxyFix(PlainForwardedValues(wsgi_app), x_for=hops, x_proto=hops,
                    x_host=hops_for("host"), x_port=hops_for("port"), x_prefix=hops_for("prefix"))


def redirect_with_paths(app: Flask) -> None:
    """A redirect to the request's own host is sent as a path. werkzeug writes the Host (or a trusted
    X-Forwarded-Host) into the redirects it makes itself (e.g. ``/api//public`` to ``/api/public``):
    as a path, the browser stays at the address it is at, whatever a header said."""

    @app.after_request
    def location_as_path(response):
        if not 300 <= response.status_code < 400:  # first: request.host_url costs as much as a small route
            return response
        location = response.headers.get("Location")
        own = request.host_url  # scheme://host/
        if location and location.startswith(own):
            path = location[len(own) - 1:]
            if not path.startswith(("//", "/\\")):
                response.headers["Location"] = path
        return response


def prefix_problem(prefix: str) -> str | None:
    """Why ``prefix`` is not a plain path prefix such as ``/messages`` (None when it is)."""
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in prefix):
        return "it contains a control character"
    if not prefix.startswith("/"):
        return "it does not start with '/'"
    if "\\" in prefix:
        return "it contains '\\'"
    if "//" in prefix:
        return "it contains '//'"
    if "%" in prefix:
        return "it contains percent-encoding"
    for segment in prefix.rstrip("/").split("/")[1:]:
        if segment in (".", ".."):
            return "it contains a '.' or '..' segment"
        if not PLAIN_SEGMENT.fullmatch(segment):
            return "it contains a character outside a plain path"
    return None


class PlainForwardedValues:
    """Sits between ProxyFix and the app: undoes each forwarded value that is not plain."""

    def __init__(self, app):
        self.app = app
        self._reported: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        original = environ["werkzeug.proxy_fix.orig"]
        scheme = environ["wsgi.url_scheme"]
        if scheme != original["wsgi.url_scheme"]:
            if scheme.lower() in ("http", "https"):
                environ["wsgi.url_scheme"] = scheme.lower()
            else:
                self._ignored("X-Forwarded-Proto", "it is not http or https", scheme)
                environ["wsgi.url_scheme"] = original["wsgi.url_scheme"]
        host = environ.get("HTTP_HOST")
        if host != original["HTTP_HOST"] and (problem := host_problem(host or "")):
            self._ignored("X-Forwarded-Host/-Port", problem, host or "")
            for key in ("HTTP_HOST", "SERVER_NAME", "SERVER_PORT"):
                _restore(environ, key, original[key])
        prefix = environ.get("SCRIPT_NAME", "")
        if prefix != original["SCRIPT_NAME"]:
            if problem := prefix_problem(prefix):
                self._ignored("X-Forwarded-Prefix", problem, prefix)
                _restore(environ, "SCRIPT_NAME", original["SCRIPT_NAME"])
            else:
                environ["SCRIPT_NAME"] = prefix.rstrip("/")
        return self.app(environ, start_response)

    def _ignored(self, header: str, reason: str, value: str) -> None:
        """Log once per header and reason: a client repeating a hostile value cannot flood the log."""
        with self._lock:
            if (header, reason) in self._reported:
                return
            self._reported.add((header, reason))
        logger.warning("%s ignored because %s: %r (further ones with this reason are not logged)",
                       header, reason, value[:80])


def _restore(environ, key: str, value: str | None) -> None:
    if value is None:
        environ.pop(key, None)
    else:
        environ[key] = value
