"""``flask --app app token``: print a local access token alone on stdout, for curl and Swagger UI."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from .routes import EXTENSION
from .server import LOCAL_USER
from .tokens import DEFAULT_LIFETIME


@click.command("token")
@click.option("--scope", "scope", default=None,
              help='Space-separated scopes to grant; "" for none. Only the API\'s declared scopes, all by default.')
@click.option("--sub", "subject", default=LOCAL_USER, show_default=True, help="The token's subject.")
@click.option("--expires-in", "expires_in", default=DEFAULT_LIFETIME, show_default=True,
              type=click.IntRange(1, 30 * 24 * 3600), help="Lifetime in seconds.")
@with_appcontext
def token_command(scope: str | None, subject: str, expires_in: int) -> None:
    """Mint an access token from the embedded local issuer (local mode only)."""
    issuer = current_app.extensions.get(EXTENSION)
    if issuer is None:
        raise click.ClickException(
            "a token provider is configured (AUTH0_DOMAIN or AUTH_ISSUER): get tokens from it, not locally"
        )
    scopes = issuer.scopes if scope is None else scope.split()
    unknown = [s for s in scopes if s not in issuer.scopes]
    if unknown:
        raise click.BadParameter(f"unknown scope(s) {' '.join(unknown)}; declared: {' '.join(issuer.scopes)}",
                                 param_hint="--scope")
    click.echo(issuer.mint(subject=subject, scopes=scopes, expires_in=expires_in))
