"""Bearer-token protection: key set, validator, protector and its refusals. No Flask-RESTX here."""

from authlib.integrations.flask_oauth2 import current_token

from .errors import AuthFailure, InsufficientScope, InvalidToken, MissingCredentials, SigningKeysUnavailable
from .keys import KeySetCache
from .owner import Owner
from .protector import BearerProtector
from .validator import AccessToken, AccessTokenValidator

#: The decorator routes use: ``@require_auth()`` for any valid token, ``@require_auth("read:orders")`` for a scope,
#: ``@require_auth(any_of=["write:orders", "admin:orders"])`` for any one of several.
require_auth = BearerProtector()

__all__ = [
    "AccessToken", "AccessTokenValidator", "AuthFailure",
    "BearerProtector", "InsufficientScope", "InvalidToken", "KeySetCache", "MissingCredentials", "Owner",
    "SigningKeysUnavailable", "current_token", "require_auth",
]
