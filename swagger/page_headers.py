"""Browser-facing headers of the two HTML pages we serve: ``/docs`` and Swagger UI's OAuth2 redirect page.

The docs page's Content-Security-Policy allows only what Swagger UI 4.19 needs:

- ``script-src 'self'``: Swagger UI's bundle and our ``static/docs.js``. The page's settings are a JSON
  data block, which browsers never execute, so no inline script, ``'unsafe-inline'`` or ``'unsafe-eval'``.
- ``style-src 'self'``: swagger-ui.css, droid-sans.css and our ``static/docs.css``. Swagger UI (React)
  sets element styles through the DOM, which CSP does not govern, so no ``'unsafe-inline'`` either.
- ``img-src 'self' data:``: swagger-ui.css draws its icons as ``data:`` SVG images; favicons are ours.
- ``font-src 'self'``: the Droid Sans files flask-restx bundles.
- ``connect-src 'self'`` plus the token endpoint's origin: the spec, "Try it out", and the login's
  token request (code exchange, client credentials), made by the page itself. In provider mode that
  endpoint is the provider's (discovered, or under the issuer).
- ``frame-ancestors 'none'`` (and ``X-Frame-Options: DENY`` for older browsers): no clickjacking.
- ``default-src 'none'``, ``base-uri 'none'``, ``form-action 'self'``: nothing else, from anywhere.

Local mode's page embeds the local client's secret (for loopback viewers): ``Cache-Control: no-store``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

import flask_restx
from flask import Flask, request

REDIRECT_PAGE = Path(flask_restx.__file__).parent / "static" / "oauth2-redirect.html"

COMMON = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def docs_page_headers(token_urls: Iterable[str], *, local: bool) -> dict[str, str]:
    origins = sorted({origin for url in token_urls if (origin := _origin(url))})
    policy = {
        "default-src": "'none'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "'self' data:",
        "font-src": "'self'",
        "connect-src": " ".join(["'self'", *origins]),
        "base-uri": "'none'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    headers = {**COMMON, "Content-Security-Policy": _render(policy)}
    if local:
        headers["Cache-Control"] = "no-store"
    return headers


@functools.cache
def redirect_page_headers() -> dict[str, str]:
    """The redirect page (flask-restx's file) runs one inline script: allowed by its hash, nothing else.
    It receives the authorization code in its URL, hence no referrer and no framing either."""
    scripts = re.findall(r"<script>(.*?)</script>", REDIRECT_PAGE.read_text(encoding="utf-8"), re.DOTALL)
    hashes = [f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'" for s in scripts]
    policy = {
        "default-src": "'none'",
        "script-src": " ".join(hashes) or "'none'",
        "base-uri": "'none'",
        "form-action": "'none'",
        "frame-ancestors": "'none'",
    }
    return {**COMMON, "Content-Security-Policy": _render(policy)}


def add_redirect_page_headers(app: Flask) -> None:
    """flask-restx serves the redirect page as a static file of its blueprint: add its headers after."""

    @app.after_request
    def redirect_page(response):
        if request.endpoint == "restx_doc.static" and (request.view_args or {}).get("filename") == REDIRECT_PAGE.name:
            response.headers.update(redirect_page_headers())
        return response


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else None


def _render(policy: dict[str, str]) -> str:
    return "; ".join(f"{directive} {sources}" for directive, sources in policy.items())
