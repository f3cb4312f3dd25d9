"""Which hosts and URLs count as loopback, and which URLs keys may be fetched from."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def is_loopback_host(host: str | None) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def issuer_url(issuer: str, path: str) -> str:
    """``path`` under the issuer, e.g. ``.well-known/openid-configuration`` (the issuer may lack its slash)."""
    return (issuer if issuer.endswith("/") else issuer + "/") + path


def is_allowed_fetch_url(url: str) -> bool:
    """https anywhere; plain http only to loopback (local work and tests)."""
    parts = urlsplit(url)
    if not parts.hostname:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and is_loopback_host(parts.hostname))


#: Headers a reverse proxy, load balancer or CDN adds (compared case-insensitively): these names, any
#: ``X-Forwarded-*``, and any ``*-Client-IP`` or ``*-Connecting-IP`` (X-Client-IP, True-Client-IP,
#: Fastly-Client-IP, CF-Connecting-IP...). A TCP forwarder (ssh -R, kubectl port-forward) adds none: no
#: header rule can see it.
PROXY_HEADERS = ("forwarded", "via", "x-real-ip")
PROXY_HEADER_PREFIXES = ("x-forwarded-",)
PROXY_HEADER_SUFFIXES = ("-client-ip", "-connecting-ip")


def is_proxy_header(name: str) -> bool:
    """Whether a request header with this name says a proxy relayed the request."""
    name = name.lower()
    return name in PROXY_HEADERS or name.startswith(PROXY_HEADER_PREFIXES) or name.endswith(PROXY_HEADER_SUFFIXES)


def is_direct_loopback(remote_addr: str | None, host: str | None, headers) -> bool:
    """A request from this machine, to a loopback host name (no DNS rebinding), relayed by no proxy."""
    return (
        is_loopback_host(remote_addr)
        and is_loopback_host(host)
        and not any(is_proxy_header(name) for name in headers.keys())
    )
