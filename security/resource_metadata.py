"""OAuth 2.0 Protected Resource Metadata (RFC 9728): how a client that knows only this API's URL finds the
rest, from the ``resource_metadata`` parameter of a 401's challenge (§5.1) to the issuers and scopes.

The resource identifier is ``PUBLIC_URL`` when set; otherwise the scheme, host and prefix the request
reached us at, as the layers in front of the app left them (only a trusted host gets that far:
``TRUSTED_HOSTS``, and a forwarded one only from a trusted proxy). Its metadata lives at the well-known
path, inserted between the host and the identifier's own path (§3.1).
"""

from __future__ import annotations

import re
from typing import Iterable
from urllib.parse import urlsplit

from .schemes import REQUIRED
from .settings import DPoPSettings

#: Nothing that could end a quoted string or a URL's authority: a Host of any other form is not repeated.
PLAIN_HOST = re.compile(r"[A-Za-z0-9.:\[\]-]{1,300}")
WELL_KNOWN = "/.well-known/oauth-protected-resource"
#: The metadata URL the documents' examples show; each served document names the true one (swagger.api).
EXAMPLE_METADATA_URL = "https://api.example.com" + WELL_KNOWN


def resource_identifier(environ: dict, public_url: str | None) -> str:
    """This API's resource identifier: ``public_url``, or the request's scheme, host and prefix (no trailing
    slash, so that an identifier without a path has its metadata at the bare well-known path)."""
    if public_url:
        return public_url
    host = environ.get("HTTP_HOST", "")
    if not PLAIN_HOST.fullmatch(host):  # none (HTTP/1.0), or with TRUSTED_HOSTS unset anything a client sent
        host = f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
    return f"{environ['wsgi.url_scheme']}://{host}{environ.get('SCRIPT_NAME', '').rstrip('/')}"


def metadata_path(resource: str) -> str:
    """The path of the metadata of ``resource``: the well-known path, then the identifier's path (RFC 9728 §3.1)."""
    return WELL_KNOWN + urlsplit(resource).path.rstrip("/")


def metadata_url(resource: str) -> str:
    """Where the metadata of ``resource`` is: what every challenge names in ``resource_metadata``."""
    parts = urlsplit(resource)
    return f"{parts.scheme}://{parts.netloc}{metadata_path(resource)}"


def metadata(resource: str, *, issuers: Iterable[str], scopes: Iterable[str], dpop: DPoPSettings, name: str,
             documentation: str) -> dict:
    """The metadata document (RFC 9728 §2): who issues tokens for ``resource``, with which scopes, sent how."""
    document: dict[str, object] = {
        "resource": resource,
        "authorization_servers": list(issuers),
        "scopes_supported": list(scopes),
        "bearer_methods_supported": ["header"],
        "resource_name": name,
        "resource_documentation": documentation,
    }
    if dpop.schemes.dpop:
        document["dpop_signing_alg_values_supported"] = list(dpop.algorithms)
        document["dpop_bound_access_tokens_required"] = dpop.mode == REQUIRED
    return document
