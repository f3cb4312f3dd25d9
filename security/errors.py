"""The errors a protected route can answer, shaped as RFC 6750 says.

Each is an Authlib ``OAuth2Error`` carrying a short ``reason`` for logs; the protector
turns it into an HTTP response whose body is ``{"error", "error_description"}`` and
whose ``WWW-Authenticate`` challenge matches it.
"""

from __future__ import annotations

import json

from authlib.oauth2 import OAuth2Error
from werkzeug.exceptions import HTTPException

REALM = "api"


def _challenge(**params: str) -> str:
    parts = [f'realm="{REALM}"'] + [f'{k}="{v}"' for k, v in params.items() if v]
    return "Bearer " + ", ".join(parts)


class AuthFailure(OAuth2Error):
    """Base of our auth errors: a status, an error code, a description and a reason for logs."""

    reason = "refused"

    def __init__(self, description: str | None = None, *, reason: str | None = None, context: dict | None = None):
        super().__init__(description=description)
        if reason:
            self.reason = reason
        self.context = context or {}

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.get_error_description()}

    def get_headers(self):
        return [("Content-Type", "application/json"), ("Cache-Control", "no-store")]


class MissingCredentials(AuthFailure):
    """No usable `Authorization: Bearer <token>` header: a bare challenge, no error code (RFC 6750 §3.1)."""

    error = "unauthorized"
    status_code = 401
    reason = "no_credentials"
    description = "Authentication required: send an access token as 'Authorization: Bearer <token>'."

    def get_headers(self):
        return super().get_headers() + [("WWW-Authenticate", _challenge())]


class InvalidToken(AuthFailure):
    """The token failed validation; the description says why and never echoes the token."""

    error = "invalid_token"
    status_code = 401
    reason = "invalid_token"
    description = "The access token is invalid."

    def get_headers(self):
        challenge = _challenge(error=self.error, error_description=self.get_error_description())
        return super().get_headers() + [("WWW-Authenticate", challenge)]


class InsufficientScope(AuthFailure):
    """A valid token without the scope the route needs."""

    error = "insufficient_scope"
    status_code = 403
    reason = "insufficient_scope"

    def __init__(self, scopes: list[str], *, any_of: bool = False, **kwargs):
        """``scopes`` the route needs, all of them; with ``any_of``, one of them is enough."""
        self.scope = " ".join(scopes)
        if any_of and len(scopes) > 1:
            needs = f"any of the scopes this route accepts: {' or '.join(scopes)}"
        else:
            needs = f"the scope this route needs: {self.scope}"
        super().__init__(f"The access token does not grant {needs}.", **kwargs)

    def get_headers(self):
        challenge = _challenge(error=self.error, error_description=self.get_error_description(), scope=self.scope)
        return super().get_headers() + [("WWW-Authenticate", challenge)]


class SigningKeysUnavailable(AuthFailure):
    """No signing key could be had from the issuer: the caller should retry, not re-authenticate."""

    error = "temporarily_unavailable"
    status_code = 503
    reason = "keys_unavailable"
    description = "The token issuer's signing keys could not be fetched; retry shortly."
    retry_after = 5

    def get_headers(self):
        return super().get_headers() + [("Retry-After", str(self.retry_after))]


class AuthErrorResponse(HTTPException):
    """An AuthFailure as a werkzeug exception.

    ``data`` is the JSON body: flask-restx sends an exception's ``data`` as is, and plain Flask
    routes use ``get_body``; both give the same response.
    """

    def __init__(self, failure: AuthFailure):
        super().__init__(description=failure.get_error_description())
        self.code = failure.status_code
        self.failure = failure
        self.data = failure.body()

    def get_body(self, environ=None, scope=None) -> str:
        return json.dumps(self.data)

    def get_headers(self, environ=None, scope=None):
        return list(self.failure.get_headers())
