"""Authlib's authorization server, set up for the local issuer.

Grants: authorization code with mandatory S256 PKCE (Swagger UI's login), client credentials, and token
exchange for delegation (RFC 8693).
Access tokens are the JWTs from ``LocalIssuer.mint``; requested scopes must be the API's declared ones.
A token request with a DPoP proof gets a token bound to the proof's key (dpop.py).
Codes live in memory for ``CodeStore.lifetime`` seconds and are single-use (one process, local work).
"""

from __future__ import annotations

import re
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property
from typing import Callable, NamedTuple

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Request
from authlib.oauth2.rfc6749 import (
    AuthorizationCodeMixin,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Payload,
    UnauthorizedClientError,
    grants,
)
from authlib.oauth2.rfc7636 import CodeChallenge
from flask import request as flask_request
from werkzeug.datastructures import MultiDict

from security.scopes import scope_tokens

from .clients import TOKEN_EXCHANGE, LocalClient
from .dpop import BindsToProofKey, DPoPProofError, TokenRequestProofs
from .tokens import DEFAULT_LIFETIME

CODE_LIFETIME = 60  # seconds; RFC 6749 recommends at most 10 minutes
LOCAL_USER = "local|developer"


@dataclass(frozen=True)
class AuthorizationCode(AuthorizationCodeMixin):
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    subject: str
    code_challenge: str
    code_challenge_method: str
    dpop_jkt: str | None  # RFC 9449 §10: the code is bound to this DPoP key
    login: dict  # the login's claims (auth_time, and acr when acr_values asked for one)
    expires_at: float

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


class CodeStore:
    """Issued codes, each usable once: looking one up removes it, so a replay finds nothing."""

    def __init__(self, lifetime: float = CODE_LIFETIME):
        self.lifetime = lifetime
        self._codes: dict[str, AuthorizationCode] = {}
        self._lock = threading.Lock()

    def add(self, **fields) -> None:
        now = time.monotonic()
        with self._lock:
            self._codes = {k: v for k, v in self._codes.items() if v.expires_at > now}
            code = AuthorizationCode(expires_at=now + self.lifetime, **fields)
            self._codes[code.code] = code

    def take(self, code: str, client_id: str) -> AuthorizationCode | None:
        with self._lock:
            found = self._codes.pop(code, None)
        if found is None or found.client_id != client_id or found.expires_at <= time.monotonic():
            return None
        return found


class S256Only(CodeChallenge):
    """PKCE on every authorization request, and only the S256 method (RFC 9700 §2.1.1)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send 'code_challenge' with 'code_challenge_method=S256'.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Only 'code_challenge_method=S256' is supported.")
        super().validate_code_challenge(grant, redirect_uri)


class Login(NamedTuple):
    """Who logged in, and the claims about that login the token carries (``acr``, ``auth_time``)."""

    subject: str
    claims: dict


class LoginRequest:
    """OpenID Connect's ``max_age`` and ``acr_values`` on /authorize (RFC 9470 §4: what a step-up challenge asks
    for), checked for their form. A development issuer logs in anew at once, with the first acr value asked for
    (``CodeGrant.save_authorization_code``). A grant extension, as PKCE's: its errors go to the redirect URI."""

    def __call__(self, grant):
        grant.register_hook("after_validate_authorization_request_payload", self.validate)

    def validate(self, grant, redirect_uri):
        data = grant.request.payload.data
        max_age = data.get("max_age")
        if max_age is not None and not re.fullmatch(r"[0-9]{1,9}", max_age):
            raise InvalidRequestError("'max_age' is a number of seconds.")
        acr_values = data.get("acr_values")
        if acr_values is not None and not scope_tokens(acr_values):
            raise InvalidRequestError("'acr_values' lists acr values, separated by spaces.")


class CodeGrant(BindsToProofKey, grants.AuthorizationCodeGrant):
    # "none": Swagger UI is a public client; PKCE stands in for its secret
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    def save_authorization_code(self, code, request):
        data = request.payload.data
        login: dict[str, int | str] = {"auth_time": int(time.time())}  # now: any max_age is met
        if data.get("acr_values"):
            login["acr"] = scope_tokens(data["acr_values"])[0]
        self.server.codes.add(
            code=code,
            client_id=request.client.get_client_id(),
            redirect_uri=request.payload.redirect_uri or "",
            scope=request.scope or "",
            subject=request.user,
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            dpop_jkt=data.get("dpop_jkt"),
            login=login,
        )

    def validate_token_request(self):
        super().validate_token_request()
        bound_to = self.request.authorization_code.dpop_jkt
        if bound_to and self.server.dpop is not None and (self.proof is None or self.proof.jkt != bound_to):
            raise DPoPProofError.because("The authorization code is bound to another DPoP key (dpop_jkt).")

    def query_authorization_code(self, code, client):
        return self.server.codes.take(code, client.get_client_id())

    def delete_authorization_code(self, authorization_code):
        pass  # already removed when it was looked up

    def authenticate_user(self, authorization_code):
        return Login(authorization_code.subject, authorization_code.login)


class ClientCredentialsGrant(BindsToProofKey, grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"


class _SubjectTokenChecks(grants.BaseGrant, grants.TokenEndpointMixin):
    """The token-exchange request's own checks (``TokenExchangeGrant``), after the DPoP proof's."""

    subject_claims: dict
    scopes: list[str]

    def validate_token_request(self):
        client = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError()
        data = self.request.form
        if data.get("subject_token_type") != ACCESS_TOKEN_TYPE:
            raise InvalidRequestError(f"'subject_token_type' must be {ACCESS_TOKEN_TYPE}.")
        if data.get("actor_token") is not None or data.get("actor_token_type") is not None:
            raise InvalidRequestError("Actor tokens are not taken: the authenticated client is the actor.")
        if data.get("requested_token_type") not in (None, ACCESS_TOKEN_TYPE):
            raise InvalidRequestError(f"Only {ACCESS_TOKEN_TYPE} is issued.")
        claims = self.server.read_token(data.get("subject_token") or "")
        if claims is None:
            raise InvalidGrantError("The subject_token is not a valid access token of this issuer.")
        if "cnf" in claims:
            raise InvalidGrantError("The subject_token is bound to a DPoP key the client does not hold.")
        granted = scope_tokens(claims.get("scope", "")) if isinstance(claims.get("scope"), str) else []
        asked = scope_tokens(self.request.payload.scope or "") or granted
        if not set(asked) <= set(granted):
            raise InvalidScopeError("The scope asked for is more than the subject_token grants.")
        self.request.client = client
        self.subject_claims = claims
        self.scopes = asked


class TokenExchangeGrant(BindsToProofKey, _SubjectTokenChecks):
    """RFC 8693 token exchange, for delegation: the authenticated client hands in an access token this issuer
    signed for someone (``subject_token``) and gets one for the same subject that says the client acts for
    them (``act: {"sub": <client id>}``, the subject token's own ``act`` nested inside: RFC 8693 §4.1), with
    at most the subject token's scopes (``scope`` narrows them). A DPoP-bound subject token is refused: the
    client does not hold its key."""

    GRANT_TYPE = TOKEN_EXCHANGE
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def create_token_response(self):
        act = {"sub": self.request.client.get_client_id()}
        if "act" in self.subject_claims:
            act["act"] = self.subject_claims["act"]
        login = Login(self.subject_claims["sub"], {"act": act})
        token = self.generate_token(user=login, scope=" ".join(self.scopes))
        token["issued_token_type"] = ACCESS_TOKEN_TYPE
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


class _Fields(OAuth2Payload):
    """Request parameters taken from a JSON object body."""

    def __init__(self, fields: MultiDict):
        self._fields = fields

    @property
    def data(self):
        return self._fields

    @cached_property
    def datalist(self):
        return defaultdict(list, {k: self._fields.getlist(k) for k in self._fields})


class _JsonOrFormRequest(FlaskOAuth2Request):
    """The token request's parameters from a form body, or from a JSON object as Auth0 accepts."""

    def __init__(self, request):
        super().__init__(request)
        self._json_fields = None
        body = request.get_json(silent=True) if request.is_json else None
        if isinstance(body, dict):
            self._json_fields = MultiDict({k: v for k, v in body.items() if isinstance(v, str)})
            self.payload = _Fields(self._json_fields)

    @property
    def form(self):
        return self._json_fields if self._json_fields is not None else self._request.form


#: Authlib sends these errors without an error_description; every error body of ours has one.
DESCRIPTIONS = {
    "unsupported_grant_type": f"Use grant_type authorization_code, client_credentials or {TOKEN_EXCHANGE}.",
    "unsupported_response_type": "Use response_type=code.",
}


class LocalAuthorizationServer(AuthorizationServer):
    def __init__(self, client: LocalClient, mint: Callable[..., str], scopes: list[str],
                 dpop: TokenRequestProofs | None = None, read_token: Callable[[str], dict | None] = lambda _: None):
        """``mint(subject=..., scopes=..., jkt=...)`` signs the access tokens (LocalIssuer.mint); ``scopes`` are
        the only ones a client may request (others get ``invalid_scope``); ``dpop`` checks the proofs token
        requests carry (None: DPoP is off, a proof is ignored and every token is a Bearer one); ``read_token``
        gives the claims of an access token this issuer signed and that is still valid (None otherwise)."""
        super().__init__()
        self.client = client
        self.mint = mint
        self.read_token = read_token
        self.dpop = dpop
        self.codes = CodeStore()
        self.scopes_supported = list(scopes)
        self.register_grant(CodeGrant, [S256Only(required=True), LoginRequest()])
        self.register_grant(ClientCredentialsGrant)
        self.register_grant(TokenExchangeGrant)

    def query_client(self, client_id):
        return self.client if client_id == self.client.client_id else None

    def save_token(self, token, request):
        pass  # self-contained JWTs: nothing to store

    def create_oauth2_request(self, request):
        return _JsonOrFormRequest(flask_request)

    def validate_requested_scope(self, scope):
        """Only declared scopes, read as the API reads a token's (security/scopes.py): split on the ASCII
        space only, where Authlib's own check splits on any whitespace."""
        if scope and not set(scope_tokens(scope)) <= set(self.scopes_supported):
            raise InvalidScopeError()

    def handle_error_response(self, request, error):
        if not error.description:
            error.description = DESCRIPTIONS.get(error.error, "The request was refused.")
        return super().handle_error_response(request, error)

    def generate_token(self, grant_type, client, user=None, scope=None, expires_in=None, include_refresh_token=True,
                       jkt=None):
        """RFC 6749 §5.1's answer; with ``jkt`` (a checked proof's key), a token bound to it (RFC 9449 §5)."""
        login = user if isinstance(user, Login) else Login(f"{client.get_client_id()}@clients", {})
        scopes = scope_tokens(client.get_allowed_scope(scope))
        token = {
            "access_token": self.mint(subject=login.subject, scopes=scopes, jkt=jkt, login=login.claims),
            "token_type": "DPoP" if jkt else "Bearer",
            "expires_in": DEFAULT_LIFETIME,
        }
        if scopes:
            token["scope"] = " ".join(scopes)
        return token
