"""`flask --app app token`: the token alone on stdout, accepted by a server with the same settings."""

from __future__ import annotations

import os
import subprocess

import pytest
from joserfc import jwt

from tests.support.calls import Caller
from tests.support.documents import operations
from tests.support.live_server import live_on_own_port

SCOPED = "/api/private-scoped"


def run(app, *args):
    return app.test_cli_runner().invoke(args=["token", *args])


def test_prints_only_a_token_that_the_server_accepts(make_local_app, http, scopes):
    """By default the token carries every scope the routes declare, so it opens every route."""
    with live_on_own_port(make_local_app) as server:
        cli_app = make_local_app(port=server.port)  # another process would build it the same way
        result = run(cli_app)
        assert result.exit_code == 0, result.output
        token = result.stdout.strip()
        assert result.stdout == token + "\n"
        assert token.count(".") == 2
        assert jwt.decode(token, cli_app.extensions["local_issuer"].key).claims["scope"].split() == list(scopes)
        document = http.get(server.url + "/swagger.json").json()
        caller = Caller(document, server.url, http, lambda operation: {"Authorization": f"Bearer {token}"})
        for operation in operations(document):
            response = caller.call(operation).send(http)
            assert response.status_code == int(operation.success), operation


def test_options(make_local_app):
    app = make_local_app()
    result = run(app, "--scope", "", "--sub", "robot-7", "--expires-in", "120")
    assert result.exit_code == 0, result.output
    claims = jwt.decode(result.stdout.strip(), app.extensions["local_issuer"].key).claims
    assert claims["sub"] == "robot-7"
    assert claims["exp"] - claims["iat"] == 120
    assert "scope" not in claims
    client = app.test_client()
    headers = {"Authorization": f"Bearer {result.stdout.strip()}"}
    assert client.get("/api/private", headers=headers).status_code == 200
    assert client.get(SCOPED, headers=headers).status_code == 403


@pytest.mark.parametrize("args", [["--scope", "admin"], ["--scope", "read:messages\twrite:messages"],
                                  ["--expires-in", "0"], ["--expires-in", "soon"]])
def test_bad_options_are_refused(make_local_app, args):
    result = run(make_local_app(), *args)
    assert result.exit_code == 2
    assert result.stdout == ""


def test_refuses_in_provider_mode(make_app):
    result = run(make_app())
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "provider is configured" in result.stderr


@pytest.mark.parametrize("target", ["token", "dpop-token"])
def test_make_prints_the_token_alone_and_nothing_on_stderr(target, repository):
    """`make token` as the README prints it: the start-up notes meant for servers stay out of a shell's way."""
    environment = {name: value for name, value in os.environ.items()
                   if not name.startswith(("AUTH", "LOG_")) and name not in ("PORT", "MAKEFLAGS", "MFLAGS")}
    result = subprocess.run(["make", "-s", target], cwd=repository, env=environment, capture_output=True, text=True,
                            timeout=120)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.count("\n") == 1 and result.stdout.count(".") == 2
