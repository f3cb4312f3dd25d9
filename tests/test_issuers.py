"""Several issuers and audiences: two fake providers with keys of their own, one API trusting both.

A token's iss picks its issuer's key set: each issuer has its own discovery, key set and fetch budget,
their keys never mix, and a token naming any other issuer is refused before anything is fetched.
"""

from __future__ import annotations

import pytest

from tests.support import AUDIENCE, Provider, Tokens, live, rsa_key

OTHER_AUDIENCE = "https://messages.test/other-api"


@pytest.fixture
def second(other_server):
    """A second provider, with its own key under the same kid as the first one's."""
    return Provider(server=other_server, keys=[rsa_key("key-1")]).start()


@pytest.fixture
def both(make_app, provider, second):
    app = make_app(AUTH_ISSUER=f"{provider.issuer},{second.issuer}", AUTH0_AUDIENCE=f"{AUDIENCE}, {OTHER_AUDIENCE}")
    with live(app) as server:
        yield server


def status(http, server, token, route="/api/private"):
    return http.get(server.url + route, headers={"Authorization": f"Bearer {token}"}).status_code


def test_each_issuer_verifies_its_own_tokens_with_its_own_keys(both, http, provider, second, tokens):
    theirs = Tokens(second.issuer, second.keys[0])
    assert status(http, both, tokens.make()) == 200
    assert (provider.jwks_fetches, second.jwks_fetches) == (1, 0)  # nothing asked of the issuer not involved
    assert status(http, both, theirs.make()) == 200
    assert (provider.jwks_fetches, second.jwks_fetches) == (1, 1)
    assert (provider.discovery_fetches, second.discovery_fetches) == (1, 1)  # each its own discovery


def test_a_token_signed_by_one_issuer_claiming_the_other_is_refused(both, http, provider, second, tokens):
    for token in (tokens.make(iss=second.issuer),  # the first's key, kid "key-1", which the second also uses
                  Tokens(second.issuer, second.keys[0]).make(iss=provider.issuer)):
        response = http.get(both.url + "/api/private", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
        assert response.json() == {"error": "invalid_token", "error_description": "The token's signature is invalid."}


def test_a_key_only_the_other_issuer_has_is_never_borrowed(both, http, provider, tokens):
    """A key the first issuer publishes verifies nothing that claims the second issuer."""
    own = rsa_key("only-the-first")
    provider.keys.append(own)
    assert status(http, both, tokens.make(key=own)) == 200  # the first issuer's key, for its own tokens
    response = http.get(both.url + "/api/private",
                        headers={"Authorization": f"Bearer {tokens.make(key=own, iss=second_issuer(both))}"})
    assert response.json()["error_description"] == "The token was signed by an unknown key (kid)."


def second_issuer(server) -> str:
    return server.app.config["SETTINGS"].issuers[1]


@pytest.mark.parametrize("iss, description", [
    ("https://stranger.example/", "The token was issued by another issuer."),
    (None, "The token has no iss claim."),
    (["https://stranger.example/"], "The token's iss claim is malformed."),
])
def test_an_unknown_issuer_is_refused_with_nothing_fetched(both, http, provider, second, tokens, iss, description):
    stranger = Tokens("https://stranger.example/", rsa_key("stranger"))
    response = http.get(both.url + "/api/private", headers={"Authorization": f"Bearer {stranger.make(iss=iss)}"})
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_token", "error_description": description}
    assert provider.jwks_fetches == second.jwks_fetches == provider.discovery_fetches == second.discovery_fetches == 0


def test_one_configured_audience_in_aud_is_enough(both, http, tokens):
    assert status(http, both, tokens.make(aud=OTHER_AUDIENCE)) == 200
    assert status(http, both, tokens.make(aud=["https://elsewhere", OTHER_AUDIENCE])) == 200
    response = http.get(both.url + "/api/private", headers={"Authorization": f"Bearer {tokens.make(aud='https://x')}"})
    assert response.json()["error_description"] == "The token is not meant for this API (audience)."


def test_each_issuer_has_its_own_fetch_budget(both, http, provider, second, tokens):
    """An issuer that is down costs its own tokens a 503; the other's tokens are served as usual."""
    provider.down = True
    assert status(http, both, tokens.make()) == 503
    assert status(http, both, Tokens(second.issuer, second.keys[0]).make()) == 200


def test_the_docs_login_uses_the_first_issuer(both, http, provider):
    code = http.get(both.url + "/swagger.json").json()["securityDefinitions"]["authorization_code"]
    assert code["authorizationUrl"] == provider.server.url_for("/authorize")


def test_the_verified_token_cache_serves_each_issuer(both, http, provider, second, tokens):
    mine, theirs = tokens.make(), Tokens(second.issuer, second.keys[0]).make()
    for _ in range(3):
        assert status(http, both, mine) == status(http, both, theirs) == 200
    validator = both.app.extensions["access_token_validator"]
    assert validator.cached(mine).claims["iss"] == provider.issuer
    assert validator.cached(theirs).claims["iss"] == second.issuer
    assert (provider.jwks_fetches, second.jwks_fetches) == (1, 1)
