"""The settings security reads: the trusted issuers and audiences, how their keys and tokens are checked
(AUTH_*, AUTH0_*), and DPoP (AUTH_DPOP*). Parsed and checked at start-up (see the config package).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from flask import current_app

from config import ConfigError, Env, read_list, read_number, read_text, read_whole_number

from .dpop import DEFAULT_ALGORITHMS as DPOP_DEFAULT_ALGORITHMS
from .net import is_loopback_host
from .nonce import MIN_SECRET_LENGTH as DPOP_MIN_NONCE_SECRET
from .proof_keys import SUPPORTED_ALGORITHMS as DPOP_ALGORITHMS
from .schemes import ALLOWED, DPOP_MODES, OFF, Schemes
from .step_up import NO_STEP_UP, StepUp

__all__ = ["AUTH_SETTINGS", "AuthSettings", "DPoPSettings", "current_auth_settings"]

# The longest a request may wait on the issuer for keys (AUTH_JWKS_TIMEOUT): well below the worker
# timeout (30 s in gunicorn.conf.py), so a hanging issuer costs a slow 503, never a killed worker.
MAX_JWKS_TIMEOUT = 10.0
# The longest AUTH_DPOP_IAT_WINDOW: every proof is remembered that long (replays), and a longer window
# only helps whoever captured a proof.
MAX_DPOP_IAT_WINDOW = 3600

# Asymmetric signature algorithms only: a key set holds public keys, so HS* and
# "none" can never be accepted against it.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"}
)

#: The app's config key for its AuthSettings, for code that runs in an app context (current_auth_settings).
AUTH_SETTINGS = "AUTH_SETTINGS"


@dataclass(frozen=True)
class AuthSettings:
    """Whose tokens are accepted, and how they are checked. Defaults are written once, on the fields."""

    # A token's iss must be one of ``issuers`` (exact values; Auth0's end with "/"), its aud contain one of
    # ``audiences``.
    issuers: tuple[str, ...]
    audiences: tuple[str, ...]
    uses_local_issuer: bool  # no provider is configured: the embedded local issuer signs the tokens
    uses_auth0_paths: bool = False  # the issuers came from AUTH0_DOMAIN: Auth0's well-known endpoint paths apply
    jwks_url: str | None = None
    algorithms: tuple[str, ...] = ("RS256",)
    leeway: int = 5
    jwks_cache_ttl: float = 600.0
    jwks_cooldown: float = 30.0
    jwks_timeout: float = 5.0
    token_cache_size: int = 10_000
    token_cache_ttl: float = 300.0
    public_url: str | None = None  # PUBLIC_URL: the API's resource identifier (RFC 9728); None: the request's
    step_up: StepUp = NO_STEP_UP  # AUTH_STEP_UP_ACR and AUTH_STEP_UP_MAX_AGE (RFC 9470)

    @property
    def issuer(self) -> str:
        """The first issuer: the docs' login and the local issuer use it."""
        return self.issuers[0]

    @property
    def audience(self) -> str:
        """The first audience: the local issuer and the docs' login ask for it."""
        return self.audiences[0]

    @classmethod
    def from_env(cls, env: Env, *, local_issuer: str) -> AuthSettings:
        """``local_issuer`` is the embedded issuer's URL, trusted when no provider is configured."""
        issuers = _issuers(env)
        audiences = read_list(env, "AUTH0_AUDIENCE") or read_list(env, "API_IDENTIFIER")
        uses_local_issuer = not issuers
        if uses_local_issuer:
            issuers = (local_issuer,)
            audiences = audiences or (f"{local_issuer}api",)
        elif not audiences:
            raise ConfigError("AUTH0_AUDIENCE (or API_IDENTIFIER) must be set to the API identifier when a provider "
                              "is configured")

        jwks_url = read_text(env, "AUTH_JWKS_URL")
        if jwks_url:
            jwks_url = _checked_url("AUTH_JWKS_URL", jwks_url)
            if len(issuers) > 1:
                raise ConfigError("AUTH_JWKS_URL names one key set: with several issuers, leave it unset "
                                  "(each issuer's keys are found through its own discovery)")

        jwks_timeout = read_number(env, "AUTH_JWKS_TIMEOUT", cls.jwks_timeout, minimum=0.1)
        if jwks_timeout > MAX_JWKS_TIMEOUT:
            raise ConfigError(f"AUTH_JWKS_TIMEOUT must be at most {MAX_JWKS_TIMEOUT:g} seconds "
                              f"(well below the worker timeout), got {read_text(env, 'AUTH_JWKS_TIMEOUT')!r}")

        return cls(
            issuers=issuers,
            audiences=audiences,
            uses_local_issuer=uses_local_issuer,
            uses_auth0_paths=not uses_local_issuer and not read_text(env, "AUTH_ISSUER"),
            jwks_url=jwks_url,
            algorithms=_algorithms(env),
            leeway=read_whole_number(env, "AUTH_LEEWAY", cls.leeway),
            jwks_cache_ttl=read_number(env, "AUTH_JWKS_CACHE_TTL", cls.jwks_cache_ttl, minimum=1),
            jwks_cooldown=read_number(env, "AUTH_JWKS_COOLDOWN", cls.jwks_cooldown, minimum=1),
            jwks_timeout=jwks_timeout,
            token_cache_size=read_whole_number(env, "AUTH_TOKEN_CACHE_SIZE", cls.token_cache_size),
            token_cache_ttl=read_number(env, "AUTH_TOKEN_CACHE_TTL", cls.token_cache_ttl),
            public_url=_public_url(env),
            step_up=_step_up(env),
        )


@dataclass(frozen=True)
class DPoPSettings:
    """DPoP (RFC 9449): whether proofs are taken, and how they are checked."""

    mode: str = ALLOWED  # AUTH_DPOP: one of DPOP_MODES
    algorithms: tuple[str, ...] = DPOP_DEFAULT_ALGORITHMS
    iat_window: int = 300
    replay_url: str | None = field(default=None, repr=False)  # may hold a Redis password
    nonce: bool = False
    nonce_secret: str | None = field(default=None, repr=False)

    @property
    def schemes(self) -> Schemes:
        """The Authorization schemes taken, and the algorithms proofs may use."""
        return Schemes(self.mode, self.algorithms)

    @classmethod
    def from_env(cls, env: Env) -> DPoPSettings:
        mode = (read_text(env, "AUTH_DPOP") or cls.mode).lower()
        if mode not in DPOP_MODES:
            raise ConfigError(f"AUTH_DPOP must be one of {', '.join(DPOP_MODES)}, got {mode!r}")
        iat_window = read_whole_number(env, "AUTH_DPOP_IAT_WINDOW", cls.iat_window, minimum=1)
        if iat_window > MAX_DPOP_IAT_WINDOW:
            raise ConfigError(f"AUTH_DPOP_IAT_WINDOW must be at most {MAX_DPOP_IAT_WINDOW} seconds, got {iat_window}")
        return cls(
            mode=mode,
            algorithms=_dpop_algorithms(env),
            iat_window=iat_window,
            replay_url=_dpop_replay_url(env),
            nonce=_dpop_nonce(env, mode),
            nonce_secret=_dpop_nonce_secret(env),
        )


def current_auth_settings() -> AuthSettings:
    """The AuthSettings of the app in context (create_app files them under AUTH_SETTINGS in its config)."""
    settings: AuthSettings = current_app.config[AUTH_SETTINGS]
    return settings


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


def _public_url(env: Env) -> str | None:
    """PUBLIC_URL, the URL clients call this API at (its root, behind any proxy), without a trailing slash."""
    url = read_text(env, "PUBLIC_URL")
    if url is None:
        return None
    url = _checked_url("PUBLIC_URL", url).rstrip("/")
    if any(segment in (".", "..") for segment in urlsplit(url).path.split("/")):
        raise ConfigError(f"PUBLIC_URL must be a plain URL, without '.' or '..' segments, got {url!r}")
    return url


def _step_up(env: Env) -> StepUp:
    """AUTH_STEP_UP_ACR (the acr values that count, comma-separated), AUTH_STEP_UP_MAX_AGE (seconds) and
    AUTH_STEP_UP_CLAIM_NAMESPACE (the prefix of both claims' names)."""
    acr = read_list(env, "AUTH_STEP_UP_ACR")
    if read_text(env, "AUTH_STEP_UP_ACR") is not None and not acr:
        raise ConfigError("AUTH_STEP_UP_ACR lists acr values (comma-separated), got none")
    bad = [value for value in acr if not value.isprintable() or any(c in value for c in ' "\\')]
    if bad:
        raise ConfigError(f"AUTH_STEP_UP_ACR values hold no space, quote or backslash, got {bad[0][:80]!r}")
    max_age = None
    if read_text(env, "AUTH_STEP_UP_MAX_AGE") is not None:
        max_age = read_whole_number(env, "AUTH_STEP_UP_MAX_AGE", 0)
    namespace = read_text(env, "AUTH_STEP_UP_CLAIM_NAMESPACE") or ""
    if namespace and (not namespace.isprintable() or " " in namespace):
        raise ConfigError(f"AUTH_STEP_UP_CLAIM_NAMESPACE is a prefix such as https://messages-api/, got {namespace!r}")
    return StepUp(acr, max_age, namespace)


def _issuers(env: Env) -> tuple[str, ...]:
    """AUTH_ISSUER's URLs, or else one Auth0 issuer per AUTH0_DOMAIN host; () when neither is set."""
    issuers = read_list(env, "AUTH_ISSUER")
    if issuers:
        return tuple(_checked_url("AUTH_ISSUER", issuer) for issuer in issuers)
    return tuple(_checked_url("AUTH0_DOMAIN", f"https://{_auth0_host(domain)}/")
                 for domain in read_list(env, "AUTH0_DOMAIN"))


def _auth0_host(domain: str) -> str:
    host = domain.removeprefix("https://").rstrip("/")
    if not host or "/" in host or " " in host:
        raise ConfigError(f"AUTH0_DOMAIN must list host names such as 'tenant.eu.auth0.com', got {host!r}")
    return host


def _algorithms(env: Env) -> tuple[str, ...]:
    raw = read_text(env, "AUTH_ALGORITHMS")
    if raw is None:
        return AuthSettings.algorithms
    names = tuple(dict.fromkeys(a.strip() for a in raw.split(",") if a.strip()))
    refused = [a for a in names if a not in ASYMMETRIC_ALGORITHMS]
    if not names or refused:
        allowed = ", ".join(sorted(ASYMMETRIC_ALGORITHMS))
        raise ConfigError(f"AUTH_ALGORITHMS accepts only asymmetric algorithms ({allowed}), got {raw!r}")
    return names


def _dpop_algorithms(env: Env) -> tuple[str, ...]:
    if read_text(env, "AUTH_DPOP_ALGORITHMS") is None:
        return DPoPSettings.algorithms
    names = read_list(env, "AUTH_DPOP_ALGORITHMS")
    refused = [a for a in names if a not in DPOP_ALGORITHMS]
    if not names or refused:
        allowed = ", ".join(DPOP_ALGORITHMS)
        raise ConfigError(f"AUTH_DPOP_ALGORITHMS accepts only asymmetric algorithms ({allowed}), "
                          f"got {read_text(env, 'AUTH_DPOP_ALGORITHMS')!r}")
    return names


def _dpop_replay_url(env: Env) -> str | None:
    """A redis:// (or rediss://) URL; the value itself is never echoed: it may hold a password."""
    url = read_text(env, "AUTH_DPOP_REPLAY_URL")
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


def _dpop_nonce(env: Env, mode: str) -> bool:
    raw = (read_text(env, "AUTH_DPOP_NONCE") or ("on" if DPoPSettings.nonce else "off")).lower()
    if raw not in ("on", "off"):
        raise ConfigError(f"AUTH_DPOP_NONCE must be on or off, got {raw!r}")
    if raw == "on" and mode == OFF:
        raise ConfigError("AUTH_DPOP_NONCE=on needs AUTH_DPOP set to allowed or required")
    return raw == "on"


def _dpop_nonce_secret(env: Env) -> str | None:
    secret = read_text(env, "AUTH_DPOP_NONCE_SECRET")
    if secret is not None and len(secret) < DPOP_MIN_NONCE_SECRET:
        raise ConfigError(f"AUTH_DPOP_NONCE_SECRET must be at least {DPOP_MIN_NONCE_SECRET} characters")
    return secret
