"""Authlib's Flask ResourceProtector with RFC 6750 header parsing and JSON error responses.

The validator is looked up on the current app, so one module-level ``require_auth`` decorator
serves every app the factory builds (tests build many).
"""

from __future__ import annotations

import json
import logging
import re

from authlib.integrations.flask_oauth2 import ResourceProtector, token_authenticated
from authlib.oauth2 import OAuth2Error
from flask import current_app, g, request

from .errors import AuthErrorResponse, AuthFailure, MissingCredentials
from .validator import AccessTokenValidator

logger = logging.getLogger("security.refused")

EXTENSION = "access_token_validator"
# RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token; the scheme name is case-insensitive. Spelled
# out rather than re.IGNORECASE, which makes the token's character class five times slower to match.
BEARER = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] +([A-Za-z0-9\-._~+/]+=*)")


def _field(value) -> str:
    """A log field that cannot break the line: quoted, escaped and cut short; ``-`` when absent."""
    return "-" if value is None else json.dumps(str(value)[:200])


class BearerProtector(ResourceProtector):
    """``@require_auth()`` / ``@require_auth("read:messages")`` for Flask views."""

    def init_app(self, app, validator: AccessTokenValidator) -> None:
        app.extensions[EXTENSION] = validator

    def parse_request_authorization(self, req):
        header = req.environ.get("HTTP_AUTHORIZATION", "").strip()  # what req.headers reads, minus its lookup
        match = BEARER.fullmatch(header)
        if match is None:
            if header:
                raise MissingCredentials("The Authorization header must be 'Bearer <token>'.", reason="malformed_header")
            raise MissingCredentials()
        return current_app.extensions[EXTENSION], match.group(1)

    def acquire_token(self, scopes=None, **kwargs):
        """Authlib's ``acquire_token``, with a short path for a token the cache already vouches for.

        Authlib's own wraps the request in a ``FlaskJsonRequest``, which computes ``request.url`` on
        every call; nothing here reads it. The short path takes the header as sent when it is the
        canonical ``Bearer <token>``: a cached token string matched the RFC 6750 grammar when it was
        first checked, so parsing it again could only give the same answer. Anything else, a cache
        miss included, takes Authlib's full ``validate_request``.
        """
        if isinstance(scopes, str):
            scopes = [scopes]
        req = request._get_current_object()
        validator = current_app.extensions[EXTENSION]
        header = req.environ.get("HTTP_AUTHORIZATION", "")
        token = validator.cached(header[7:]) if header.startswith("Bearer ") else None
        if token is None:
            token = self.validate_request(scopes=scopes, request=req, **kwargs)
        else:
            validator.validate_token(token, scopes, req)
        if token_authenticated.receivers:
            token_authenticated.send(self, token=token)
        g.authlib_server_oauth2_token = token  # what ``current_token`` reads
        return token

    def raise_error_response(self, error: OAuth2Error):
        if not isinstance(error, AuthFailure):  # an Authlib error we did not anticipate
            error = MissingCredentials(reason=getattr(error, "error", "refused"))
        context = error.context
        logger.info(
            "auth refused route=%s status=%d reason=%s kid=%s iss=%s",
            _field(request.path), error.status_code, error.reason,
            _field(context.get("kid")), _field(context.get("iss")),
        )
        raise AuthErrorResponse(error)
