"""The security schemes Swagger UI offers under Authorize, and what each operation requires.

- ``bearer``: paste a token (Swagger 2.0 has no http/bearer type, so it is an apiKey header).
- ``dpop``: a DPoP-bound token (RFC 9449), with a proof per request; an apiKey header in Swagger 2.0
  marked ``x-auth-scheme: DPoP``, which /openapi.json turns into ``type: http, scheme: DPoP``.
  Each is defined only when ``AUTH_DPOP`` takes its scheme.
- ``authorization_code``: log in with code + PKCE, at the provider or the embedded local issuer.
- ``client_credentials``: local mode only, the local client's own token.

URLs depend on the request in local mode (the page works at 127.0.0.1 and at localhost) and on
the provider's discovery document otherwise, so the definitions are computed when the spec is served.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import request

from security.discovery import Endpoints
from security.net import is_loopback_host
from security.schemes import BEARER_ONLY, Schemes

BEARER = "bearer"
DPOP = "dpop"
AUTHORIZATION_CODE = "authorization_code"
CLIENT_CREDENTIALS = "client_credentials"
#: The vendor field naming the HTTP authentication scheme of an ``Authorization`` apiKey (2.0 has no http type).
HTTP_SCHEME = "x-auth-scheme"


def operation_security(*scopes: str) -> list[dict]:
    """Any one of the schemes will do (a list of alternatives), with the scope the route needs; given several
    scopes, any one of them: one alternative per flow and scope."""
    options = [[scope] for scope in scopes] or [[]]
    return [{BEARER: []}, {DPOP: []}] + [{flow: option} for flow in (AUTHORIZATION_CODE, CLIENT_CREDENTIALS)
                                         for option in options]


def local_endpoints(issuer: str) -> Endpoints:
    """The embedded issuer's endpoints at the host the browser used, when that host is loopback."""
    base = request.host_url if is_loopback_host(urlsplit(request.host_url).hostname) else issuer
    return Endpoints(authorize=f"{base}authorize", token=f"{base}oauth/token")


def security_definitions(endpoints: Endpoints, *, local: bool, scopes: dict[str, str],
                         schemes: Schemes = BEARER_ONLY) -> dict:
    """``scopes`` (name -> description) are the ones the OAuth2 flows offer as checkboxes; ``schemes``
    are the Authorization schemes the API takes."""
    definitions: dict[str, dict] = {}
    if schemes.bearer:
        definitions[BEARER] = {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "An access token. Paste it alone or as `Bearer <token>`.",
        }
    if schemes.dpop:
        definitions[DPOP] = {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                "A DPoP-bound access token (RFC 9449), sent as `Authorization: DPoP <token>`, with a proof in a "
                "`DPoP` header on every request: a JWT of type `dpop+jwt`, signed with the key the token is bound "
                f"to (`cnf.jkt`) using one of {', '.join(schemes.dpop_algorithms)}, carrying the request's method "
                "(`htm`) and URL (`htu`), `iat`, a unique `jti`, the token's hash (`ath`), and the API's "
                "`DPoP-Nonce` when nonces are on."),
            HTTP_SCHEME: "DPoP",
        }
    definitions.update({
        AUTHORIZATION_CODE: {
            "type": "oauth2",
            "flow": "accessCode",
            "authorizationUrl": endpoints.authorize,
            "tokenUrl": endpoints.token,
            "scopes": dict(scopes),
            "description": "Log in with the authorization code flow and PKCE (S256).",
        },
    })
    if local:
        definitions[CLIENT_CREDENTIALS] = {
            "type": "oauth2",
            "flow": "application",
            "tokenUrl": endpoints.token,
            "scopes": dict(scopes),
            "description": "The embedded local issuer's client, with its secret (loopback only).",
        }
    return definitions


def drop_undefined_requirements(schema: dict) -> None:
    """Remove per-operation alternatives that name a scheme this mode does not define."""
    defined = set(schema.get("securityDefinitions", {}))
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            if isinstance(operation, dict) and operation.get("security"):
                operation["security"] = [r for r in operation["security"] if set(r) <= defined]
