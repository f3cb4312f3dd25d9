"""Configuration: every bad value stops start-up with one line naming the variable."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from app import ConfigError, load_settings
from security.settings import MAX_JWKS_TIMEOUT
from tests.support import ROOT

AUTH0 = {"AUTH0_DOMAIN": "tenant.eu.auth0.com", "AUTH0_AUDIENCE": "https://messages-api"}


def test_auth0_domain_and_audience():
    auth = load_settings(AUTH0).auth
    assert auth.issuer == "https://tenant.eu.auth0.com/"
    assert auth.audience == "https://messages-api"
    assert auth.uses_local_issuer is False
    assert auth.uses_auth0_paths is True
    assert auth.algorithms == ("RS256",)
    assert (auth.leeway, auth.jwks_cache_ttl, auth.jwks_cooldown, auth.jwks_timeout) == (5, 600, 30, 5)


def test_auth0_sample_names_are_accepted():
    settings = load_settings({"AUTH0_DOMAIN": "https://tenant.auth0.com/", "API_IDENTIFIER": "https://quickstarts/api"})
    assert settings.auth.issuer == "https://tenant.auth0.com/"
    assert settings.auth.audience == "https://quickstarts/api"


def test_auth_issuer_wins_over_auth0_domain():
    settings = load_settings({**AUTH0, "AUTH_ISSUER": "https://login.example.com/realms/main"})
    assert settings.auth.issuer == "https://login.example.com/realms/main"
    assert settings.auth.uses_auth0_paths is False  # its endpoints come from its discovery document


def test_tuning_values():
    settings = load_settings({**AUTH0, "AUTH_ALGORITHMS": "RS256, ES256", "AUTH_LEEWAY": "0",
                              "AUTH_JWKS_TIMEOUT": "2.5", "CORS_ORIGINS": "https://a.example, http://localhost:5173/",
                              "PORT": "8080"})
    assert settings.auth.algorithms == ("RS256", "ES256")
    assert settings.auth.leeway == 0
    assert settings.auth.jwks_timeout == 2.5
    assert settings.cors_origins == ("https://a.example", "http://localhost:5173")
    assert settings.port == 8080


@pytest.mark.parametrize(
    "overrides, variable",
    [
        ({"AUTH0_AUDIENCE": ""}, "AUTH0_AUDIENCE"),
        ({"AUTH0_DOMAIN": "tenant.auth0.com/path"}, "AUTH0_DOMAIN"),
        ({"AUTH_ISSUER": "http://login.example.com/"}, "AUTH_ISSUER"),
        ({"AUTH_ISSUER": "login.example.com"}, "AUTH_ISSUER"),
        ({"AUTH_JWKS_URL": "http://keys.example.com/jwks.json"}, "AUTH_JWKS_URL"),
        ({"AUTH_ALGORITHMS": "HS256"}, "AUTH_ALGORITHMS"),
        ({"AUTH_ALGORITHMS": "none"}, "AUTH_ALGORITHMS"),
        ({"AUTH_ALGORITHMS": "RS256,HS512"}, "AUTH_ALGORITHMS"),
        ({"AUTH_ALGORITHMS": ","}, "AUTH_ALGORITHMS"),
        ({"AUTH_LEEWAY": "abc"}, "AUTH_LEEWAY"),
        ({"AUTH_LEEWAY": "-1"}, "AUTH_LEEWAY"),
        ({"AUTH_LEEWAY": "2.5"}, "AUTH_LEEWAY"),
        ({"AUTH_JWKS_TIMEOUT": "soon"}, "AUTH_JWKS_TIMEOUT"),
        ({"AUTH_JWKS_TIMEOUT": "nan"}, "AUTH_JWKS_TIMEOUT"),
        ({"AUTH_JWKS_TIMEOUT": "0"}, "AUTH_JWKS_TIMEOUT"),
        ({"AUTH_JWKS_TIMEOUT": "16"}, "AUTH_JWKS_TIMEOUT"),
        ({"AUTH_JWKS_CACHE_TTL": "inf"}, "AUTH_JWKS_CACHE_TTL"),
        ({"AUTH_JWKS_COOLDOWN": "-5"}, "AUTH_JWKS_COOLDOWN"),
        ({"AUTH_JWKS_COOLDOWN": "0"}, "AUTH_JWKS_COOLDOWN"),
        ({"LOCAL_CLIENT_SECRET": "short"}, "LOCAL_CLIENT_SECRET"),
        ({"LOCAL_CLIENT_SECRET": "has spaces in the middle"}, "LOCAL_CLIENT_SECRET"),
        ({"PORT": "http"}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"CORS_ORIGINS": "*"}, "CORS_ORIGINS"),
        ({"CORS_ORIGINS": "https://a.example/path"}, "CORS_ORIGINS"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"TRUSTED_PROXY_HEADERS": "prefix"}, "TRUSTED_PROXY_HEADERS"),  # no TRUSTED_PROXIES
        ({"TRUSTED_PROXIES": "1", "TRUSTED_PROXY_HEADERS": "host,for"}, "TRUSTED_PROXY_HEADERS"),
        ({"TRUSTED_PROXIES": "1", "TRUSTED_PROXY_HEADERS": "X-Forwarded-Host"}, "TRUSTED_PROXY_HEADERS"),
        ({"TRUSTED_PROXIES": "1", "TRUSTED_PROXY_HEADERS": ","}, "TRUSTED_PROXY_HEADERS"),
        ({"DATABASE_URL": "mysql://user:pw@db/messages"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgresql://user:pw@db/messages"}, "DATABASE_URL"),  # no driver named
        ({"DATABASE_URL": "sqlite://"}, "DATABASE_URL"),  # in memory: nothing would survive
        ({"DATABASE_URL": "not a url"}, "DATABASE_URL"),
        ({"DATABASE_BUSY_TIMEOUT": "11"}, "DATABASE_BUSY_TIMEOUT"),
        ({"DATABASE_BUSY_TIMEOUT": "-1"}, "DATABASE_BUSY_TIMEOUT"),
        ({"IDEMPOTENCY_KEY_TTL": "0"}, "IDEMPOTENCY_KEY_TTL"),
        ({"IDEMPOTENCY_KEY_TTL": "1.5"}, "IDEMPOTENCY_KEY_TTL"),
        ({"IDEMPOTENCY_KEY_TTL": "a day"}, "IDEMPOTENCY_KEY_TTL"),
        ({"AUTH_ISSUER": "https://a.example/, http://b.example/"}, "AUTH_ISSUER"),
        ({"AUTH0_DOMAIN": "tenant.auth0.com, login.example.com/x"}, "AUTH0_DOMAIN"),
        ({"AUTH_ISSUER": "https://a.example/,https://b.example/", "AUTH_JWKS_URL": "https://a.example/jwks"},
         "AUTH_JWKS_URL"),
        ({"AUTH_DPOP": "sometimes"}, "AUTH_DPOP"),
        ({"AUTH_DPOP_ALGORITHMS": "none"}, "AUTH_DPOP_ALGORITHMS"),
        ({"AUTH_DPOP_ALGORITHMS": "ES256,HS256"}, "AUTH_DPOP_ALGORITHMS"),
        ({"AUTH_DPOP_ALGORITHMS": "ES256K"}, "AUTH_DPOP_ALGORITHMS"),
        ({"AUTH_DPOP_ALGORITHMS": " , "}, "AUTH_DPOP_ALGORITHMS"),
        ({"AUTH_DPOP_IAT_WINDOW": "0"}, "AUTH_DPOP_IAT_WINDOW"),
        ({"AUTH_DPOP_IAT_WINDOW": "5 minutes"}, "AUTH_DPOP_IAT_WINDOW"),
        ({"AUTH_DPOP_IAT_WINDOW": "86400"}, "AUTH_DPOP_IAT_WINDOW"),
        ({"AUTH_DPOP_REPLAY_URL": "http://127.0.0.1:6379/0"}, "AUTH_DPOP_REPLAY_URL"),
        ({"AUTH_DPOP_REPLAY_URL": "redis://127.0.0.1:99999/0"}, "AUTH_DPOP_REPLAY_URL"),
        ({"AUTH_DPOP_REPLAY_URL": "redis://127.0.0.1:6379/zero"}, "AUTH_DPOP_REPLAY_URL"),
        ({"AUTH_DPOP_REPLAY_URL": "redis:///0"}, "AUTH_DPOP_REPLAY_URL"),
        ({"AUTH_DPOP_NONCE": "yes"}, "AUTH_DPOP_NONCE"),
        ({"AUTH_DPOP": "off", "AUTH_DPOP_NONCE": "on"}, "AUTH_DPOP_NONCE"),
        ({"AUTH_DPOP_NONCE_SECRET": "too-short"}, "AUTH_DPOP_NONCE_SECRET"),
    ],
)
def test_bad_values_name_the_variable(overrides, variable):
    with pytest.raises(ConfigError) as raised:
        load_settings({**AUTH0, **overrides})
    message = str(raised.value)
    assert message.startswith("configuration error: ")
    assert variable in message
    assert "\n" not in message
    assert "pw@" not in message  # a database URL's password is never repeated


def test_database_settings():
    assert (load_settings(AUTH0).storage.database_url, load_settings(AUTH0).storage.busy_timeout) == (None, 5.0)
    storage = load_settings({**AUTH0, "DATABASE_URL": "postgresql+psycopg://app:pw@db:5432/messages",
                             "DATABASE_BUSY_TIMEOUT": "0.5"}).storage
    assert (storage.database_url, storage.busy_timeout) == ("postgresql+psycopg://app:pw@db:5432/messages", 0.5)
    assert load_settings(AUTH0).storage.idempotency_key_ttl == 86400  # a day
    assert load_settings({**AUTH0, "IDEMPOTENCY_KEY_TTL": "3600"}).storage.idempotency_key_ttl == 3600


def test_several_issuers_and_audiences():
    settings = load_settings({"AUTH_ISSUER": "https://a.example/, https://b.example/realms/x,https://a.example/",
                              "AUTH0_AUDIENCE": "https://api-1, https://api-2"})
    assert settings.auth.issuers == ("https://a.example/", "https://b.example/realms/x")  # in order, once each
    assert settings.auth.issuer == "https://a.example/"  # the first: the docs' login uses it
    assert settings.auth.audiences == ("https://api-1", "https://api-2")
    assert settings.auth.audience == "https://api-1"
    auth0 = load_settings({"AUTH0_DOMAIN": "tenant.eu.auth0.com, https://login.example.com/", **{
        "AUTH0_AUDIENCE": "https://messages-api"}})
    assert auth0.auth.issuers == ("https://tenant.eu.auth0.com/", "https://login.example.com/")
    assert load_settings(AUTH0).auth.issuers == ("https://tenant.eu.auth0.com/",)


def test_dpop_defaults_and_values():
    dpop = load_settings(AUTH0).dpop
    assert (dpop.mode, dpop.algorithms, dpop.iat_window) == ("allowed", ("ES256", "PS256", "EdDSA", "RS256"), 300)
    assert (dpop.replay_url, dpop.nonce, dpop.nonce_secret) == (None, False, None)
    secret = "s" * 32
    url = "redis://:hunter2-password@cache.internal:6380/3"
    settings = load_settings({**AUTH0, "AUTH_DPOP": "Required", "AUTH_DPOP_ALGORITHMS": "ES384, Ed25519",
                              "AUTH_DPOP_IAT_WINDOW": "60", "AUTH_DPOP_REPLAY_URL": url,
                              "AUTH_DPOP_NONCE": "on", "AUTH_DPOP_NONCE_SECRET": secret})
    dpop = settings.dpop
    assert (dpop.mode, dpop.algorithms, dpop.iat_window) == ("required", ("ES384", "Ed25519"), 60)
    assert (dpop.replay_url, dpop.nonce, dpop.nonce_secret) == (url, True, secret)
    assert "hunter2" not in repr(settings) and secret not in repr(settings)
    assert load_settings({**AUTH0, "AUTH_DPOP": "off"}).dpop.mode == "off"


def test_dpop_refusals_never_echo_secrets():
    for variable, value in (("AUTH_DPOP_REPLAY_URL", "redis://:hunter2@cache.internal:99999/0"),
                            ("AUTH_DPOP_NONCE_SECRET", "hunter2-but-short")):
        with pytest.raises(ConfigError) as raised:
            load_settings({**AUTH0, variable: value})
        assert "hunter2" not in str(raised.value)


def test_trusted_proxy_headers():
    assert load_settings(AUTH0).trusted_proxy_headers == frozenset()
    settings = load_settings({**AUTH0, "TRUSTED_PROXIES": "2", "TRUSTED_PROXY_HEADERS": " Prefix, host ,"})
    assert (settings.trusted_proxies, settings.trusted_proxy_headers) == (2, {"host", "prefix"})


TABLE_HEADER = re.compile(r"^\| *variable *\| *default *\|", re.IGNORECASE | re.MULTILINE)


def documented_defaults() -> list[tuple[str, str]]:
    """(variable, default) of each row of docs/configuration.md's tables (one per package) whose default is a value."""
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert TABLE_HEADER.search(text), "docs/configuration.md has no configuration table"
    assert not TABLE_HEADER.search((ROOT / "README.md").read_text(encoding="utf-8")), \
        "README has a configuration table of its own"
    return re.findall(r"^\| `([A-Z0-9_]+)` \| `([^`|]+)` \|", text, re.MULTILINE)


@pytest.mark.parametrize("mode", [{}, AUTH0], ids=["local", "provider"])
def test_the_docs_state_the_defaults_the_settings_have(mode):
    """Setting a variable to the default docs/configuration.md gives it changes nothing: the two cannot drift
    apart, and each variable is stated once."""
    documented = documented_defaults()
    variables = [variable for variable, _ in documented]
    assert len(variables) == len(set(variables))
    assert {"PORT", "AUTH_LEEWAY", "AUTH_JWKS_TIMEOUT", "AUTH_TOKEN_CACHE_SIZE", "LOG_LEVEL"} <= set(variables)
    for variable, default in documented:
        assert load_settings({**mode, variable: default}) == load_settings(mode), variable


def test_loopback_http_issuer_is_allowed():
    for issuer in ("http://127.0.0.1:8080/", "http://localhost:9000/", "http://[::1]:9000/"):
        assert load_settings({"AUTH_ISSUER": issuer, "AUTH0_AUDIENCE": "x"}).auth.issuer == issuer


@pytest.mark.serving
@pytest.mark.parametrize("command", [[sys.executable, "-m", "app"],
                                     [str(Path(sys.executable).parent / "flask"), "--app", "app", "run"]])
@pytest.mark.parametrize("setting, line", [
    ({"AUTH_LEEWAY": "soon"}, "configuration error: AUTH_LEEWAY must be a whole number, got 'soon'"),
    ({"AUTH_JWKS_TIMEOUT": "16"}, ("configuration error: AUTH_JWKS_TIMEOUT must be at most 10 seconds "
                                   "(well below the worker timeout), got '16'")),
])
def test_start_up_refuses_with_one_line(command, setting, line):
    env = {"PATH": os.environ.get("PATH", ""), **AUTH0, **setting}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [line]
    assert result.stdout == ""


def test_the_jwks_timeout_cap_is_accepted_and_well_below_the_worker_timeout():
    """A request waits on the issuer for AUTH_JWKS_TIMEOUT at most: it must end long before gunicorn
    replaces the worker as stuck."""
    auth = load_settings({**AUTH0, "AUTH_JWKS_TIMEOUT": str(MAX_JWKS_TIMEOUT)}).auth
    assert auth.jwks_timeout == MAX_JWKS_TIMEOUT
    probe = "import runpy; print(runpy.run_path('gunicorn.conf.py')['timeout'])"
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={"PATH": os.environ.get("PATH", "")})
    assert MAX_JWKS_TIMEOUT <= float(result.stdout) / 3, result.stderr


@pytest.mark.parametrize("env, workers", [({}, 1), ({"WEB_CONCURRENCY": "3"}, 1),
                                          ({**AUTH0, "WEB_CONCURRENCY": "3"}, 3), (AUTH0, os.cpu_count())])
def test_gunicorn_runs_one_worker_in_local_mode_and_one_per_core_by_default(env, workers):
    """The local issuer keeps authorization codes in its process: a login must finish where it started.
    With a provider, one gevent worker per core unless WEB_CONCURRENCY says otherwise."""
    probe = "import runpy; print(runpy.run_path('gunicorn.conf.py')['workers'])"
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={"PATH": os.environ.get("PATH", ""), **env})
    assert result.stdout.strip() == str(workers), result.stderr
