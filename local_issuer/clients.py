"""The one client the local issuer knows: Swagger UI (code + PKCE) and curl (client credentials)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import ClientMixin

from security.net import is_loopback_host

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # RFC 8693's grant type


@dataclass(frozen=True)
class LocalClient(ClientMixin):
    client_id: str
    client_secret: str = field(repr=False)
    #: The app's OAuth2 redirect page at the host and prefix of the current request (the app knows where).
    redirect_uri: Callable[[], str] = field(repr=False)

    GRANT_TYPES = ("authorization_code", "client_credentials", TOKEN_EXCHANGE)

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uri()

    def get_allowed_scope(self, scope) -> str:
        # unknown scopes were refused already (invalid_scope); nothing requested means nothing granted
        return scope or ""

    def check_redirect_uri(self, redirect_uri) -> bool:
        """Only the app's own redirect page on a loopback host: codes never leave the machine."""
        if not redirect_uri or redirect_uri != self.redirect_uri():
            return False
        return is_loopback_host(urlsplit(redirect_uri).hostname)

    def check_client_secret(self, client_secret) -> bool:
        return hmac.compare_digest(str(client_secret).encode(), self.client_secret.encode())

    def check_endpoint_auth_method(self, method, endpoint) -> bool:
        # "none" (a public client, as Swagger UI is) only where the grant allows it: code + PKCE
        return method in ("client_secret_basic", "client_secret_post", "none")

    def check_response_type(self, response_type) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type) -> bool:
        return grant_type in self.GRANT_TYPES
