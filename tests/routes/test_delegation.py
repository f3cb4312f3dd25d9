"""Delegation (RFC 8693 §4.1) over real HTTP: an agent acting for alice, end to end through the local issuer's
token exchange; the caller's two parts (subject and current actor) in messages and logs; a malformed `act`
at any depth refused; and the moderator's power refused to delegated tokens."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest
import requests
from joserfc import jwt
from requests_oauth2client import OAuth2Client, oauth2_discovery_document_url
from requests_oauth2client.exceptions import EndpointError

from local_issuer.server import ACCESS_TOKEN_TYPE, TOKEN_EXCHANGE
from tests.support import ROOT, live, live_on_own_port
from tests.support.oauth import client_of
from tests.support.servers import gunicorn

MESSAGES = "/api/messages"
ALL = "read:messages write:messages delete:messages"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def post(http, server, token: str, text: str = "Hello") -> requests.Response:
    posted = http.post(server.url + MESSAGES, json={"text": text}, headers=bearer(token))
    assert posted.status_code == 201, posted.text
    return posted


@pytest.fixture
def local(make_local_app):
    with live_on_own_port(make_local_app) as server:
        yield server


def cli_token(server, *args: str) -> str:
    result = server.app.test_cli_runner().invoke(args=["token", *args])
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def claims_of(server, token: str) -> dict:
    return jwt.decode(token, server.app.extensions["local_issuer"].key).claims


def agent_client(server) -> OAuth2Client:
    """The agent: the local issuer's client, found by discovery, with its secret."""
    issuer = server.url + "/"
    client = client_of(server)
    return OAuth2Client.from_discovery_endpoint(oauth2_discovery_document_url(issuer), issuer=issuer, testing=True,
                                                client_id=client.client_id, client_secret=client.client_secret)


def test_an_agent_acts_for_alice_and_may_not_moderate(local, http):
    """alice's token exchanged by the agent: it posts as alice (the message names it as actor), then tries a
    moderator's deletion of bob's message with alice's moderator scope, and is refused: a person moderates."""
    alice = cli_token(local, "--sub", "alice", "--scope", ALL)
    bobs = local.url + post(http, local, cli_token(local, "--sub", "bob"), "Bob's").headers["Location"]

    agent = agent_client(local).token_exchange(subject_token=alice, subject_token_type=ACCESS_TOKEN_TYPE)
    agent_id = client_of(local).client_id
    claims = claims_of(local, agent.access_token)
    assert (claims["sub"], claims["act"], claims["scope"]) == ("alice", {"sub": agent_id}, ALL)

    posted = post(http, local, agent.access_token, "Posted by my agent").json()
    assert (posted["author"], posted["actor"]) == ("alice", agent_id)
    read = http.get(local.url + MESSAGES + "/" + posted["id"], headers=bearer(alice)).json()
    assert read["actor"] == agent_id

    refused = http.delete(bobs, headers=bearer(agent.access_token))
    assert refused.status_code == 403
    assert refused.json() == {"error": "delegation_refused", "error_description": (
        "This operation must be done by the user in person: the access token is delegated (an act claim names "
        "who acts for the user).")}
    assert "WWW-Authenticate" not in refused.headers
    assert http.delete(bobs, headers=bearer(alice)).status_code == 204  # alice herself may
    own = local.url + MESSAGES + "/" + posted["id"]
    assert http.delete(own, headers=bearer(agent.access_token)).status_code == 204  # and her agent, her own


def test_a_message_alice_posts_herself_names_no_actor(local, http):
    assert "actor" not in post(http, local, cli_token(local, "--sub", "alice")).json()


def test_the_exchange_gives_at_most_the_subject_tokens_scopes(local, http):
    reader = cli_token(local, "--sub", "alice", "--scope", "read:messages")
    client = agent_client(local)
    narrowed = client.token_exchange(subject_token=reader, subject_token_type=ACCESS_TOKEN_TYPE,
                                     scope="read:messages")
    assert claims_of(local, narrowed.access_token)["scope"] == "read:messages"
    with pytest.raises(EndpointError) as more:
        client.token_exchange(subject_token=reader, subject_token_type=ACCESS_TOKEN_TYPE, scope="write:messages")
    assert more.value.error == "invalid_scope"


def test_an_exchanged_token_nests_the_earlier_actor(local):
    earlier = cli_token(local, "--sub", "alice", "--act", "agent-1")
    again = agent_client(local).token_exchange(subject_token=earlier, subject_token_type=ACCESS_TOKEN_TYPE)
    assert claims_of(local, again.access_token)["act"] == {"sub": client_of(local).client_id,
                                                           "act": {"sub": "agent-1"}}


@pytest.mark.parametrize("change, error", [
    ({"subject_token": "not-a-token"}, "invalid_grant"),
    ({"subject_token_type": "urn:ietf:params:oauth:token-type:id_token"}, "invalid_request"),
    ({"actor_token": "x", "actor_token_type": ACCESS_TOKEN_TYPE}, "invalid_request"),
    ({"client_secret": "wrong-secret-0123456789"}, "invalid_client"),
])
def test_the_exchange_refuses_what_it_cannot_vouch_for(local, http, change, error):
    client = client_of(local)
    data = {"grant_type": TOKEN_EXCHANGE, "client_id": client.client_id, "client_secret": client.client_secret,
            "subject_token": cli_token(local, "--sub", "alice"), "subject_token_type": ACCESS_TOKEN_TYPE, **change}
    refused = http.post(local.url + "/oauth/token", data=data)
    assert refused.status_code in (400, 401)
    assert refused.json()["error"] == error


def test_another_issuers_or_an_expired_or_a_bound_token_is_not_exchanged(local, tokens, http):
    client = client_of(local)
    expired = local.app.extensions["local_issuer"].mint(subject="alice", expires_in=-10)
    bound = local.app.extensions["local_issuer"].mint(subject="alice", jkt="x" * 43)
    for subject_token in (tokens.make(sub="alice"), expired, bound):
        refused = http.post(local.url + "/oauth/token", data={
            "grant_type": TOKEN_EXCHANGE, "client_id": client.client_id, "client_secret": client.client_secret,
            "subject_token": subject_token, "subject_token_type": ACCESS_TOKEN_TYPE})
        assert (refused.status_code, refused.json()["error"]) == (400, "invalid_grant")


def test_the_local_issuer_says_it_exchanges_tokens(local, http):
    document = http.get(local.url + "/.well-known/oauth-authorization-server").json()
    assert TOKEN_EXCHANGE in document["grant_types_supported"]


def test_make_token_act_mints_a_delegated_token(local, http):
    token = cli_token(local, "--sub", "alice", "--act", "agent-1")
    assert claims_of(local, token)["act"] == {"sub": "agent-1"}
    assert post(http, local, token).json()["actor"] == "agent-1"


@pytest.mark.parametrize("act", [
    "agent-1", ["agent-1"], {}, {"sub": ""}, {"sub": 7}, {"sub": None}, {"iss": "x"},
    {"sub": "agent-2", "act": "agent-1"}, {"sub": "agent-2", "act": {"sub": ""}},
    {"sub": "a", "act": {"sub": "b", "act": {"sub": "c", "act": {"no": "sub"}}}},
])
def test_a_malformed_act_at_any_depth_makes_the_token_invalid(server, tokens, http, act, caplog):
    with caplog.at_level(logging.INFO, logger="security.refused"):
        refused = http.get(server.url + "/api/private", headers=bearer(tokens.make(act=act)))
    assert refused.status_code == 401
    assert refused.json() == {"error": "invalid_token", "error_description": "The token's act claim is malformed."}
    assert "reason=malformed_act" in caplog.text


def test_a_chain_of_actors_names_the_outermost_one(make_app, tokens, http):
    chain = {"sub": "agent-2", "act": {"sub": "agent-1", "act": {"sub": "orchestrator"}}}
    with live(make_app()) as server:
        posted = http.post(server.url + MESSAGES, json={"text": "Hi"},
                           headers=bearer(tokens.make(sub="alice", scope="write:messages", act=chain))).json()
    assert (posted["author"], posted["actor"]) == ("alice", "agent-2")


def test_too_long_a_chain_is_refused(server, tokens, http):
    act: dict = {"sub": "agent-0"}
    for number in range(1, 17):
        act = {"sub": f"agent-{number}", "act": act}
    refused = http.get(server.url + "/api/private", headers=bearer(tokens.make(act=act)))
    assert (refused.status_code, refused.json()["error"]) == (401, "invalid_token")


def test_refusals_log_the_actor(server, tokens, http, caplog):
    token = tokens.make(sub="alice", scope="openid", act={"sub": "agent-1"})
    with caplog.at_level(logging.INFO, logger="security.refused"):
        http.get(server.url + "/api/private-scoped", headers=bearer(token))
    assert 'reason=insufficient_scope' in caplog.text and 'actor="agent-1"' in caplog.text


def test_the_access_log_names_the_actor(provider, tokens, http, tmp_path):
    """`make serve`'s access log (gunicorn) names each request's actor, just before the request id that ends the
    line."""
    with gunicorn(provider, tmp_path, WEB_CONCURRENCY="1") as url:
        assert http.get(url + "/api/private", headers=bearer(tokens.make(act={"sub": "agent-1"}))).status_code == 200
        assert http.get(url + "/api/private", headers=bearer(tokens.make())).status_code == 200
    lines = [line for line in (tmp_path / "stdout.log").read_text().splitlines() if "/api/private" in line]
    assert [line.rsplit(" ", 2)[1] for line in lines] == ['actor="agent-1"', 'actor="-"']


def test_an_actor_cannot_break_the_access_log_line(tmp_path):
    """The actor is a client's string: escaped like every other field (app/access_log.py)."""
    result = subprocess.run([sys.executable, "-c", (
        "from app.access_log import EscapedAtoms; "
        "print(EscapedAtoms({'{api.actor}e': 'a\"\\nb'})['{api.actor}e'])")],
        cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == 'a\\"\\x0ab'
