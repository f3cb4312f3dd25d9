"""Key-set behaviour with fetches counted: the first fetch (at warm-up or first use) and those who wait
for it, rotation, floods, outages, slowness, and an issuer that hangs."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
import requests

from security import SigningKeysUnavailable
from security.keys import RETRY_AFTER_FAILURE, KeySetCache
from tests.support.http import bearer_get
from tests.support.issuers import SocketIssuer
from tests.support.live_server import live
from tests.support.timing import ManualClock, eventually, run_together


def test_nothing_is_fetched_when_the_app_is_built(provider, make_app, http, tokens):
    """Only a server that starts warms the keys up (tests/serving/test_fresh_workers.py); building the app fetches
    nothing."""
    app = make_app()
    assert (provider.discovery_fetches, provider.jwks_fetches) == (0, 0)
    with live(app) as server:
        assert http.get(server.url + "/api/public").status_code == 200
        assert provider.jwks_fetches == 0
        for _ in range(5):
            assert bearer_get(server, http, tokens.make()).status_code == 200
    assert (provider.discovery_fetches, provider.jwks_fetches) == (1, 1)


def test_first_use_fetches_once_and_those_arriving_meanwhile_wait_for_it(provider, make_app, tokens):
    """The request that finds no key fetches and waits; those arriving meanwhile wait for that same fetch
    (they start no other) and are answered with the keys it brought, as are later ones."""
    provider.delay = 3.0  # the provider takes its time over the key set (seconds: a busy machine may be slow to send)
    token = tokens.make()
    with live(make_app(AUTH_JWKS_URL=provider.jwks_url, AUTH_JWKS_TIMEOUT="5")) as server:
        first = _Call(server.url + "/api/private", token)
        assert eventually(lambda: provider.jwks_fetches == 1)
        meanwhile = during_the_fetch(server.url + "/api/private", token)
        assert [response.status_code for response, _ in meanwhile] == [200] * len(meanwhile)
        assert max(waited for _, waited in meanwhile) > 0.2  # they did wait: the fetch was under way
        assert first.result().status_code == 200
        assert requests.get(server.url + "/api/private", headers={"Authorization": f"Bearer {token}"},
                            timeout=10).status_code == 200
    assert provider.jwks_fetches == 1


class _Call:
    """One GET in a thread of its own, for a request that is meant to wait."""

    def __init__(self, url: str, token: str):
        self.url, self.token = url, token
        self.started = time.monotonic()
        self.elapsed: float | None = None
        self._outcome: list = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        self._outcome.append(requests.get(self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30))
        self.elapsed = time.monotonic() - self.started

    def result(self) -> requests.Response:
        self.thread.join(30)
        return self._outcome[0]


@pytest.mark.parametrize("warmed_up", [True, False], ids=["warm-up", "first use"])
def test_those_arriving_during_the_first_fetch_all_get_the_key_from_it(provider, warmed_up):
    """Whoever starts the first fetch (a server's warm-up, or one of the racing requests), the others wait
    for it: one fetch, and every one of them gets the key."""
    provider.delay = 0.5  # the fetch is under way while they arrive
    keys = KeySetCache(provider.issuer, jwks_url=provider.jwks_url, timeout=5)
    if warmed_up:
        keys.warm_up()
        assert eventually(lambda: provider.jwks_fetches == 1)
    found = run_together(16, lambda _: keys.get("key-1"))
    assert [getattr(key, "kid", key) for key in found] == ["key-1"] * 16
    assert provider.jwks_fetches == keys.fetch_count == 1


def test_after_a_failed_fetch_requests_are_refused_at_once(provider):
    provider.down = True
    keys = KeySetCache(provider.issuer, jwks_url=provider.jwks_url, timeout=10, clock=ManualClock())
    keys.warm_up()
    assert eventually(lambda: keys.fresh_for() > 0)  # the warm-up failed: the retry delay runs
    outcomes = run_together(16, lambda _: timed_get(keys))
    assert {type(outcome) for outcome, _ in outcomes} == {SigningKeysUnavailable}
    assert max(took for _, took in outcomes) < keys.timeout / 2  # at once: nothing to wait for
    assert provider.jwks_fetches == 1


def test_during_an_outage_only_the_request_that_retries_waits(hanging_issuer):
    """Once a fetch has failed, those arriving while a retry is under way wait for no one: the outage piles
    up neither waiting requests nor fetches."""
    clock = ManualClock()
    keys = KeySetCache(hanging_issuer.url, jwks_url=hanging_issuer.url + "jwks.json", timeout=6, clock=clock)
    keys.warm_up()
    assert eventually(lambda: keys.fresh_for() > 0, seconds=keys.timeout + 10)  # the warm-up timed out
    clock.advance(RETRY_AFTER_FAILURE)
    retry = threading.Thread(target=timed_get, args=(keys,))  # due again: this request retries, and waits
    retry.start()
    assert eventually(lambda: hanging_issuer.connections == 2)
    outcomes = run_together(16, lambda _: timed_get(keys))
    assert retry.is_alive()  # all were answered while the retry hung
    assert {type(outcome) for outcome, _ in outcomes} == {SigningKeysUnavailable}
    assert max(took for _, took in outcomes) < keys.timeout / 2
    retry.join(keys.timeout + 10)
    assert hanging_issuer.connections == 2


def timed_get(keys: KeySetCache, kid: str = "key-1"):
    """``keys.get(kid)``: the key, or the SigningKeysUnavailable raised, and the seconds it took."""
    started = time.monotonic()
    try:
        outcome = keys.get(kid)
    except SigningKeysUnavailable as error:
        outcome = error
    return outcome, time.monotonic() - started


def test_rotation_picks_up_a_new_key(provider, make_app, http, tokens, other_key):
    with live(make_app()) as server:
        assert bearer_get(server, http, tokens.make()).status_code == 200
        provider.keys = [tokens.key, other_key]  # the provider publishes its next key and starts using it
        assert bearer_get(server, http, tokens.make(key=other_key)).status_code == 200
        assert bearer_get(server, http, tokens.make(key=other_key)).status_code == 200
        assert bearer_get(server, http, tokens.make()).status_code == 200
    assert provider.jwks_fetches == 2


def test_retired_key_is_refused_after_the_ttl(provider, make_app, http, tokens, other_key):
    with live(make_app(AUTH_JWKS_CACHE_TTL="1")) as server:
        assert bearer_get(server, http, tokens.make()).status_code == 200
        provider.keys = [other_key]
        time.sleep(1.1)
        bearer_get(server, http, tokens.make(key=other_key))  # any use after the TTL refreshes
        # The refresh runs in the background, and the old keys serve until its answer is installed: the
        # provider counting the fetch is not enough (the next request may still come first).
        assert eventually(lambda: bearer_get(server, http, tokens.make()).status_code == 401)
        assert provider.jwks_fetches >= 2
        response = bearer_get(server, http, tokens.make())
        assert response.status_code == 401
        assert response.json()["error_description"] == "The token was signed by an unknown key (kid)."


def test_unknown_kid_flood_is_one_refetch(provider, make_app, http, tokens):
    with live(make_app(AUTH_JWKS_COOLDOWN="30")) as server:
        assert bearer_get(server, http, tokens.make()).status_code == 200
        for _ in range(100):
            response = bearer_get(server, http, tokens.make(header={"kid": uuid.uuid4().hex}))
            assert response.status_code == 401
        assert bearer_get(server, http, tokens.make()).status_code == 200
    assert provider.jwks_fetches == 2  # first use + one refetch for the first unknown kid


def test_unknown_kid_refetch_again_after_the_cooldown(provider, tokens):
    clock = ManualClock(now=1000.0)
    keys = KeySetCache(provider.issuer, cooldown=30, ttl=600, clock=clock)
    assert keys.get("key-1").kid == "key-1"
    assert provider.jwks_fetches == 1
    for _ in range(20):
        assert keys.get(uuid.uuid4().hex) is None
    assert provider.jwks_fetches == 2
    clock.now += 29
    assert keys.get(uuid.uuid4().hex) is None
    assert provider.jwks_fetches == 2
    clock.now += 1
    for _ in range(20):
        assert keys.get(uuid.uuid4().hex) is None
    assert provider.jwks_fetches == 3
    assert keys.get("key-1") is not None


def test_provider_down_at_start_up(provider, make_app, http, tokens):
    provider.down = True
    with live(make_app()) as server:  # starts without the provider
        for _ in range(10):
            response = bearer_get(server, http, tokens.make())
            assert response.status_code == 503
            assert response.headers["Retry-After"]
        assert provider.jwks_fetches + provider.discovery_fetches <= 2  # one attempt, not ten
        provider.down = False
        time.sleep(RETRY_AFTER_FAILURE + 0.1)  # a failure is retried within seconds
        assert bearer_get(server, http, tokens.make()).status_code == 200


def test_provider_down_with_keys_cached(provider, make_app, http, tokens):
    with live(make_app(AUTH_JWKS_CACHE_TTL="1")) as server:
        assert bearer_get(server, http, tokens.make()).status_code == 200
        provider.down = True
        time.sleep(1.1)
        for _ in range(20):
            assert bearer_get(server, http, tokens.make()).status_code == 200  # the outage changes nothing
        assert eventually(lambda: provider.jwks_fetches == 2)
        assert provider.jwks_fetches == 2  # one failed refresh; the next is not before RETRY_AFTER_FAILURE
        provider.down = False
        time.sleep(RETRY_AFTER_FAILURE + 0.1)
        assert bearer_get(server, http, tokens.make()).status_code == 200
        assert eventually(lambda: provider.jwks_fetches == 3)


def test_slow_provider_is_bounded_by_the_timeout(provider, make_app, http, tokens):
    provider.delay = 5
    with live(make_app(AUTH_JWKS_TIMEOUT="0.3", AUTH_JWKS_URL=provider.jwks_url)) as server:
        started = time.monotonic()
        response = bearer_get(server, http, tokens.make())
        elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert elapsed < provider.delay  # the request did not wait for the provider to answer
    time.sleep(provider.delay)  # let the fake provider finish its slow answer


def test_discovery_falls_back_to_the_well_known_jwks(provider, make_app, http, tokens):
    provider.discovery = False
    with live(make_app()) as server:
        assert bearer_get(server, http, tokens.make()).status_code == 200
    assert provider.discovery_fetches == 1
    assert provider.jwks_fetches == 1
    assert any(request.path == "/.well-known/jwks.json" for request, _ in provider.server.log)


def test_configured_jwks_url_skips_discovery(provider, make_app, http, tokens):
    with live(make_app(AUTH_JWKS_URL=provider.jwks_url)) as server:
        assert bearer_get(server, http, tokens.make()).status_code == 200
    assert provider.discovery_fetches == 0


def test_discovered_jwks_uri_must_be_https(provider, make_app, http, tokens):
    provider.jwks_uri = "http://keys.example.com/jwks.json"
    with live(make_app()) as server:
        assert bearer_get(server, http, tokens.make()).status_code == 503
    assert provider.jwks_fetches == 0


def test_garbage_from_the_issuer_is_a_503_not_a_500(make_app, http, tokens):
    issuer = SocketIssuer(b"HTTZ garbage")
    try:
        with live(make_app(AUTH_JWKS_URL=issuer.url + "jwks.json")) as server:
            response = bearer_get(server, http, tokens.make())
    finally:
        issuer.close()
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"


def test_an_issuer_trickling_its_headers_is_cut_at_the_timeout(provider):
    headers = b"HTTP/1.1 200 OK\n" + b"".join(b"X-Slow-%d: 1\n" % i for i in range(40))
    issuer = SocketIssuer(headers, trickle=0.25)
    try:
        keys = KeySetCache(provider.issuer, jwks_url=issuer.url + "jwks.json", timeout=0.5)
        started = time.monotonic()
        try:
            keys.get("key-1")
            raised = False
        except Exception as error:  # noqa: BLE001 (the type is asserted below)
            raised = type(error).__name__
        elapsed = time.monotonic() - started
    finally:
        issuer.close()
    assert raised == "SigningKeysUnavailable"
    assert elapsed < 5.0  # 40 header lines at 0.25 s each would take 10 s


# -- an issuer that accepts connections and never answers ------------------------------------------------

def test_one_acquisition_from_a_hanging_issuer_ends_within_the_timeout(hanging_issuer):
    """Discovery and the fallback JWKS URL share one deadline, rather than having one timeout each."""
    keys = KeySetCache(hanging_issuer.url, timeout=3)
    started = time.monotonic()
    with pytest.raises(SigningKeysUnavailable):
        keys.get("key-1")
    assert time.monotonic() - started < keys.timeout + 2  # a bound with a generous margin, not a speed figure
    assert hanging_issuer.connections == 1  # discovery used up the time; the fallback was not even tried


def test_a_hanging_issuer_holds_requests_for_one_timeout_and_one_fetch(make_app, hanging_issuer, tokens,
                                                                        attacker_key):
    timeout = 4
    forged = tokens.make(key=attacker_key, iss=hanging_issuer.url)  # a token for that issuer: its keys are fetched
    with live(make_app(AUTH_ISSUER=hanging_issuer.url, AUTH_JWKS_TIMEOUT=str(timeout))) as server:
        first = _Call(server.url + "/api/private", forged)
        assert eventually(lambda: hanging_issuer.connections == 1)
        meanwhile = during_the_fetch(server.url + "/api/private", forged)  # they wait for the fetch that hangs
        response = first.result()
        for answer in [response] + [answer for answer, _ in meanwhile]:
            assert answer.status_code == 503
            assert answer.json()["error"] == "temporarily_unavailable"
            assert answer.headers["Retry-After"]
        # one timeout, not one per step nor one per request (bounds, not speed figures)
        assert first.elapsed < timeout + 3
        assert max(waited for _, waited in meanwhile) < timeout + 3
        # right after the failure, inside the retry delay: refused at once, nothing fetched
        started = time.monotonic()
        assert bearer_get(server, requests, forged).status_code == 503
        assert time.monotonic() - started < timeout / 2
    assert hanging_issuer.connections == 1


def test_the_retry_delay_runs_from_the_end_of_the_failure(hanging_issuer):
    clock = ManualClock()
    keys = KeySetCache(hanging_issuer.url, jwks_url=hanging_issuer.url + "jwks.json", timeout=1,
                       retry_after_failure=2, clock=clock)
    outcome = []

    def first_use():
        try:
            keys.get("key-1")
        except SigningKeysUnavailable:
            outcome.append("unavailable")

    attempt = threading.Thread(target=first_use)
    attempt.start()
    assert eventually(lambda: hanging_issuer.connections == 1)
    clock.advance(100)  # the attempt lasts far longer than the retry delay...
    assert attempt.is_alive()  # ...this advance falling inside it
    attempt.join(10)
    assert outcome == ["unavailable"]
    assert keys.fresh_for() == 2
    clock.advance(1.9)
    with pytest.raises(SigningKeysUnavailable):
        keys.get("key-1")
    assert hanging_issuer.connections == 1  # still inside the delay counted from the failure's end
    clock.advance(0.1)
    with pytest.raises(SigningKeysUnavailable):
        keys.get("key-1")
    assert hanging_issuer.connections == 2


@pytest.mark.parametrize("key_ops", [5, "xverifyx", ["sign"], {"verify": True}])
def test_keys_whose_key_ops_do_not_allow_verify_are_skipped(provider, make_app, http, tokens, key_ops):
    provider.raw_jwks = {"keys": [dict(tokens.key.as_dict(private=False), key_ops=key_ops)]}
    with live(make_app()) as server:
        assert bearer_get(server, http, tokens.make()).status_code == 503  # no usable key at all


def test_keys_with_verify_in_key_ops_are_used(provider, make_app, http, tokens):
    provider.raw_jwks = {"keys": [dict(tokens.key.as_dict(private=False), key_ops=["verify"])]}
    with live(make_app()) as server:
        assert bearer_get(server, http, tokens.make()).status_code == 200


def during_the_fetch(url: str, token: str, times: int = 5) -> list[tuple[requests.Response, float]]:
    """``times`` requests sent together while another request's key fetch is under way: each one's answer
    and the seconds it took (they wait for that fetch, and get what it brought)."""
    def call(_):
        started = time.monotonic()
        response = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        return response, time.monotonic() - started

    return run_together(times, call)
