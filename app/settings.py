"""Settings read from the environment (and `.env`), checked once at start-up.

Every variable is parsed here so that a bad value stops the process with one line
naming the variable, instead of failing later on a request.
"""

from __future__ import annotations

import ipaddress
from dataclasses import MISSING, dataclass, field, fields
from typing import Mapping
from urllib.parse import urlsplit

from security.dpop import DEFAULT_ALGORITHMS as DPOP_DEFAULT_ALGORITHMS
from security.schemes import DPOP_MODES
from security.net import is_loopback_host
from security.nonce import MIN_SECRET_LENGTH as DPOP_MIN_NONCE_SECRET
from security.proof_keys import SUPPORTED_ALGORITHMS as DPOP_ALGORITHMS
from storage import DEFAULT_BUSY_TIMEOUT, IDEMPOTENCY_KEY_TTL, check_url

from .hosts import HostRule

DEFAULT_PORT = 3010
LOOPBACK = "127.0.0.1"
#: TRUSTED_HOSTS in local mode, unless set: the loopback names, on any port.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
LOCAL_CLIENT_ID = "local-swagger-ui"
# The longest a request may wait on the issuer for keys (AUTH_JWKS_TIMEOUT): well below the worker
# timeout (30 s in gunicorn.conf.py), so a hanging issuer costs a slow 503, never a killed worker.
MAX_JWKS_TIMEOUT = 10.0
# The longest a request may wait for another writer's SQLite lock (DATABASE_BUSY_TIMEOUT), for the same reason.
MAX_DATABASE_BUSY_TIMEOUT = 10.0
# The longest AUTH_DPOP_IAT_WINDOW: every proof is remembered that long (replays), and a longer window
# only helps whoever captured a proof.
MAX_DPOP_IAT_WINDOW = 3600

# Asymmetric signature algorithms only: a key set holds public keys, so HS* and
# "none" can never be accepted against it.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"}
)


class ConfigError(SystemExit):
    """A bad setting. A SystemExit, so an uncaught one prints its single line and exits 1."""

    def __init__(self, message: str):
        super().__init__(f"configuration error: {message}")
        self.message = message


@dataclass(frozen=True)
class Settings:
    """Everything the app is configured with, already validated."""

    issuer: str  # exact `iss` value; ends with "/" for Auth0. The first of ``issuers``: the docs' login uses it
    audience: str  # the first of ``audiences``: the local issuer and the docs' login ask for it
    uses_local_issuer: bool  # no provider is configured: the embedded local issuer signs the tokens
    uses_auth0_paths: bool = False  # the issuer came from AUTH0_DOMAIN: Auth0's well-known endpoint paths apply
    jwks_url: str | None = None
    algorithms: tuple[str, ...] = ("RS256",)
    leeway: int = 5
    jwks_cache_ttl: float = 600.0
    jwks_cooldown: float = 30.0
    jwks_timeout: float = 5.0
    token_cache_size: int = 10_000
    token_cache_ttl: float = 300.0
    cors_origins: tuple[str, ...] = ()
    port: int = DEFAULT_PORT
    bind_host: str = LOOPBACK  # where `make serve` listens
    log_level: str = "INFO"
    trusted_proxies: int = 0
    trusted_proxy_headers: frozenset[str] = frozenset()  # of FORWARDED_EXTRAS
    trusted_hosts: tuple[str, ...] | None = None  # app.hosts.HostRule texts; None: any host is answered
    swagger_ui_client_id: str | None = None
    local_client_id: str = LOCAL_CLIENT_ID
    local_client_secret: str | None = None
    database_url: str | None = None  # None: the SQLite file in the instance folder (storage.default_url)
    database_busy_timeout: float = DEFAULT_BUSY_TIMEOUT
    idempotency_key_ttl: int = IDEMPOTENCY_KEY_TTL  # seconds an Idempotency-Key is remembered
    # Several issuers and audiences: a token's iss must be one of ``issuers``, its aud contain one of ``audiences``.
    issuers: tuple[str, ...] = ()  # () means (issuer,)
    audiences: tuple[str, ...] = ()  # () means (audience,)
    # DPoP (RFC 9449): AUTH_DPOP_*
    dpop: str = "allowed"  # one of DPOP_MODES
    dpop_algorithms: tuple[str, ...] = DPOP_DEFAULT_ALGORITHMS
    dpop_iat_window: int = 300
    dpop_replay_url: str | None = field(default=None, repr=False)  # may hold a Redis password
    dpop_nonce: bool = False
    dpop_nonce_secret: str | None = field(default=None, repr=False)

    def __post_init__(self):
        if not self.issuers:
            object.__setattr__(self, "issuers", (self.issuer,))
        if not self.audiences:
            object.__setattr__(self, "audiences", (self.audience,))


#: Each setting's default, written once on its field above; load_settings falls back to these.
DEFAULTS = {field.name: field.default for field in fields(Settings) if field.default is not MISSING}


def _text(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def _number(env, name, default, *, kind=float, minimum=0):
    raw = _text(env, name)
    if raw is None:
        return default
    try:
        value = kind(raw)
    except ValueError:
        noun = "a whole number" if kind is int else "a number"
        raise ConfigError(f"{name} must be {noun}, got {raw!r}") from None
    if value != value or value in (float("inf"), float("-inf")) or value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {raw!r}")
    return value


def _checked_url(name: str, url: str) -> str:
    """An https URL, or http on a loopback host (local work and tests)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{name} must be an absolute https URL, got {url!r}")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ConfigError(f"{name} must use https (http is allowed only for loopback hosts), got {url!r}")
    if parts.query or parts.fragment:
        raise ConfigError(f"{name} must not carry a query or fragment, got {url!r}")
    return url


def _list(env, name: str) -> tuple[str, ...]:
    """A comma-separated variable's items, stripped, duplicates dropped, in order."""
    raw = _text(env, name)
    if raw is None:
        return ()
    return tuple(dict.fromkeys(item.strip() for item in raw.split(",") if item.strip()))


def _issuers(env) -> tuple[str, ...]:
    """AUTH_ISSUER's URLs, or else one Auth0 issuer per AUTH0_DOMAIN host; () when neither is set."""
    issuers = _list(env, "AUTH_ISSUER")
    if issuers:
        return tuple(_checked_url("AUTH_ISSUER", issuer) for issuer in issuers)
    return tuple(_checked_url("AUTH0_DOMAIN", f"https://{_auth0_host(domain)}/") for domain in _list(env, "AUTH0_DOMAIN"))


def _auth0_host(domain: str) -> str:
    host = domain.removeprefix("https://").rstrip("/")
    if not host or "/" in host or " " in host:
        raise ConfigError(f"AUTH0_DOMAIN must list host names such as 'tenant.eu.auth0.com', got {host!r}")
    return host


def _algorithms(env) -> tuple[str, ...]:
    raw = _text(env, "AUTH_ALGORITHMS")
    if raw is None:
        return DEFAULTS["algorithms"]
    names = tuple(dict.fromkeys(a.strip() for a in raw.split(",") if a.strip()))
    refused = [a for a in names if a not in ASYMMETRIC_ALGORITHMS]
    if not names or refused:
        allowed = ", ".join(sorted(ASYMMETRIC_ALGORITHMS))
        raise ConfigError(f"AUTH_ALGORITHMS accepts only asymmetric algorithms ({allowed}), got {raw!r}")
    return names


def _origins(env) -> tuple[str, ...]:
    raw = _text(env, "CORS_ORIGINS")
    if raw is None:
        return ()
    origins = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
    for origin in origins:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path:
            raise ConfigError(f"CORS_ORIGINS must list origins such as 'https://app.example.com', got {origin!r}")
    return origins


def _client_secret(env) -> str | None:
    secret = _text(env, "LOCAL_CLIENT_SECRET")
    if secret is not None and (len(secret) < 16 or not secret.isprintable() or " " in secret):
        raise ConfigError("LOCAL_CLIENT_SECRET must be at least 16 printable characters without spaces")
    return secret


def _database_url(env) -> str | None:
    url = _text(env, "DATABASE_URL")
    if url is not None:
        try:
            check_url(url)
        except ValueError as error:  # its sentence never repeats the URL, which may hold a password
            raise ConfigError(f"DATABASE_URL: {error}") from None
    return url


def _busy_timeout(env) -> float:
    seconds = _number(env, "DATABASE_BUSY_TIMEOUT", DEFAULTS["database_busy_timeout"], minimum=0)
    if seconds > MAX_DATABASE_BUSY_TIMEOUT:
        raise ConfigError(f"DATABASE_BUSY_TIMEOUT must be at most {MAX_DATABASE_BUSY_TIMEOUT:g} seconds "
                          f"(well below the worker timeout), got {_text(env, 'DATABASE_BUSY_TIMEOUT')!r}")
    return seconds


def _bind_host(env, local: bool) -> str:
    """BIND_HOST, an IP address; by default loopback in local mode (a development issuer is trusted)."""
    raw = _text(env, "BIND_HOST")
    if raw is None:
        return LOOPBACK if local else "0.0.0.0"
    try:
        return str(ipaddress.ip_address(raw.strip("[]")))
    except ValueError:
        raise ConfigError(f"BIND_HOST must be an IP address such as 127.0.0.1 or 0.0.0.0, got {raw!r}") from None


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

#: Forwarded values believed only when named in TRUSTED_PROXY_HEADERS (X-Forwarded-Host/-Port/-Prefix).
FORWARDED_EXTRAS = ("host", "port", "prefix")


def _trusted_proxy_headers(env, trusted_proxies: int) -> frozenset[str]:
    raw = _text(env, "TRUSTED_PROXY_HEADERS")
    if raw is None:
        return frozenset()
    names = frozenset(n.strip().lower() for n in raw.split(",") if n.strip())
    if not names or not names <= set(FORWARDED_EXTRAS):
        raise ConfigError(f"TRUSTED_PROXY_HEADERS lists only {', '.join(FORWARDED_EXTRAS)}, got {raw!r}")
    if not trusted_proxies:
        raise ConfigError("TRUSTED_PROXY_HEADERS needs TRUSTED_PROXIES of at least 1 (a proxy to trust)")
    return names


def _trusted_hosts(env, local: bool) -> tuple[str, ...] | None:
    """TRUSTED_HOSTS' entries, normalised; unset: the loopback names in local mode, any host with a provider."""
    if _text(env, "TRUSTED_HOSTS") is None:
        return LOOPBACK_HOSTS if local else None
    rules = []
    for item in _list(env, "TRUSTED_HOSTS"):
        try:
            rules.append(str(HostRule.parse(item)))
        except ValueError as error:
            raise ConfigError(f"TRUSTED_HOSTS lists host names such as api.example.com, .example.com (its "
                              f"subdomains too) or 10.0.0.5:8080, comma-separated; {item[:80]!r}: {error}") from None
    if not rules:
        raise ConfigError(f"TRUSTED_HOSTS lists no host name, got {_text(env, 'TRUSTED_HOSTS')!r}")
    return tuple(dict.fromkeys(rules))


def _dpop_algorithms(env) -> tuple[str, ...]:
    if _text(env, "AUTH_DPOP_ALGORITHMS") is None:
        return DEFAULTS["dpop_algorithms"]
    names = _list(env, "AUTH_DPOP_ALGORITHMS")
    refused = [a for a in names if a not in DPOP_ALGORITHMS]
    if not names or refused:
        allowed = ", ".join(DPOP_ALGORITHMS)
        raise ConfigError(f"AUTH_DPOP_ALGORITHMS accepts only asymmetric algorithms ({allowed}), "
                          f"got {_text(env, 'AUTH_DPOP_ALGORITHMS')!r}")
    return names


def _dpop_replay_url(env) -> str | None:
    """A redis:// (or rediss://) URL; the value itself is never echoed: it may hold a password."""
    url = _text(env, "AUTH_DPOP_REPLAY_URL")
    if url is None:
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError unless the port is a number in range
    except ValueError:
        parts = None
    database = parts.path.strip("/") if parts else ""
    if parts is None or parts.scheme not in ("redis", "rediss") or not parts.hostname or not (
            database == "" or database.isdigit()):
        raise ConfigError("AUTH_DPOP_REPLAY_URL must be a Redis URL such as redis://host:6379/0")
    return url


def _dpop_nonce(env, mode: str) -> bool:
    raw = (_text(env, "AUTH_DPOP_NONCE") or ("on" if DEFAULTS["dpop_nonce"] else "off")).lower()
    if raw not in ("on", "off"):
        raise ConfigError(f"AUTH_DPOP_NONCE must be on or off, got {raw!r}")
    if raw == "on" and mode == "off":
        raise ConfigError("AUTH_DPOP_NONCE=on needs AUTH_DPOP set to allowed or required")
    return raw == "on"


def _dpop_nonce_secret(env) -> str | None:
    secret = _text(env, "AUTH_DPOP_NONCE_SECRET")
    if secret is not None and len(secret) < DPOP_MIN_NONCE_SECRET:
        raise ConfigError(f"AUTH_DPOP_NONCE_SECRET must be at least {DPOP_MIN_NONCE_SECRET} characters")
    return secret


def load_settings(env: Mapping[str, str]) -> Settings:
    """Build Settings from environment-like variables, or raise ConfigError naming the variable."""
    port = _number(env, "PORT", DEFAULTS["port"], kind=int, minimum=1)
    if port > 65535:
        raise ConfigError(f"PORT must be at most 65535, got {port}")

    issuers = _issuers(env)
    audiences = _list(env, "AUTH0_AUDIENCE") or _list(env, "API_IDENTIFIER")
    uses_local_issuer = not issuers
    if uses_local_issuer:
        issuers = (f"http://127.0.0.1:{port}/",)
        audiences = audiences or (f"{issuers[0]}api",)
    elif not audiences:
        raise ConfigError("AUTH0_AUDIENCE (or API_IDENTIFIER) must be set to the API identifier when a provider is configured")

    jwks_url = _text(env, "AUTH_JWKS_URL")
    if jwks_url:
        jwks_url = _checked_url("AUTH_JWKS_URL", jwks_url)
        if len(issuers) > 1:
            raise ConfigError("AUTH_JWKS_URL names one key set: with several issuers, leave it unset "
                              "(each issuer's keys are found through its own discovery)")

    dpop = (_text(env, "AUTH_DPOP") or DEFAULTS["dpop"]).lower()
    if dpop not in DPOP_MODES:
        raise ConfigError(f"AUTH_DPOP must be one of {', '.join(DPOP_MODES)}, got {dpop!r}")
    dpop_iat_window = _number(env, "AUTH_DPOP_IAT_WINDOW", DEFAULTS["dpop_iat_window"], kind=int, minimum=1)
    if dpop_iat_window > MAX_DPOP_IAT_WINDOW:
        raise ConfigError(f"AUTH_DPOP_IAT_WINDOW must be at most {MAX_DPOP_IAT_WINDOW} seconds, got {dpop_iat_window}")

    trusted_proxies = _number(env, "TRUSTED_PROXIES", DEFAULTS["trusted_proxies"], kind=int)
    jwks_timeout = _number(env, "AUTH_JWKS_TIMEOUT", DEFAULTS["jwks_timeout"], minimum=0.1)
    if jwks_timeout > MAX_JWKS_TIMEOUT:
        raise ConfigError(f"AUTH_JWKS_TIMEOUT must be at most {MAX_JWKS_TIMEOUT:g} seconds "
                          f"(well below the worker timeout), got {_text(env, 'AUTH_JWKS_TIMEOUT')!r}")

    log_level = (_text(env, "LOG_LEVEL") or DEFAULTS["log_level"]).upper()
    if log_level not in LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}")

    return Settings(
        issuer=issuers[0],
        audience=audiences[0],
        issuers=issuers,
        audiences=audiences,
        uses_local_issuer=uses_local_issuer,
        uses_auth0_paths=not uses_local_issuer and not _text(env, "AUTH_ISSUER"),
        jwks_url=jwks_url,
        algorithms=_algorithms(env),
        leeway=_number(env, "AUTH_LEEWAY", DEFAULTS["leeway"], kind=int),
        jwks_cache_ttl=_number(env, "AUTH_JWKS_CACHE_TTL", DEFAULTS["jwks_cache_ttl"], minimum=1),
        jwks_cooldown=_number(env, "AUTH_JWKS_COOLDOWN", DEFAULTS["jwks_cooldown"], minimum=1),
        jwks_timeout=jwks_timeout,
        token_cache_size=_number(env, "AUTH_TOKEN_CACHE_SIZE", DEFAULTS["token_cache_size"], kind=int),
        token_cache_ttl=_number(env, "AUTH_TOKEN_CACHE_TTL", DEFAULTS["token_cache_ttl"]),
        cors_origins=_origins(env),
        port=port,
        bind_host=_bind_host(env, uses_local_issuer),
        log_level=log_level,
        trusted_proxies=trusted_proxies,
        trusted_proxy_headers=_trusted_proxy_headers(env, trusted_proxies),
        trusted_hosts=_trusted_hosts(env, uses_local_issuer),
        swagger_ui_client_id=_text(env, "SWAGGER_UI_OAUTH_CLIENT_ID"),
        local_client_id=_text(env, "LOCAL_CLIENT_ID") or DEFAULTS["local_client_id"],
        local_client_secret=_client_secret(env),
        database_url=_database_url(env),
        database_busy_timeout=_busy_timeout(env),
        idempotency_key_ttl=_number(env, "IDEMPOTENCY_KEY_TTL", DEFAULTS["idempotency_key_ttl"], kind=int, minimum=1),
        dpop=dpop,
        dpop_algorithms=_dpop_algorithms(env),
        dpop_iat_window=dpop_iat_window,
        dpop_replay_url=_dpop_replay_url(env),
        dpop_nonce=_dpop_nonce(env, dpop),
        dpop_nonce_secret=_dpop_nonce_secret(env),
    )
