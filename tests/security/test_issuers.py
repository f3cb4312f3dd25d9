"""Several issuers and audiences: two fake providers with keys of their own, one API trusting both.

A token's iss picks its issuer's key set: each issuer has its own discovery, key set and fetch budget,
their keys never mix, and a token naming any other issuer is refused before anything is fetched. A message's
author is an issuer and a subject: the same sub from the other issuer is someone else.
"""

from __future__ import annotations

import pytest

from namespaces.messages import STORE
from tests.support.issuers import Provider
from tests.support.live_server import live, live_with_store
from tests.support.tokens import AUDIENCE, Tokens, rsa_key

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
    return server.app.config["SETTINGS"].auth.issuers[1]


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


# --- messages: an author is an issuer and a subject ---

READ, WRITE, DELETE = "read:messages", "write:messages", "delete:messages"


@pytest.fixture
def messages_api(make_app, provider, second, migrated_database):
    """Both issuers, on a fresh database (each test runs once on SQLite, once on PostgreSQL)."""
    app = make_app(AUTH_ISSUER=f"{provider.issuer},{second.issuer}", DATABASE_URL=migrated_database)
    with live_with_store(app, STORE) as server:
        yield server


@pytest.fixture
def user(tokens, second):
    """Authorization headers for a `sub` of the first issuer ("a") or the second ("b"), with scopes."""
    issuers = {"a": tokens, "b": Tokens(second.issuer, second.keys[0])}

    def headers(issuer: str, sub: str, *scopes: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {issuers[issuer].make(sub=sub, scope=' '.join(scopes))}", **extra}

    return headers


def refusal(answer) -> tuple[int, str]:
    return answer.status_code, answer.json()["error"]


def test_the_same_sub_from_another_issuer_is_someone_else(http, messages_api, provider, second, user):
    alice_a, alice_b = user("a", "alice", READ, WRITE), user("b", "alice", READ, WRITE)
    posted = http.post(messages_api.url + "/api/messages", json={"text": "mine"},
                       headers={**alice_a, "Idempotency-Key": "order-1"})
    assert posted.status_code == 201
    mine = posted.json()
    assert (mine["author"], mine["author_issuer"]) == ("alice", provider.issuer)  # several issuers: named
    url = messages_api.url + posted.headers["Location"]

    assert refusal(http.patch(url, json={"text": "b's"}, headers={**alice_b, "If-Match": '"1"'})) == (403, "not_author")
    assert refusal(http.delete(url, headers=alice_b)) == (403, "not_author")
    theirs = http.post(messages_api.url + "/api/messages", json={"text": "mine"},
                       headers={**alice_b, "Idempotency-Key": "order-1"})  # the same key and body: another user's
    assert theirs.status_code == 201 and theirs.json()["id"] != mine["id"]
    assert (theirs.json()["author"], theirs.json()["author_issuer"]) == ("alice", second.issuer)
    retried = http.post(messages_api.url + "/api/messages", json={"text": "mine"},
                        headers={**alice_a, "Idempotency-Key": "order-1"})
    assert (retried.status_code, retried.json()) == (201, mine)
    assert http.get(url, headers=alice_b).json() == mine  # nothing changed

    edited = http.patch(url, json={"text": "edited"}, headers={**alice_a, "If-Match": '"1"'})
    assert (edited.status_code, edited.json()["author_issuer"]) == (200, provider.issuer)
    assert http.delete(url, headers=alice_a).status_code == 204


def test_a_moderator_of_either_issuer_deletes_anyones_message(http, messages_api, user):
    for writer, moderator in (("a", "b"), ("b", "a")):
        posted = http.post(messages_api.url + "/api/messages", json={"text": "hi"},
                           headers=user(writer, "alice", WRITE))
        url = messages_api.url + posted.headers["Location"]
        assert http.delete(url, headers=user(moderator, "mod", DELETE)).status_code == 204
        assert http.get(url, headers=user(writer, "alice", READ)).status_code == 404


def test_the_author_filter_matches_a_sub_across_issuers_and_author_issuer_narrows_it(
        http, messages_api, provider, second, user):
    for issuer in ("a", "b", "a"):
        http.post(messages_api.url + "/api/messages", json={"text": issuer}, headers=user(issuer, "alice", WRITE))
    http.post(messages_api.url + "/api/messages", json={"text": "bob"}, headers=user("a", "bob", WRITE))

    def listed(**query) -> list[tuple[str, str]]:
        page = http.get(messages_api.url + "/api/messages", params=query, headers=user("b", "reader", READ))
        assert page.status_code == 200, page.text
        return [(m["author"], m["author_issuer"]) for m in page.json()["items"]]

    a, b = ("alice", provider.issuer), ("alice", second.issuer)
    assert listed(author="alice") == [a, b, a]
    assert listed(author="alice", author_issuer=provider.issuer) == [a, a]
    assert listed(author="alice", author_issuer=second.issuer) == [b]
    assert listed(author="alice", author_issuer="https://stranger.example/") == []
    assert listed(author_issuer=provider.issuer) == [("bob", provider.issuer), a, a]  # every user of one issuer
    assert listed(author_issuer=second.issuer) == [b]
