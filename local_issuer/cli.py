"""Commands for curl users: ``flask --app app token`` (``make token``) prints a local access token alone on
stdout; ``dpop-token`` and ``dpop-proof`` (``make dpop-token``, ``make dpop-proof``) do the same for DPoP:
a token bound to the key in ``instance/dpop-client-key.pem``, and a fresh proof for one request."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import click
from flask import current_app
from flask.cli import with_appcontext

from security.schemes import OFF, REQUIRED
from security.scopes import scope_tokens

from .dpop_client import load_or_create_client_key, proof
from .routes import EXTENSION
from .server import LOCAL_USER
from .signing_key import UnusableFile
from .tokens import DEFAULT_LIFETIME

if TYPE_CHECKING:
    from . import LocalIssuer


def _token_options(command):
    """--scope, --sub, --expires-in, the login's --acr and --auth-time, and --act, the same for a Bearer and a
    DPoP token."""
    options = [
        click.option("--scope", "scope", default=None,
                     help='Space-separated scopes to grant; "" for none. Only the API\'s declared scopes, '
                          'all by default.'),
        click.option("--sub", "subject", default=LOCAL_USER, show_default=True, help="The token's subject."),
        click.option("--expires-in", "expires_in", default=DEFAULT_LIFETIME, show_default=True,
                     type=click.IntRange(1, 30 * 24 * 3600), help="Lifetime in seconds."),
        click.option("--acr", "acr", default=None,
                     help="The login's authentication context class (acr), e.g. the one AUTH_STEP_UP_ACR asks for."),
        click.option("--auth-time", "auth_time", default=None, type=AUTH_TIME,
                     help='When the login happened (auth_time): epoch seconds, "now", or "-N" for N seconds ago.'),
        click.option("--act", "actor", default=None,
                     help="Who acts for the subject (act.sub, RFC 8693 §4.1): a delegated token, e.g. an agent's."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


class _AuthTime(click.ParamType):
    """Epoch seconds, ``now``, or ``-N`` (N seconds ago)."""

    name = "auth_time"

    def convert(self, value, param, ctx) -> int:
        if isinstance(value, int):
            return value
        now = int(time.time())
        if value == "now":
            return now
        if re.fullmatch(r"-[0-9]{1,9}", value):
            return now + int(value)
        if re.fullmatch(r"[0-9]{1,12}", value):
            return int(value)
        self.fail(f'epoch seconds, "now" or "-N" (N seconds ago), got {value!r}', param, ctx)


AUTH_TIME = _AuthTime()


def _login(acr: str | None, auth_time: int | None, actor: str | None) -> dict:
    """The login claims asked for on the command line."""
    for name, value in (("--acr", acr), ("--act", actor)):
        if value is not None and (not value or not value.isprintable()):
            raise click.BadParameter("a printable value", param_hint=name)
    login: dict = {name: value for name, value in (("acr", acr), ("auth_time", auth_time)) if value is not None}
    if actor is not None:
        login["act"] = {"sub": actor}
    return login


def _mint(scope: str | None, subject: str, expires_in: int, jkt: str | None = None, login: dict | None = None) -> str:
    issuer: LocalIssuer | None = current_app.extensions.get(EXTENSION)
    if issuer is None:
        raise click.ClickException(
            "a token provider is configured (AUTH0_DOMAIN or AUTH_ISSUER): get tokens from it, not locally"
        )
    if jkt is None and issuer.dpop_mode == REQUIRED:
        raise click.ClickException("AUTH_DPOP=required: the API takes DPoP tokens only; use `make dpop-token`")
    if jkt is not None and issuer.dpop_mode == OFF:
        raise click.ClickException("AUTH_DPOP=off: the API takes Bearer tokens only; use `make token`")
    scopes = issuer.scopes if scope is None else scope_tokens(scope)
    unknown = [s for s in scopes if s not in issuer.scopes]
    if unknown:
        raise click.BadParameter(f"unknown scope(s) {' '.join(unknown)}; declared: {' '.join(issuer.scopes)}",
                                 param_hint="--scope")
    return issuer.mint(subject=subject, scopes=scopes, expires_in=expires_in, jkt=jkt, login=login)


def _client_key():
    try:
        return load_or_create_client_key(Path(current_app.instance_path))
    except UnusableFile as error:
        raise click.ClickException(str(error)) from None


@click.command("token")
@_token_options
@with_appcontext
def token_command(scope: str | None, subject: str, expires_in: int, acr: str | None, auth_time: int | None,
                  actor: str | None) -> None:
    """Mint an access token from the embedded local issuer (local mode only)."""
    click.echo(_mint(scope, subject, expires_in, login=_login(acr, auth_time, actor)))


@click.command("dpop-token")
@_token_options
@with_appcontext
def dpop_token_command(scope: str | None, subject: str, expires_in: int, acr: str | None,
                       auth_time: int | None, actor: str | None) -> None:
    """Mint a DPoP-bound access token (cnf.jkt) for this project's curl key (local mode only)."""
    click.echo(_mint(scope, subject, expires_in, jkt=_client_key().thumbprint(), login=_login(acr, auth_time, actor)))


def _http_url(context, parameter, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise click.BadParameter(f"an absolute http(s) URL, got {url!r}")
    return url


@click.command("dpop-proof")
@click.argument("method")
@click.argument("url", callback=_http_url)
@click.argument("access_token", required=False)
@click.option("--nonce", default=None, help="The server's DPoP-Nonce, when it asks for one (use_dpop_nonce).")
@with_appcontext
def dpop_proof_command(method: str, url: str, access_token: str | None, nonce: str | None) -> None:
    """Sign a DPoP proof for one request (METHOD URL) with this project's curl key; with ACCESS_TOKEN, bound to
    it (ath). A proof is accepted once: make a new one for every request. Works with any issuer's tokens."""
    if not method.isalpha():
        raise click.BadParameter(f"an HTTP method such as GET, got {method!r}", param_hint="METHOD")
    click.echo(proof(_client_key(), method, url, access_token=access_token, nonce=nonce))
