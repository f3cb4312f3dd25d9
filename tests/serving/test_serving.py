"""Production serving: /healthz and gunicorn with our config, logs included."""

from __future__ import annotations

import pytest
import requests

from app.settings import ConfigError, load_settings
from tests.support.servers import gunicorn
from tests.support.tokens import AUDIENCE, rsa_key


def test_healthz_needs_no_token_and_is_not_documented(server, http):
    response = http.get(server.url + "/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"
    spec = http.get(server.url + "/swagger.json").json()
    assert "/healthz" not in spec["paths"]


def test_healthz_does_not_depend_on_the_issuer(provider, make_app):
    provider.down = True
    response = make_app().test_client().get("/healthz")
    assert response.status_code == 200
    assert provider.jwks_fetches == 0




def test_gunicorn_serves_and_logs_without_tokens(provider, tokens, attacker_key, http, tmp_path):
    good, expired, forged = tokens.make(), tokens.make(exp=1), tokens.make(key=attacker_key)
    stranger = tokens.make(key=rsa_key("stranger"))
    sent = [(good, "/api/private", 200), (expired, "/api/private", 401), (forged, "/api/private", 401),
            (stranger, "/api/private", 401), (good, "/api/private-scoped", 403)]
    with gunicorn(provider, tmp_path) as url:
        assert http.get(url + "/healthz").status_code == 200
        assert http.get(url + "/api/public").status_code == 200
        for token, route, status in sent:
            response = http.get(url + route, headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == status
        assert http.get(url + "/api/private", params={"access_token": good}).status_code == 401
    access, errors = (tmp_path / "stdout.log").read_text(), (tmp_path / "stderr.log").read_text()

    assert '"GET /api/private HTTP/1.1" 200' in access  # access log on stdout
    assert '"GET /healthz HTTP/1.1" 200' in access
    assert "auth refused" not in access
    assert 'auth refused route="/api/private" status=401 reason=expired kid="key-1"' in errors
    assert 'auth refused route="/api/private" status=401 reason=bad_signature kid="key-1"' in errors
    assert 'auth refused route="/api/private" status=401 reason=unknown_kid kid="stranger" iss=-' in errors
    assert ('auth refused route="/api/private-scoped" status=403 reason=insufficient_scope kid="key-1" '
            f'iss="{tokens.issuer}"') in errors
    assert 'reason=no_credentials' in errors
    assert "jwks fetched reason='start-up'" in errors and "duration_ms=" in errors  # each worker, once booted
    for token in (good, expired, forged, stranger):
        for part in token.split("."):
            assert part not in access and part not in errors


def test_bind_host_defaults_to_loopback_in_local_mode_only():
    assert load_settings({}).bind_host == "127.0.0.1"
    assert load_settings({"AUTH0_DOMAIN": "tenant.example.com", "AUTH0_AUDIENCE": AUDIENCE}).bind_host == "0.0.0.0"
    assert load_settings({"BIND_HOST": "0.0.0.0"}).bind_host == "0.0.0.0"
    assert load_settings({"BIND_HOST": "[::1]"}).bind_host == "::1"
    with pytest.raises(ConfigError, match="BIND_HOST must be an IP address"):
        load_settings({"BIND_HOST": "example.com"})


def _local_gunicorn(instance, logs, **env):
    """`make serve` in local mode, its issuer keeping its key in ``instance`` rather than the repository's."""
    return gunicorn(None, logs, f"app:create_app(instance_path={str(instance)!r})", **env)


def test_local_mode_serves_on_loopback_only_by_default(instance, tmp_path):
    with _local_gunicorn(instance, tmp_path, BIND_HOST=None) as url:
        assert requests.get(url + "/healthz", timeout=5).status_code == 200
    errors = (tmp_path / "stderr.log").read_text()
    assert f"Listening at: {url} " in errors  # 127.0.0.1, and nothing else
    assert "Listening at: http://0.0.0.0" not in errors and "beyond this machine" not in errors
    notes = [line for line in errors.splitlines() if "local development issuer" in line]
    assert len(notes) == 1 and "[WARNING]" in notes[0] and "/docs" in notes[0] and "AUTH0_DOMAIN" in notes[0]


def test_local_mode_bound_elsewhere_says_so(instance, tmp_path):
    with _local_gunicorn(instance, tmp_path, BIND_HOST="0.0.0.0") as url:
        assert requests.get(url + "/healthz", timeout=5).status_code == 200
    port = url.rsplit(":", 1)[1]
    warnings = [line for line in (tmp_path / "stderr.log").read_text().splitlines() if "[WARNING]" in line]
    assert any(f"local mode listening on 0.0.0.0:{port}, beyond this machine" in line for line in warnings)
