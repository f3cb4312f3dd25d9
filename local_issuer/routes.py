"""The local issuer's HTTP endpoints: discovery, JWKS, authorize and token.

/authorize and /oauth/token answer loopback clients only, and only when the request carries no
proxy header (a reverse proxy in front would make every remote caller look local) and names a
loopback host (a DNS-rebound name such as evil.example:3010 must not reach them from a browser).
They refuse ambiguous requests (a parameter sent twice, or two client authentication methods at once)
and a client secret in the URL. Those checks raise a ``Refusal``, answered by the app's one error
handler; what Authlib's server refuses it answers itself, as RFC 6749 says (an /authorize error goes
back to the client's redirect URI once that is known, with the request's ``state``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidClientError
from flask import Blueprint, current_app, jsonify, request

from refusals import Refusal
from security.net import is_direct_loopback, is_loopback_host
from security.resource_metadata import resource_identifier

from .clients import TOKEN_EXCHANGE
from .server import LOCAL_USER

if TYPE_CHECKING:
    from . import LocalIssuer

EXTENSION = "local_issuer"
LOOPBACK_ONLY = {"local_issuer.authorize", "local_issuer.token"}

blueprint = Blueprint("local_issuer", __name__)


def _issuer() -> LocalIssuer:
    issuer: LocalIssuer = current_app.extensions[EXTENSION]
    return issuer


@blueprint.before_request
def loopback_only():
    if request.endpoint not in LOOPBACK_ONLY:
        return None
    if not is_direct_loopback(request.remote_addr, urlsplit(request.host_url).hostname, request.headers):
        raise Refusal(403, "access_denied", "The local issuer answers loopback clients only, without proxies.")
    return None


def _json_object() -> dict | None:
    """The request's body when it is a JSON object (Auth0's clients send one); None for a form or no body."""
    body = request.get_json(silent=True) if request.is_json else None  # ApiRequest refuses repeated JSON names
    return body if isinstance(body, dict) else None


def _parameter(name: str):
    """A parameter of the request: from its JSON object body, else from its query and form."""
    body = _json_object()
    return body.get(name) if body is not None else request.values.get(name)


def _parameter_names() -> list[str]:
    """Each parameter name the request carries, once per occurrence: the query's, then the body's."""
    names = [name for name, _ in request.args.items(multi=True)]
    body = _json_object()
    if body is not None:
        return names + list(body)
    return names + [name for name, _ in request.form.items(multi=True)]


@blueprint.before_request
def unambiguous_parameters():
    """RFC 6749 §3.1 and §3.2: no parameter may be sent twice (query and body together), and §2.3: a client
    uses one authentication method per request, not HTTP Basic and client_secret at once."""
    if request.endpoint not in LOOPBACK_ONLY:
        return None
    seen: set[str] = set()
    for name in _parameter_names():
        if name in seen:
            raise Refusal(400, "invalid_request", f"The parameter {name[:64]!r} is sent more than once.")
        seen.add(name)
    if "Authorization" in request.headers and "client_secret" in seen:
        raise Refusal(400, "invalid_request",
                      "Use one client authentication method: HTTP Basic or client_secret, not both.")
    return None


@blueprint.before_request
def no_secret_in_the_url():
    """RFC 6749 §2.3.1: client credentials never go in the request URI (URLs end up in histories, logs
    and Referer headers)."""
    if request.endpoint in LOOPBACK_ONLY and "client_secret" in request.args:
        raise Refusal(400, "invalid_request", "The client_secret must not be sent in the URL: send it in the "
                                              "request body, or use HTTP Basic authentication.")
    return None


@blueprint.before_request
def only_our_audience():
    """Auth0 clients send ``audience``; this issuer mints for one API only, so another one is an error."""
    if request.endpoint not in LOOPBACK_ONLY:
        return None
    audience = _parameter("audience")
    expected = _issuer().auth.audience
    if audience is None or audience == expected:
        return None
    raise Refusal(400, "invalid_request", f"This issuer only issues tokens for the audience {expected}.")


@blueprint.before_request
def only_this_resource():
    """RFC 8707: a client may name the resource it wants a token for. This issuer mints for this API only:
    its identifier (PUBLIC_URL, or the URL it is reached at on a loopback host) or its audience; a token for
    it carries the audience the API checks, as Auth0 maps a resource to its API's identifier."""
    if request.endpoint not in LOOPBACK_ONLY:
        return None
    resource = _parameter("resource")
    if resource is None or _is_this_api(resource):
        return None
    raise Refusal(400, "invalid_target", f"This issuer only issues tokens for this API: "
                                         f"{resource_identifier(request.environ, _issuer().auth.public_url)}.")


def _is_this_api(resource) -> bool:
    auth = _issuer().auth
    if not isinstance(resource, str):
        return False
    if resource in (auth.audience, resource_identifier(request.environ, auth.public_url)):
        return True
    if auth.public_url:
        return False
    parts, here = urlsplit(resource), urlsplit(request.host_url)  # the same API, named by another loopback host
    try:
        same_port = parts.port == here.port
    except ValueError:
        return False
    return (parts.scheme == here.scheme and same_port and is_loopback_host(parts.hostname)
            and not parts.query and not parts.fragment and parts.path.rstrip("/") == request.script_root)


@blueprint.get("/.well-known/openid-configuration")
@blueprint.get("/.well-known/oauth-authorization-server")  # RFC 8414's name for the same document
def discovery():
    issuer = _issuer().auth.issuer
    dpop = _issuer().dpop
    return jsonify(
        issuer=issuer,
        authorization_endpoint=f"{issuer}authorize",
        token_endpoint=f"{issuer}oauth/token",
        jwks_uri=f"{issuer}.well-known/jwks.json",
        scopes_supported=_issuer().scopes,
        response_types_supported=["code"],
        grant_types_supported=["authorization_code", "client_credentials", TOKEN_EXCHANGE],
        code_challenge_methods_supported=["S256"],
        token_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post", "none"],
        id_token_signing_alg_values_supported=["RS256"],
        subject_types_supported=["public"],
        **({"dpop_signing_alg_values_supported": dpop.algorithms} if dpop else {}),
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
