"""The embedded local issuer: an OAuth2 server on loopback, used when no provider is configured.

It lets Swagger UI and curl get real access tokens on a laptop with no tenant and no network. The
API validates them exactly like provider tokens: same KeySetCache, validator and protector; the
cache simply takes its JWKS from ``LocalIssuer.jwks`` instead of over HTTP.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from flask import Flask

from security.settings import AuthSettings, DPoPSettings

from .cli import dpop_proof_command, dpop_token_command, token_command
from .clients import LocalClient
from .dpop import TokenRequestProofs
from .routes import EXTENSION, blueprint
from .server import LocalAuthorizationServer
from .settings import LocalIssuerSettings
from .signing_key import UnusableFile, load_or_create_key, load_or_create_secret
from .tokens import DEFAULT_LIFETIME, mint, read

__all__ = ["LocalIssuer", "UnusableFile", "install_cli", "local_mode_note", "token_command"]


def local_mode_note(auth: AuthSettings) -> str:
    """What a server says once as it starts in local mode. Said by the servers (``python -m app``, gunicorn's
    master), not by building the app, so that ``make token`` and the other commands stay quiet."""
    return (f"no token provider configured: this API trusts the embedded local development issuer {auth.issuer} "
            f"(audience {auth.audience}); get tokens at {auth.issuer}docs or with `make token`; set AUTH0_DOMAIN "
            "and AUTH0_AUDIENCE (or AUTH_ISSUER) to trust Auth0 instead")


class LocalIssuer:
    """The key, the client and the authorization server of the local issuer, for one app."""

    def __init__(self, settings: LocalIssuerSettings, auth: AuthSettings, dpop: DPoPSettings, instance: Path, *,
                 scopes: list[str], redirect_uri: Callable[[], str]):
        """``settings`` are its client's id and secret, ``auth`` and ``dpop`` the API's (the issuer and audience
        tokens are minted for, the DPoP rules); ``scopes`` are the API's: the only ones this issuer grants, and
        ``make token``'s default; ``redirect_uri()`` is the app's OAuth2 redirect page for the current request,
        the only one codes are sent to.

        Raises UnusableFile when the key or secret in ``instance`` cannot be created or read.
        """
        self.auth = auth
        self.dpop_mode = dpop.mode
        self.scopes = list(scopes)
        self.key = load_or_create_key(instance)
        secret = settings.client_secret or load_or_create_secret(instance)
        self.client = LocalClient(settings.client_id, secret, redirect_uri)
        self.dpop = TokenRequestProofs.from_settings(auth, dpop)
        self.server = LocalAuthorizationServer(self.client, self.mint, self.scopes, self.dpop, self.read)

    def jwks(self) -> dict:
        """The public JWKS: what /.well-known/jwks.json serves and what the API's key cache loads."""
        return {"keys": [self.key.as_dict(private=False)]}

    def mint(self, *, subject: str, scopes=(), expires_in: int = DEFAULT_LIFETIME, jkt: str | None = None,
             login: dict | None = None) -> str:
        """``login``: claims about the login behind the token (``acr``, ``auth_time``, named as the API reads
        them: ``AUTH_STEP_UP_CLAIM_NAMESPACE``) and who acts for its subject (``act``)."""
        claim = self.auth.step_up.claim
        named = {name if name == "act" else claim(name): value for name, value in (login or {}).items()}
        return mint(self.key, issuer=self.auth.issuer, audience=self.auth.audience, subject=subject,
                    client_id=self.client.client_id, scopes=list(scopes), expires_in=expires_in, jkt=jkt, login=named)

    def read(self, token: str) -> dict | None:
        """The claims of an access token this issuer minted that is still valid; None for any other."""
        return read(self.key, token, issuer=self.auth.issuer, audience=self.auth.audience)

    def init_app(self, app: Flask) -> None:
        app.extensions[EXTENSION] = self
        logging.getLogger("authlib").setLevel(logging.INFO)  # Authlib logs issued tokens at DEBUG
        app.register_blueprint(blueprint)


def install_cli(app: Flask) -> None:
    """The commands exist in both modes: ``token`` and ``dpop-token`` say why they refuse in provider mode, and
    ``dpop-proof`` signs proofs for any issuer's tokens bound to the curl key."""
    for command in (token_command, dpop_token_command, dpop_proof_command):
        app.cli.add_command(command)
