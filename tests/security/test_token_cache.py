"""The verified-token cache: what it may serve, and everything it must not.

The validator is built as the app builds it, with real keys fetched over loopback HTTP from the fake
provider; time moves through an injected clock instead of waiting. "Served from the cache" shows as the
very same AccessToken object coming back; a full validation builds a new one.
"""

from __future__ import annotations

import sys
import threading

import pytest

from security import AccessTokenValidator, InvalidToken, KeySetCache
from security.token_cache import MAX_BYTES
from security.validator import MAX_TOKEN_LENGTH
from tests.support.http import bearer_get
from tests.support.live_server import live
from tests.support.timing import ManualClock, eventually
from tests.support.tokens import AUDIENCE, rsa_key


@pytest.fixture
def clock():
    """Epoch seconds that move only when told to."""
    return ManualClock()


@pytest.fixture
def build(provider, clock):
    def validator(size=100, ttl=300, leeway=5, keys=None):
        keys = keys or KeySetCache(provider.issuer, timeout=1, cooldown=0)
        return AccessTokenValidator(keys, issuer=provider.issuer, audience=AUDIENCE, algorithms=("RS256",),
                                    leeway=leeway, cache_size=size, cache_ttl=ttl, clock=clock)

    return validator


def refused(validator, token) -> str:
    with pytest.raises(InvalidToken) as caught:
        validator.authenticate_token(token)
    return caught.value.reason


def test_a_repeated_token_is_served_from_the_cache(build, tokens):
    validator = build()
    token = tokens.make(scope="read:messages")
    first = validator.authenticate_token(token)
    assert validator.authenticate_token(token) is first
    assert len(validator.cache) == 1


def test_size_zero_turns_the_cache_off(build, tokens, make_app):
    validator = build(size=0)
    token = tokens.make()
    assert validator.cache is None
    assert validator.authenticate_token(token) is not validator.authenticate_token(token)
    app = make_app(AUTH_TOKEN_CACHE_SIZE=0)
    assert app.extensions["access_token_validator"].cache is None
    assert make_app().extensions["access_token_validator"].cache.maxsize == 10_000


def test_a_token_that_expires_while_cached_is_refused(build, tokens, clock):
    validator = build(leeway=5)
    token = tokens.make(exp=clock.now + 60)
    validator.authenticate_token(token)
    clock.advance(64)
    validator.authenticate_token(token)  # within the leeway
    clock.advance(2)
    assert refused(validator, token) == "expired"
    assert len(validator.cache) == 0  # the entry lived no longer than exp + leeway


def test_an_entry_lives_no_longer_than_the_cache_ttl(build, tokens, clock):
    validator = build(ttl=300)
    token = tokens.make(exp=clock.now + 3600)
    first = validator.authenticate_token(token)
    clock.advance(299)
    assert validator.authenticate_token(token) is first
    clock.advance(1)
    assert len(validator.cache) == 0
    again = validator.authenticate_token(token)  # fully validated again, still good
    assert again is not first and again.claims == first.claims


def test_nbf_is_honoured(build, tokens, clock):
    validator = build(leeway=5)
    early = tokens.make(nbf=clock.now + 60)
    assert refused(validator, early) == "bad_nbf"
    assert refused(validator, early) == "bad_nbf"
    assert len(validator.cache) == 0  # refusals are never cached
    clock.advance(55)
    validator.authenticate_token(early)


def test_time_claims_are_checked_on_every_use(build, tokens, clock):
    """A clock stepped back makes a cached token not valid yet again (nbf) or issued in the future (iat)."""
    validator = build(leeway=5)
    for claims, reason in (({"nbf": clock.now, "iat": None}, "bad_nbf"), ({"iat": clock.now}, "bad_iat")):
        token = tokens.make(**claims)
        validator.authenticate_token(token)
        clock.advance(-10)
        assert refused(validator, token) == reason
        clock.advance(10)
        validator.authenticate_token(token)


def test_the_cache_is_bounded(build, tokens):
    validator = build(size=3)
    minted = [tokens.make(sub=f"user-{i}") for i in range(10)]
    first = validator.authenticate_token(minted[0])
    for token in minted[1:]:
        validator.authenticate_token(token)
    assert len(validator.cache) == 3
    assert validator.authenticate_token(minted[0]) is not first  # evicted, then fully validated again


def test_the_cache_is_bounded_in_bytes(make_app, tokens):
    """A token's claims can cost a hundred times its length in memory. At the default settings, tokens as
    long as accepted and built to cost the most are held within the byte bound, not the entry count."""
    validator = make_app().extensions["access_token_validator"]
    empty_lists = 1300
    heavy = [tokens.make(sub=f"user-{i}", **{"https://example.com/t": [[]] * empty_lists}) for i in range(400)]
    assert len(heavy[0]) <= MAX_TOKEN_LENGTH
    for token in heavy:
        validator.authenticate_token(token)
    held = len(validator.cache)
    assert 0 < held < len(heavy) < validator.cache.maxsize
    assert validator.cache.bytes_held <= MAX_BYTES
    assert validator.cache.bytes_held >= held * empty_lists * sys.getsizeof([])  # counted by what they hold
    assert validator.cached(heavy[-1]) is not None  # the newest entries stay...
    assert validator.cached(heavy[0]) is None  # ...the oldest went first


def test_invalid_tokens_are_never_cached(build, tokens, attacker_key, clock):
    validator = build()
    hostile = [
        tokens.make(key=attacker_key),  # bad signature under the real kid
        tokens.make(key=rsa_key("unknown")),
        tokens.make(exp=clock.now - 3600),
        tokens.make(aud="https://other.api"),
        tokens.make(iss="https://evil.example/"),
        tokens.make(scope=123),
        "garbage.garbage.garbage",
    ]
    for token in hostile:
        refused(validator, token)
        refused(validator, token)
    assert len(validator.cache) == 0


def test_hostile_traffic_cannot_evict_a_good_entry(build, tokens, attacker_key):
    validator = build(size=2)
    good = tokens.make()
    cached = validator.authenticate_token(good)
    for i in range(200):
        refused(validator, tokens.make(key=attacker_key, sub=f"x{i}"))
        refused(validator, f"garbage{i}.x.y")
    assert validator.authenticate_token(good) is cached


def test_a_tampered_copy_of_a_cached_token_is_refused(build, tokens):
    validator = build()
    token = tokens.make(scope="openid")
    validator.authenticate_token(token)
    header, payload, signature = token.split(".")
    forged = f"{header}.{tokens.make(scope='read:messages').split('.')[1]}.{signature}"
    assert refused(validator, forged) == "bad_signature"


def test_not_served_after_its_key_is_removed(build, provider, tokens, other_key):
    validator = build()
    old = tokens.make()
    validator.authenticate_token(old)
    provider.keys = [other_key]  # rotation: key-1 is gone
    validator.authenticate_token(tokens.make(key=other_key))  # unknown kid: the key set is refetched
    assert len(validator.cache) == 1  # key-1's entry was dropped when the set changed
    assert refused(validator, old) == "unknown_kid"


def test_not_served_after_the_material_under_its_kid_changes(build, provider, tokens):
    validator = build()
    token = tokens.make()
    validator.authenticate_token(token)
    provider.keys = [rsa_key("key-1")]  # same kid, new key material
    refused(validator, tokens.make(key=rsa_key("nobody")))  # unknown kid: the key set is refetched
    assert refused(validator, token) == "bad_signature"


def test_a_refresh_that_changes_nothing_keeps_cached_entries(build, provider, tokens):
    validator = build()
    token = tokens.make()
    cached = validator.authenticate_token(token)
    fetches = provider.jwks_fetches
    refused(validator, tokens.make(key=rsa_key("nobody")))  # unknown kid: the (same) key set is refetched
    assert provider.jwks_fetches == fetches + 1
    assert validator.authenticate_token(token) is cached


def test_a_token_without_kid_is_dropped_when_its_sole_key_is_no_longer_alone(build, provider, tokens, other_key):
    validator = build()
    token = tokens.make(header={"kid": None})
    validator.authenticate_token(token)
    provider.keys = [tokens.key, other_key]
    validator.authenticate_token(tokens.make(key=other_key))  # refetch: two keys now
    assert refused(validator, token) == "unknown_kid"


def test_a_key_set_change_makes_every_entry_verify_again(build, provider, tokens, other_key):
    """A new key beside the old (a rotation being prepared): cached tokens are checked against the new
    set once, then served from the cache again."""
    validator = build()
    token = tokens.make()
    first = validator.authenticate_token(token)
    provider.keys = [tokens.key, other_key]
    validator.authenticate_token(tokens.make(key=other_key))  # unknown kid: the set is refetched
    second = validator.authenticate_token(token)
    assert second is not first and second.claims == first.claims
    assert validator.authenticate_token(token) is second


def test_cache_hits_do_not_hold_back_the_key_set_refresh(provider, build, tokens, other_key, clock):
    """Every request hitting the cache must not keep a removed key alive: no entry outlives the key
    set's TTL, so the request after it runs the full check, which refreshes the set."""
    monotonic = ManualClock()
    keys = KeySetCache(provider.issuer, timeout=1, ttl=60, clock=monotonic)
    validator = build(size=10, ttl=3600, keys=keys)
    token = tokens.make(exp=clock.now + 3600)
    first = validator.authenticate_token(token)
    for _ in range(5):
        clock.advance(10), monotonic.advance(10)
        assert validator.authenticate_token(token) is first
    provider.keys = [other_key]  # key-1 is withdrawn at the issuer
    clock.advance(11), monotonic.advance(11)  # the set is now due for a refresh
    fetches = provider.jwks_fetches
    checked = validator.authenticate_token(token)  # full check on the set held, which starts the refresh
    assert checked is not first
    assert eventually(lambda: provider.jwks_fetches == fetches + 1 and keys.kids == {"key-2"})
    assert refused(validator, token) == "unknown_kid"


def test_concurrent_use_stays_bounded_and_correct(build, tokens, attacker_key):
    validator = build(size=5)
    good = [tokens.make(sub=f"user-{i}") for i in range(20)]
    bad = [tokens.make(key=attacker_key, sub=f"user-{i}") for i in range(5)]
    validator.authenticate_token(good[0])  # keys held first: the threads race on the cache, not on first use
    errors = []

    def work(offset):
        for i in range(100):
            try:
                validator.authenticate_token(good[(offset + i) % len(good)])
                try:
                    validator.authenticate_token(bad[i % len(bad)])
                    errors.append("a bad token passed")
                except InvalidToken:
                    pass
            except Exception as error:  # noqa: BLE001 - collected and asserted below
                errors.append(repr(error))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(validator.cache) <= 5


# -- through the app, over HTTP ------------------------------------------------------------------------

def test_scopes_are_checked_per_route_on_cached_tokens(server, http, tokens):
    plain, scoped = tokens.make(), tokens.make(scope="read:messages")
    for _ in range(2):
        assert bearer_get(server, http, plain).status_code == 200
        assert bearer_get(server, http, plain, "/api/private-scoped").status_code == 403
        assert bearer_get(server, http, scoped, "/api/private-scoped").status_code == 200
        assert bearer_get(server, http, scoped).status_code == 200


def test_header_spellings_outside_the_short_path_get_the_full_parse(server, http, tokens):
    """The cache's short path takes only ``Bearer <token>`` as sent; every other spelling RFC 6750
    allows still works once the token is cached, and near misses are still refused."""
    token = tokens.make()
    assert bearer_get(server, http, token).status_code == 200  # now cached
    for header in (f"bearer {token}", f"BEARER {token}", f"Bearer  {token}", f"Bearer {token} "):
        response = http.get(server.url + "/api/private", headers={"Authorization": header})
        assert response.status_code == 200, header
    for header in (f"Bearer {token}x", f"Bearer {token[:-1]}", f"Bearer {token} {token}", f"Bearer{token}",
                   f"Basic {token}", f"Bearer {token}\x00"):
        response = http.get(server.url + "/api/private", headers={"Authorization": header})
        assert response.status_code == 401, header


def test_app_does_not_serve_a_cached_token_after_key_rotation(provider, make_app, http, tokens, other_key):
    with live(make_app()) as server:
        old = tokens.make()
        assert bearer_get(server, http, old).status_code == 200
        assert bearer_get(server, http, old).status_code == 200
        provider.keys = [other_key]
        assert bearer_get(server, http, tokens.make(key=other_key)).status_code == 200  # refetch drops key-1
        response = bearer_get(server, http, old)
        assert response.status_code == 401
        assert response.json()["error_description"] == "The token was signed by an unknown key (kid)."
