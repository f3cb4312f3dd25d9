"""Fetching an issuer's JSON documents (discovery, JWKS): https only, a size cap, and a hard deadline.

Callers pass a deadline rather than a timeout, so that several fetches made for one purpose (discovery,
then the key set) share one time budget: ``deadline_in(seconds)`` makes one.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.error
import urllib.request

from .net import is_allowed_fetch_url, issuer_url

MAX_DOCUMENT_BYTES = 512 * 1024


class FetchError(Exception):
    """A document could not be had; the message says why, for logs."""


def deadline_in(seconds: float) -> float:
    """The ``time.monotonic()`` moment ``seconds`` from now."""
    return time.monotonic() + seconds


class _SafeRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to URLs we would have fetched directly (no https -> http)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if not is_allowed_fetch_url(newurl):
            raise FetchError(f"refused redirect to {newurl}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_opener = urllib.request.build_opener(_SafeRedirects)


def fetch_json(url: str, *, deadline: float) -> dict:
    """GET a JSON object, over by ``deadline`` (a ``time.monotonic()`` value) whatever the server does.

    The socket timeout bounds each read; a server that trickles its headers or body could still
    stretch the exchange, so the fetch runs in a thread of its own and is abandoned at the deadline
    (the thread then ends at its next socket timeout).
    """
    if not is_allowed_fetch_url(url):
        raise FetchError(f"refused non-https URL {url}")
    budget = deadline - time.monotonic()
    if budget <= 0:
        raise FetchError(f"{url}: not tried, no time left")
    outcome: list = []
    worker = threading.Thread(target=lambda: outcome.append(_fetch_or_error(url, budget)),
                              name="issuer-fetch", daemon=True)
    worker.start()
    worker.join(budget)
    if not outcome:
        raise FetchError(f"{url}: timed out after {budget:.1f}s")
    if isinstance(outcome[0], FetchError):
        raise outcome[0]
    return outcome[0]


def fetch_discovery(issuer: str, *, deadline: float) -> dict:
    """The issuer's OpenID Connect discovery document."""
    return fetch_json(issuer_url(issuer, ".well-known/openid-configuration"), deadline=deadline)


def _fetch_or_error(url: str, timeout: float) -> dict | FetchError:
    request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "messages-api"})
    try:
        with _opener.open(request, timeout=timeout) as response:
            body = response.read(MAX_DOCUMENT_BYTES + 1)
    except FetchError as error:
        return error
    except urllib.error.HTTPError as error:
        return FetchError(f"{url}: HTTP {error.code}")
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as error:
        return FetchError(f"{url}: {getattr(error, 'reason', None) or type(error).__name__}")
    if len(body) > MAX_DOCUMENT_BYTES:
        return FetchError(f"{url}: document larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return FetchError(f"{url}: not JSON")
    if not isinstance(document, dict):
        return FetchError(f"{url}: not a JSON object")
    return document
