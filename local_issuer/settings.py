"""The settings the local issuer reads: its client's id and secret (LOCAL_CLIENT_*). Parsed and checked at
start-up (see the config package); the issuer, audience and DPoP rules are the API's (security.settings)."""

from __future__ import annotations

from dataclasses import dataclass, field

from config import ConfigError, Env, read_text

__all__ = ["LocalIssuerSettings"]


@dataclass(frozen=True)
class LocalIssuerSettings:
    client_id: str = "local-swagger-ui"
    client_secret: str | None = field(default=None, repr=False)  # None: one generated into the instance folder

    @classmethod
    def from_env(cls, env: Env) -> LocalIssuerSettings:
        return cls(client_id=read_text(env, "LOCAL_CLIENT_ID") or cls.client_id, client_secret=_client_secret(env))


def _client_secret(env: Env) -> str | None:
    secret = read_text(env, "LOCAL_CLIENT_SECRET")
    if secret is not None and (len(secret) < 16 or not secret.isprintable() or " " in secret):
        raise ConfigError("LOCAL_CLIENT_SECRET must be at least 16 printable characters without spaces")
    return secret
