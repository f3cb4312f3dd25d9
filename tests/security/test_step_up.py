"""Step-up authentication (RFC 9470) over real HTTP: a moderator's deletion of someone else's message needs
the login AUTH_STEP_UP_ACR and AUTH_STEP_UP_MAX_AGE ask for; a token that falls short is refused 401
insufficient_user_authentication with a challenge saying what a new login needs. Tokens from the fake
provider, from `make token` and from the local issuer's /authorize."""

from __future__ import annotations

import logging
import time

import pytest
from joserfc import jwt

from app import ConfigError
from security.step_up import MFA_ACR
from tests.support import live, live_on_own_port
from tests.support.oauth import authorize, client_of, exchange, get_code, location_params, redirect_uri

MESSAGES = "/api/messages"
STEP_UP = {"AUTH_STEP_UP_ACR": f"{MFA_ACR},phr", "AUTH_STEP_UP_MAX_AGE": "300"}
ACR_VALUES = f'acr_values="{MFA_ACR} phr"'


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def alices_message(http, server, token: str) -> str:
    """A message by alice: its URL."""
    posted = http.post(server.url + MESSAGES, json={"text": "Hello"}, headers=bearer(token))
    assert posted.status_code == 201, posted.text
    return server.url + posted.headers["Location"]


@pytest.fixture
def stepped_up(make_app):
    with live(make_app(**STEP_UP)) as server:
        yield server


def moderator(tokens, **login) -> str:
    return tokens.make(sub="bob", scope="delete:messages", **login)


def test_a_moderator_without_the_login_asked_for_is_told_what_to_do(stepped_up, tokens, http, caplog):
    url = alices_message(http, stepped_up, tokens.make(sub="alice", scope="write:messages"))
    with caplog.at_level(logging.INFO, logger="security.refused"):
        refused = http.delete(url, headers=bearer(moderator(tokens)))
    assert refused.status_code == 401
    assert refused.headers["Content-Type"] == "application/json"
    assert refused.headers["Cache-Control"] == "no-store"
    description = ("This operation needs a login with a stronger method (acr_values), at most 300 seconds ago "
                   "(max_age): log in again as the challenge says, then retry.")
    assert refused.json() == {"error": "insufficient_user_authentication", "error_description": description}
    metadata = f'resource_metadata="{stepped_up.url}/.well-known/oauth-protected-resource"'
    assert refused.headers["WWW-Authenticate"] == (
        f'Bearer realm="api", error="insufficient_user_authentication", error_description="{description}", '
        f'{ACR_VALUES}, max_age="300", {metadata}, DPoP algs="ES256 PS256 EdDSA RS256", {metadata}')
    assert "reason=step_up_acr" in caplog.text
    assert http.get(url, headers=bearer(tokens.make(scope="read:messages"))).status_code == 200  # still there


@pytest.mark.parametrize("login", [
    {"acr": "pwd", "auth_time": "now"},  # another method
    {"acr": MFA_ACR},  # no auth_time: the issuer does not say when
    {"acr": MFA_ACR, "auth_time": -301},  # too long ago
    {"acr": MFA_ACR, "auth_time": "yesterday"},  # not a number
    {"acr": [MFA_ACR], "auth_time": "now"},  # not a string
])
def test_each_shortfall_is_refused(stepped_up, tokens, http, login):
    now = int(time.time())
    login = {k: now if v == "now" else now + v if isinstance(v, int) else v for k, v in login.items()}
    url = alices_message(http, stepped_up, tokens.make(sub="alice", scope="write:messages"))
    refused = http.delete(url, headers=bearer(moderator(tokens, **login)))
    assert (refused.status_code, refused.json()["error"]) == (401, "insufficient_user_authentication")


@pytest.mark.parametrize("acr", [MFA_ACR, "phr"])
def test_the_login_asked_for_lets_a_moderator_delete(stepped_up, tokens, http, acr):
    url = alices_message(http, stepped_up, tokens.make(sub="alice", scope="write:messages"))
    login = {"acr": acr, "auth_time": int(time.time()) - 290}
    assert http.delete(url, headers=bearer(moderator(tokens, **login))).status_code == 204


def test_an_author_deletes_their_own_message_with_any_login(stepped_up, tokens, http):
    alice = tokens.make(sub="alice", scope="write:messages delete:messages")
    url = alices_message(http, stepped_up, alice)
    assert http.delete(url, headers=bearer(alice)).status_code == 204


def test_step_up_is_off_unless_configured(make_app, tokens, http):
    with live(make_app()) as server:
        url = alices_message(http, server, tokens.make(sub="alice", scope="write:messages"))
        assert http.delete(url, headers=bearer(moderator(tokens))).status_code == 204


def test_max_age_alone_asks_for_a_recent_login_only(make_app, tokens, http):
    with live(make_app(AUTH_STEP_UP_MAX_AGE="60", AUTH_DPOP="off")) as server:
        url = alices_message(http, server, tokens.make(sub="alice", scope="write:messages"))
        refused = http.delete(url, headers=bearer(moderator(tokens, auth_time=int(time.time()) - 120)))
        challenge = refused.headers["WWW-Authenticate"]
        assert 'max_age="60"' in challenge and "acr_values" not in challenge
        assert http.delete(url, headers=bearer(moderator(tokens, auth_time=int(time.time())))).status_code == 204


@pytest.mark.parametrize("setting, value", [("AUTH_STEP_UP_MAX_AGE", "-1"), ("AUTH_STEP_UP_MAX_AGE", "5m"),
                                            ("AUTH_STEP_UP_ACR", " , "), ("AUTH_STEP_UP_ACR", 'mfa,"x'),
                                            ("AUTH_STEP_UP_ACR", "two words"),
                                            ("AUTH_STEP_UP_CLAIM_NAMESPACE", "a b")])
def test_bad_settings_stop_start_up_naming_them(make_app, setting, value):
    with pytest.raises(ConfigError, match=setting):
        make_app(**{setting: value})


def test_make_token_mints_the_login_asked_for(make_local_app, http):
    with live_on_own_port(lambda port: make_local_app(port=port, AUTH_STEP_UP_ACR=MFA_ACR,
                                                      AUTH_STEP_UP_MAX_AGE="300")) as server:
        cli = server.app.test_cli_runner()

        def token(*args: str) -> str:
            result = cli.invoke(args=["token", *args])
            assert result.exit_code == 0, result.output
            return result.stdout.strip()

        alice = token("--sub", "alice")
        url = alices_message(http, server, alice)
        old = token("--sub", "bob", "--acr", MFA_ACR, "--auth-time", "-600")
        assert http.delete(url, headers=bearer(old)).status_code == 401
        fresh = token("--sub", "bob", "--acr", MFA_ACR, "--auth-time", "now")
        claims = jwt.decode(fresh, server.app.extensions["local_issuer"].key).claims
        assert claims["acr"] == MFA_ACR and abs(claims["auth_time"] - time.time()) < 5
        assert http.delete(url, headers=bearer(fresh)).status_code == 204
        refused = cli.invoke(args=["token", "--auth-time", "soon"])
        assert refused.exit_code == 2 and "--auth-time" in refused.output


def test_the_local_issuer_logs_in_with_the_acr_values_and_max_age_asked_for(make_local_app, http):
    with live_on_own_port(lambda port: make_local_app(port=port, **STEP_UP)) as server:
        alice = server.app.test_cli_runner().invoke(args=["token", "--sub", "alice"]).stdout.strip()
        url = alices_message(http, server, alice)
        code, verifier = get_code(http, server, scope="delete:messages", acr_values=f"phr {MFA_ACR}", max_age="0")
        answer = exchange(http, server, code, verifier)
        assert answer.status_code == 200, answer.text
        token = answer.json()["access_token"]
        claims = jwt.decode(token, server.app.extensions["local_issuer"].key).claims
        assert claims["acr"] == "phr" and abs(claims["auth_time"] - time.time()) < 5
        assert http.delete(url, headers=bearer(token)).status_code == 204

        code, verifier = get_code(http, server, scope="delete:messages")  # no step-up asked: no acr
        assert "acr" not in jwt.decode(exchange(http, server, code, verifier).json()["access_token"],
                                       server.app.extensions["local_issuer"].key).claims


@pytest.mark.parametrize("params", [{"max_age": "soon"}, {"acr_values": " "}])
def test_the_local_issuer_refuses_a_malformed_request(local_server, http, params):
    refused = authorize(http, local_server, response_type="code", client_id=client_of(local_server).client_id,
                        redirect_uri=redirect_uri(local_server), scope="read:messages", state="s",
                        code_challenge="x" * 43, code_challenge_method="S256", **params)
    assert refused.status_code == 302
    assert location_params(refused)["error"] == "invalid_request"


def test_the_claims_can_live_under_a_namespace(make_app, make_local_app, tokens, http):
    """Auth0 reserves acr and auth_time in access tokens: an Action puts them under a namespace."""
    namespace = "https://messages-api/"
    with live(make_app(AUTH_STEP_UP_ACR=MFA_ACR, AUTH_STEP_UP_CLAIM_NAMESPACE=namespace)) as server:
        url = alices_message(http, server, tokens.make(sub="alice", scope="write:messages"))
        plain = moderator(tokens, acr=MFA_ACR)
        assert http.delete(url, headers=bearer(plain)).status_code == 401
        namespaced = tokens.make(sub="bob", scope="delete:messages", **{f"{namespace}acr": MFA_ACR})
        assert http.delete(url, headers=bearer(namespaced)).status_code == 204
    local = make_local_app(AUTH_STEP_UP_CLAIM_NAMESPACE=namespace)
    token = local.test_cli_runner().invoke(args=["token", "--acr", "mfa", "--auth-time", "now"]).stdout.strip()
    claims = jwt.decode(token, local.extensions["local_issuer"].key).claims
    assert claims[f"{namespace}acr"] == "mfa" and f"{namespace}auth_time" in claims and "acr" not in claims
