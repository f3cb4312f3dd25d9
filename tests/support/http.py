"""Requests beyond what a requests session sends by itself: a bearer call, and header values it refuses."""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit


def bearer_get(server, http, token: str, route: str = "/api/private"):
    """GET ``route`` of a live server with ``Authorization: Bearer <token>``."""
    return http.get(server.url + route, headers={"Authorization": f"Bearer {token}"})


def raw_get(url: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    """A GET through http.client, which sends header values that requests refuses (e.g. a single space)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.putrequest("GET", parts.path or "/", skip_host=any(n.lower() == "host" for n in headers))
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()
