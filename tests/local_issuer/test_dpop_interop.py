"""An independent DPoP client, requests-oauth2client, against the local issuer over real HTTP: it finds
the endpoints by discovery and gets tokens bound to its own key, by client credentials and by code + PKCE
(with RFC 9449 §10's dpop_jkt), for each proof algorithm the issuer lists, then calls every route with it."""

from __future__ import annotations

import pytest
import requests
from joserfc import jwt
from requests_oauth2client import DPoPKey, DPoPToken, OAuth2Client
from requests_oauth2client.exceptions import EndpointError

from tests.support.documents import opened_as_they_are, operations
from tests.support.dpop_proofs import independent_key
from tests.support.live_server import live_on_own_port
from tests.support.oauth import client_of, redirect_uri


@pytest.fixture(scope="module")
def local_server(module_local_server):
    return module_local_server


def oauth2_client(server, *, confidential: bool) -> OAuth2Client:
    """The client configured from the issuer's discovery document (testing=True: it is plain http on loopback)."""
    client = client_of(server)
    return OAuth2Client.from_discovery_endpoint(
        server.url + "/.well-known/openid-configuration", issuer=server.url + "/", testing=True,
        client_id=client.client_id, client_secret=client.client_secret if confidential else None,
    )


def bound_to(server, token: DPoPToken) -> str:
    """The thumbprint the issuer put in the token's cnf.jkt."""
    return jwt.decode(token.access_token, server.app.extensions["local_issuer"].key).claims["cnf"]["jkt"]


def log_in(server, client: OAuth2Client, **request):
    """Code + PKCE as the client does it: its authorization request, the issuer's redirect, the callback checked."""
    authorization = client.authorization_request(scope="read:messages", redirect_uri=redirect_uri(server), **request)
    response = requests.get(str(authorization.uri), allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    return authorization, authorization.validate_callback(response.headers["Location"])


def test_discovery_names_the_algorithms_the_client_may_use(local_server):
    document = requests.get(local_server.url + "/.well-known/openid-configuration", timeout=10).json()
    assert {"ES256", "PS256", "EdDSA", "RS256"} <= set(document["dpop_signing_alg_values_supported"])


@pytest.mark.parametrize("alg", ["ES256", "PS256", "EdDSA", "RS256"])
def test_client_credentials_bind_the_clients_key(local_server, alg):
    key = independent_key(alg)
    token = oauth2_client(local_server, confidential=True).client_credentials(
        scope="read:messages", dpop=True, dpop_key=key)
    assert isinstance(token, DPoPToken)
    assert token.token_type == "DPoP"
    assert token.scope == "read:messages"
    assert bound_to(local_server, token) == key.dpop_jkt


def test_code_and_pkce_bind_the_key_named_in_dpop_jkt(local_server):
    client = oauth2_client(local_server, confidential=False)
    authorization, callback = log_in(local_server, client, dpop=True)
    assert authorization.dpop_key is not None  # the client sent dpop_jkt with its authorization request
    token = client.authorization_code(callback)
    assert isinstance(token, DPoPToken)
    assert bound_to(local_server, token) == authorization.dpop_key.dpop_jkt


def test_a_code_bound_by_dpop_jkt_refuses_another_key(local_server):
    client = oauth2_client(local_server, confidential=False)
    _, callback = log_in(local_server, client, dpop=True)
    with pytest.raises(EndpointError) as refused:
        client.authorization_code(callback.code, code_verifier=callback.code_verifier,
                                  redirect_uri=callback.redirect_uri, dpop=True, dpop_key=DPoPKey.generate())
    assert refused.value.error == "invalid_dpop_proof"
    assert refused.value.response.status_code == 400


@pytest.mark.parametrize("nonce", ["off", "on"])
@pytest.mark.parametrize("mode", ["allowed", "required"])
def test_the_bound_token_opens_every_route(make_local_app, mode, nonce):
    """The client's token on each route, its proofs made by the client itself: with AUTH_DPOP_NONCE=on it
    answers the API's use_dpop_nonce by retrying with the nonce, as RFC 9449 §9 has it."""
    config = {"AUTH_DPOP": mode, "AUTH_DPOP_NONCE": nonce}
    with live_on_own_port(lambda port: make_local_app(port, **config)) as server:
        token = oauth2_client(server, confidential=True).client_credentials(scope="read:messages", dpop=True)
        with requests.Session() as session:
            for operation in operations(session.get(server.url + "/swagger.json", timeout=10).json()):
                if not opened_as_they_are(operation, {"read:messages"}):
                    continue
                response = session.request(operation.method, server.url + operation.path, auth=token, timeout=10)
                assert response.status_code == 200, (operation, response.text)
            if nonce == "on":
                assert token.dpop_key.rs_nonce  # the API's nonce, learnt from its first refusal
