"""`make dpop-token` and `make dpop-proof` (flask --app app dpop-token / dpop-proof): a token bound to the key in
instance/, fresh proofs the API's verifier accepts, and the curl commands of docs/dpop.md run as written."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from app import create_app
from local_issuer.dpop_client import KEY_FILE
from namespaces.private import SCOPED_MESSAGE
from security.dpop import DPoPError, DPoPVerifier
from security.replay import MemoryReplayStore
from tests.support import ROOT
from tests.support.live_server import live_on_own_port
from tests.support.oauth import client_of
from tests.support.processes import free_port, server_process
from tests.support.tokens import AUDIENCE

SCOPED = "/api/private-scoped"
CURL_BLOCK = re.compile(r"### From curl\n.*?```sh\n(.*?)```", re.DOTALL)


def run(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def key_of(instance) -> ECKey:
    return ECKey.import_key((instance / KEY_FILE).read_bytes())


def verify(proof: str, *, method: str, url: str, access_token: str | None = None, bound_to: str | None = None):
    """The API's own proof check, with a replay store of its own, whose records go back before the proof."""
    verifier = DPoPVerifier(replay_store=MemoryReplayStore(since=0))
    return verifier.verify(proof, method=method, url=url, access_token=access_token, bound_to=bound_to)


def test_the_token_is_bound_to_a_private_key_file_made_once(make_local_app, instance):
    app = make_local_app()
    first = run(app, "dpop-token")
    assert first.exit_code == 0, first.output
    assert stat.S_IMODE(os.stat(instance / KEY_FILE).st_mode) == 0o600
    token = first.stdout.strip()
    assert first.stdout == token + "\n"
    claims = jwt.decode(token, app.extensions["local_issuer"].key).claims
    assert claims["cnf"] == {"jkt": key_of(instance).thumbprint()}
    assert claims["scope"].split() == app.extensions["local_issuer"].scopes  # every declared scope, by default
    again = jwt.decode(run(app, "dpop-token", "--scope", "", "--expires-in", "60").stdout.strip(),
                       app.extensions["local_issuer"].key).claims
    assert again["cnf"] == claims["cnf"]  # the same key, reused
    assert "scope" not in again and again["exp"] - again["iat"] == 60


def test_each_proof_is_fresh_and_passes_the_apis_checks(make_local_app, instance):
    app = make_local_app()
    token = run(app, "dpop-token").stdout.strip()
    jkt = key_of(instance).thumbprint()
    url = "http://127.0.0.1:3010/api/private-scoped"
    proofs = [run(app, "dpop-proof", "GET", url + "?page=2#top", token).stdout.strip() for _ in range(2)]
    assert proofs[0] != proofs[1]
    for proof in proofs:  # each accepted, with ath for this token, by a verifier that remembers jtis
        assert verify(proof, method="GET", url=url, access_token=token, bound_to=jkt).jkt == jkt
    with pytest.raises(DPoPError, match="ath"):
        verify(run(app, "dpop-proof", "GET", url).stdout.strip(), method="GET", url=url, access_token=token)
    nonce = run(app, "dpop-proof", "get", url, token, "--nonce", "n-1").stdout.strip()
    claims = jwt.decode(nonce, key_of(instance)).claims
    assert (claims["htm"], claims["nonce"]) == ("GET", "n-1")


def test_a_proof_for_the_token_endpoint_gets_a_token_bound_to_the_key(make_local_app, instance, http):
    """As the provider example of docs/dpop.md does it, against the local issuer's own token endpoint."""
    with live_on_own_port(make_local_app) as server:
        token_url = server.url + "/oauth/token"
        proof = run(server.app, "dpop-proof", "POST", token_url).stdout.strip()
        client = client_of(server)
        response = http.post(token_url, headers={"DPoP": proof}, json={
            "grant_type": "client_credentials", "client_id": client.client_id, "client_secret": client.client_secret})
        assert response.status_code == 200, response.text
        assert response.json()["token_type"] == "DPoP"
        claims = jwt.decode(response.json()["access_token"], server.app.extensions["local_issuer"].key).claims
        assert claims["cnf"]["jkt"] == key_of(instance).thumbprint()


@pytest.mark.parametrize("args", [["GET"], ["G T", "http://127.0.0.1/"], ["GET", "ftp://127.0.0.1/"],
                                  ["GET", "/api/private"], ["GET", "http:///x"]])
def test_bad_arguments_are_refused(make_local_app, args):
    result = run(make_local_app(), "dpop-proof", *args)
    assert result.exit_code == 2
    assert result.stdout == ""


def test_a_damaged_key_file_is_named(make_local_app, instance):
    (instance / KEY_FILE).write_text("not a key\n")
    for args in (["dpop-token"], ["dpop-proof", "GET", "http://127.0.0.1/"]):
        result = run(make_local_app(), *args)
        assert result.exit_code == 1
        assert result.stdout == ""
        assert str(instance / KEY_FILE) in result.stderr and "delete it" in result.stderr


def test_provider_mode_signs_proofs_but_mints_nothing(provider, instance):
    app = create_app({"AUTH_ISSUER": provider.issuer, "AUTH0_AUDIENCE": AUDIENCE}, instance_path=instance)
    refused = run(app, "dpop-token")
    assert refused.exit_code == 1 and "provider is configured" in refused.stderr
    signed = run(app, "dpop-proof", "POST", "https://tenant.example/oauth/token")
    assert signed.exit_code == 0, signed.output
    verify(signed.stdout.strip(), method="POST", url="https://tenant.example/oauth/token")
    assert (instance / KEY_FILE).exists()  # the test's instance folder, never the repository's


def test_each_command_refuses_the_tokens_the_api_would_refuse(make_local_app):
    required = run(make_local_app(AUTH_DPOP="required"), "token")
    assert required.exit_code == 1 and required.stdout == "" and "make dpop-token" in required.stderr
    off = run(make_local_app(AUTH_DPOP="off"), "dpop-token")
    assert off.exit_code == 1 and off.stdout == "" and "make token" in off.stderr


@pytest.mark.serving
def test_the_readme_commands_as_written(repository, tmp_path):
    """The curl block of docs/dpop.md, run by bash from the repository against `make run`'s server: the API's answer is
    printed. curl is wrapped only to keep a copy of what it sends, which the API's verifier then checks."""
    port = free_port()
    block = CURL_BLOCK.search((ROOT / "docs" / "dpop.md").read_text()).group(1).replace(":3010", f":{port}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH", "API_", "LOCAL_"))}
    env["PORT"] = str(port)
    record = tmp_path / "curl-args"
    script = f'curl() {{ printf "%s\\n" "$@" > {record}; command curl -s "$@"; }}\nset -e\n{block}'
    logs = tmp_path / "logs"
    logs.mkdir()
    with server_process([sys.executable, "-m", "app"], port=port, env=env, cwd=repository, logs=logs,
                        stop=signal.SIGINT) as url:
        result = subprocess.run(["bash", "-c", script], cwd=repository, env=env, capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == {"message": SCOPED_MESSAGE}, result.stdout
        args = record.read_text().splitlines()
        headers = dict(args[i + 1].split(": ", 1) for i, arg in enumerate(args) if arg == "-H")
        scheme, token = headers["Authorization"].split(" ")
        assert scheme == "DPoP"
        jkt = key_of(repository / "instance").thumbprint()
        verify(headers["DPoP"], method="GET", url=url + SCOPED, access_token=token, bound_to=jkt)
        assert args[-1] == url + SCOPED
