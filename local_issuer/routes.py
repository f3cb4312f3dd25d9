"""The local issuer's HTTP endpoints: discovery, JWKS, authorize and token.

/authorize and /oauth/token answer loopback clients only, and only when the request carries no
proxy header (a reverse proxy in front would make every remote caller look local) and names a
loopback host (a DNS-rebound name such as evil.example:3010 must not reach them from a browser).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidClientError
from flask import Blueprint, current_app, jsonify, request

from security.net import is_direct_loopback

from .server import LOCAL_USER

EXTENSION = "local_issuer"
LOOPBACK_ONLY = {"local_issuer.authorize", "local_issuer.token"}

blueprint = Blueprint("local_issuer", __name__)


def _issuer():
    return current_app.extensions[EXTENSION]


@blueprint.before_request
def loopback_only():
    if request.endpoint not in LOOPBACK_ONLY:
        return None
    if not is_direct_loopback(request.remote_addr, urlsplit(request.host_url).hostname, request.headers):
        response = jsonify(error="access_denied",
                           error_description="The local issuer answers loopback clients only, without proxies.")
        response.status_code = 403
        return response
    return None


@blueprint.before_request
def only_our_audience():
    """Auth0 clients send ``audience``; this issuer mints for one API only, so another one is an error."""
    if request.endpoint not in LOOPBACK_ONLY:
        return None
    body = request.get_json(silent=True) if request.is_json else None
    audience = body.get("audience") if isinstance(body, dict) else request.values.get("audience")
    expected = _issuer().settings.audience
    if audience is None or audience == expected:
        return None
    response = jsonify(error="invalid_request",
                       error_description=f"This issuer only issues tokens for the audience {expected}.")
    response.status_code = 400
    return response


@blueprint.get("/.well-known/openid-configuration")
def discovery():
    issuer = _issuer().settings.issuer
    return jsonify(
        issuer=issuer,
        authorization_endpoint=f"{issuer}authorize",
        token_endpoint=f"{issuer}oauth/token",
        jwks_uri=f"{issuer}.well-known/jwks.json",
        scopes_supported=_issuer().scopes,
        response_types_supported=["code"],
        grant_types_supported=["authorization_code", "client_credentials"],
        code_challenge_methods_supported=["S256"],
        token_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post", "none"],
        id_token_signing_alg_values_supported=["RS256"],
        subject_types_supported=["public"],
    )


@blueprint.get("/.well-known/jwks.json")
def jwks():
    return jsonify(_issuer().jwks())


@blueprint.get("/authorize")
def authorize():
    """Approves at once (there is no one to ask on a laptop), for the local client's own redirect page."""
    server = _issuer().server
    try:
        grant = server.get_consent_grant(end_user=LOCAL_USER)
    except OAuth2Error as error:
        return server.handle_error_response(None, error)
    return server.create_authorization_response(grant_user=LOCAL_USER, grant=grant)


@blueprint.post("/oauth/token")
def token():
    server = _issuer().server
    try:
        return server.create_token_response()
    except UnicodeDecodeError:  # Basic credentials that are not UTF-8: Authlib cannot decode them
        error = InvalidClientError(description="The client credentials are not valid UTF-8.", status_code=401)
        return server.handle_error_response(None, error)
