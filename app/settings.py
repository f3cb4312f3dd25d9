"""Settings read from the environment (and `.env`), checked once at start-up.

Each package declares and checks the settings it reads, next to its code (security/settings.py,
storage/settings.py, local_issuer/settings.py, with the helpers of the config package); this module
reads the serving ones and composes them all into ``Settings``. A bad value stops the process with one
line naming the variable, instead of failing later on a request.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from config import ConfigError, Env, read_list, read_text, read_whole_number
from local_issuer.settings import LocalIssuerSettings
from metrics.settings import metrics_on
from security.settings import AuthSettings, DPoPSettings
from storage.settings import StorageSettings

from .hosts import HostRule

__all__ = ["ConfigError", "Settings", "load_settings"]

DEFAULT_PORT = 3010
LOOPBACK = "127.0.0.1"
#: TRUSTED_HOSTS in local mode, unless set: the loopback names, on any port.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


@dataclass(frozen=True)
class Settings:
    """Everything the app is configured with, already validated: each package's section, and how it is served.
    Defaults are written once, on the fields."""

    auth: AuthSettings
    dpop: DPoPSettings
    storage: StorageSettings
    local_issuer: LocalIssuerSettings
    port: int = DEFAULT_PORT
    bind_host: str = LOOPBACK  # where `make serve` listens
    log_level: str = "INFO"
    log_format: str = "text"  # of LOG_FORMATS
    metrics: bool = False  # METRICS: /metrics served, requests timed
    cors_origins: tuple[str, ...] = ()
    trusted_proxies: int = 0
    trusted_proxy_headers: frozenset[str] = frozenset()  # of FORWARDED_EXTRAS
    trusted_hosts: tuple[str, ...] | None = None  # app.hosts.HostRule texts; None: any host is answered
    swagger_ui_client_id: str | None = None


def _origins(env: Env) -> tuple[str, ...]:
    raw = read_text(env, "CORS_ORIGINS")
    if raw is None:
        return ()
    origins = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
    for origin in origins:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path:
            raise ConfigError(f"CORS_ORIGINS must list origins such as 'https://app.example.com', got {origin!r}")
    return origins


def _bind_host(env: Env, local: bool) -> str:
    """BIND_HOST, an IP address; by default loopback in local mode (a development issuer is trusted)."""
    raw = read_text(env, "BIND_HOST")
    if raw is None:
        return LOOPBACK if local else "0.0.0.0"
    try:
        return str(ipaddress.ip_address(raw.strip("[]")))
    except ValueError:
        raise ConfigError(f"BIND_HOST must be an IP address such as 127.0.0.1 or 0.0.0.0, got {raw!r}") from None


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
#: text: one line per record, as a person reads it; json: one JSON object per line (app/logs.py).
LOG_FORMATS = ("text", "json")

#: Forwarded values believed only when named in TRUSTED_PROXY_HEADERS (X-Forwarded-Host/-Port/-Prefix).
FORWARDED_EXTRAS = ("host", "port", "prefix")


def _trusted_proxy_headers(env: Env, trusted_proxies: int) -> frozenset[str]:
    raw = read_text(env, "TRUSTED_PROXY_HEADERS")
    if raw is None:
        return frozenset()
    names = frozenset(n.strip().lower() for n in raw.split(",") if n.strip())
    if not names or not names <= set(FORWARDED_EXTRAS):
        raise ConfigError(f"TRUSTED_PROXY_HEADERS lists only {', '.join(FORWARDED_EXTRAS)}, got {raw!r}")
    if not trusted_proxies:
        raise ConfigError("TRUSTED_PROXY_HEADERS needs TRUSTED_PROXIES of at least 1 (a proxy to trust)")
    return names


def _trusted_hosts(env: Env, local: bool) -> tuple[str, ...] | None:
    """TRUSTED_HOSTS' entries, normalised; unset: the loopback names in local mode, any host with a provider."""
    if read_text(env, "TRUSTED_HOSTS") is None:
        return LOOPBACK_HOSTS if local else None
    rules: list[str] = []
    for item in read_list(env, "TRUSTED_HOSTS"):
        try:
            rules.append(str(HostRule.parse(item)))
        except ValueError as error:
            raise ConfigError(f"TRUSTED_HOSTS lists host names such as api.example.com, .example.com (its "
                              f"subdomains too) or 10.0.0.5:8080, comma-separated; {item[:80]!r}: {error}") from None
    if not rules:
        raise ConfigError(f"TRUSTED_HOSTS lists no host name, got {read_text(env, 'TRUSTED_HOSTS')!r}")
    return tuple(dict.fromkeys(rules))


def load_settings(env: Env) -> Settings:
    """Build Settings from environment-like variables, or raise ConfigError naming the variable."""
    port = read_whole_number(env, "PORT", Settings.port, minimum=1)
    if port > 65535:
        raise ConfigError(f"PORT must be at most 65535, got {port}")
    auth = AuthSettings.from_env(env, local_issuer=f"http://{LOOPBACK}:{port}/")
    dpop = DPoPSettings.from_env(env)

    trusted_proxies = read_whole_number(env, "TRUSTED_PROXIES", Settings.trusted_proxies)
    log_level = (read_text(env, "LOG_LEVEL") or Settings.log_level).upper()
    if log_level not in LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}")
    log_format = (read_text(env, "LOG_FORMAT") or Settings.log_format).lower()
    if log_format not in LOG_FORMATS:
        raise ConfigError(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, got {log_format!r}")

    return Settings(
        auth=auth,
        dpop=dpop,
        storage=StorageSettings.from_env(env),
        local_issuer=LocalIssuerSettings.from_env(env),
        port=port,
        bind_host=_bind_host(env, auth.uses_local_issuer),
        log_level=log_level,
        log_format=log_format,
        metrics=metrics_on(env),
        cors_origins=_origins(env),
        trusted_proxies=trusted_proxies,
        trusted_proxy_headers=_trusted_proxy_headers(env, trusted_proxies),
        trusted_hosts=_trusted_hosts(env, auth.uses_local_issuer),
        swagger_ui_client_id=read_text(env, "SWAGGER_UI_OAUTH_CLIENT_ID"),
    )
