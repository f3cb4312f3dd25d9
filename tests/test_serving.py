"""Production serving: /healthz and gunicorn with our config, logs included."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from tests.support import AUDIENCE, ROOT, free_port, rsa_key, server_process


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


@contextlib.contextmanager
def gunicorn(provider, logs: Path, root: Path = ROOT, **settings: str):
    """`make serve`'s command on a loopback port, from ``root``, against the fake provider (None: local mode),
    with ``settings`` (env variables) on top; logs land in ``logs``."""
    port = free_port()
    env = {"WEB_CONCURRENCY": "2", "LOG_LEVEL": "INFO", **settings}
    if provider is not None:
        env.update(AUTH_ISSUER=provider.issuer, AUTH0_AUDIENCE=AUDIENCE)
    command = [str(Path(sys.executable).parent / "gunicorn"), "-c", "gunicorn.conf.py", "-b", f"127.0.0.1:{port}"]
    with server_process(command, port=port, env=env, cwd=root, logs=logs) as url:
        yield url


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
    assert "jwks fetched reason='first use'" in errors and "duration_ms=" in errors
    for token in (good, expired, forged, stranger):
        for part in token.split("."):
            assert part not in access and part not in errors
