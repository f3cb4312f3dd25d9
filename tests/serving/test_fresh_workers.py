"""A fresh worker never answers 503 while the issuer is reachable: each worker of `make serve` (gunicorn,
gevent) and `make run` starts fetching the keys (each issuer's) once booted, in the background, and the
requests that arrive meanwhile wait for that one fetch (see docs/providers.md, "The key set"). A hanging
issuer costs them one AUTH_JWKS_TIMEOUT, then a 503, and delays no start-up.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
import requests

from tests.support.issuers import Provider
from tests.support.servers import booted_workers, dev_server, gunicorn, key_fetches
from tests.support.timing import eventually, run_together
from tests.support.tokens import Tokens

DELAY = 1.0  # seconds the provider takes over each key set: the window in which fresh workers have none


@pytest.fixture
def slow_provider(signing_key):
    """The fake provider on a threaded server of its own (workers fetch at the same moment), slow to hand out
    its keys."""
    provider = Provider(keys=[signing_key])
    provider.delay = DELAY
    try:
        yield provider
    finally:
        provider.close()


def get(url: str, token: str) -> tuple[int, float]:
    """GET a protected route on a new connection: its status and the seconds it took."""
    started = time.monotonic()
    response = requests.get(url + "/api/private", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    return response.status_code, time.monotonic() - started


def test_fresh_workers_answer_every_request_with_one_key_fetch_each(slow_provider, signing_key, tmp_path):
    token = Tokens(slow_provider.issuer, signing_key).make()
    log = tmp_path / "stderr.log"
    with gunicorn(slow_provider, tmp_path, WEB_CONCURRENCY="4") as url:
        answers = run_together(64, lambda _: get(url, token))  # as soon as the first worker serves
        assert eventually(lambda: len(key_fetches(log)) == 4, seconds=15), log.read_text()[-3000:]
    assert [status for status, _ in answers] == [200] * 64
    assert max(took for _, took in answers) > DELAY / 4  # some did wait for their worker's fetch
    fetches = key_fetches(log)
    assert sorted(fetches) == sorted(booted_workers(log)) and set(fetches.values()) == {1}, fetches
    assert slow_provider.jwks_fetches == log.read_text().count("jwks fetched reason='start-up'") == 4


def test_each_worker_warms_up_every_issuers_keys(provider, slow_provider, signing_key, tokens, tmp_path):
    theirs = Tokens(slow_provider.issuer, signing_key).make()
    issuers = f"{provider.issuer},{slow_provider.issuer}"
    with gunicorn(provider, tmp_path, WEB_CONCURRENCY="2", AUTH_ISSUER=issuers) as url:
        assert eventually(lambda: (provider.jwks_fetches, slow_provider.jwks_fetches) == (2, 2), seconds=15)
        assert [get(url, token)[0] for token in (tokens.make(), theirs) * 4] == [200] * 8
    assert (provider.jwks_fetches, slow_provider.jwks_fetches) == (2, 2)  # one per issuer per worker
    assert sorted(key_fetches(tmp_path / "stderr.log").values()) == [2, 2]


def test_a_worker_killed_under_load_is_replaced_without_a_5xx(slow_provider, signing_key, tmp_path):
    token = Tokens(slow_provider.issuer, signing_key).make()
    log = tmp_path / "stderr.log"
    statuses, resets, stop = [], [], threading.Event()

    def client() -> None:
        while not stop.is_set():
            try:
                statuses.append(get(url, token)[0])
            # the killed worker's connection, reset before or during its answer: no answer, so send it again
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
                resets.append(1)

    with gunicorn(slow_provider, tmp_path, WEB_CONCURRENCY="2") as url:
        assert eventually(lambda: len(key_fetches(log)) == 2, seconds=15)
        clients = [threading.Thread(target=client) for _ in range(8)]
        for thread in clients:
            thread.start()
        try:
            assert eventually(lambda: len(statuses) >= 50, seconds=15)
            killed = booted_workers(log)[0]
            os.kill(killed, signal.SIGKILL)
            assert eventually(lambda: len(booted_workers(log)) == 3, seconds=15)  # gunicorn replaced it...
            replacement = booted_workers(log)[2]
            assert eventually(lambda: replacement in key_fetches(log), seconds=15)  # ...which fetched the keys
            time.sleep(1.0)  # and served with them
        finally:
            stop.set()
            for thread in clients:
                thread.join(40)
    assert len(statuses) > 100, "the load never got going"
    assert set(statuses) == {200}, {status: statuses.count(status) for status in set(statuses)}
    assert key_fetches(log)[replacement] == 1


def test_a_hanging_issuer_delays_no_start_up_and_costs_requests_one_timeout(provider, hanging_issuer, tokens,
                                                                           attacker_key, tmp_path):
    timeout = 2
    forged = tokens.make(key=attacker_key, iss=hanging_issuer.url)  # for that issuer: its keys are needed
    with gunicorn(provider, tmp_path, WEB_CONCURRENCY="2", AUTH_ISSUER=hanging_issuer.url,
                  AUTH_JWKS_TIMEOUT=str(timeout)) as url:
        assert eventually(lambda: hanging_issuer.connections >= 1)
        assert requests.get(url + "/healthz", timeout=5).status_code == 200  # served while the warm-up hangs
        answers = run_together(8, lambda _: get(url, forged))
        assert eventually(lambda: hanging_issuer.connections == 2, seconds=15)  # one warm-up per worker
    assert [status for status, _ in answers] == [503] * 8
    assert max(took for _, took in answers) < timeout + 1  # a bound, not a speed figure
    assert hanging_issuer.connections == 2


def test_the_development_server_warms_up_too(slow_provider, signing_key, tmp_path):
    token = Tokens(slow_provider.issuer, signing_key).make()
    with dev_server(slow_provider, tmp_path) as url:
        assert eventually(lambda: slow_provider.jwks_fetches == 1)  # no token has been sent yet
        answers = run_together(8, lambda _: get(url, token))
    assert [status for status, _ in answers] == [200] * 8
    assert slow_provider.jwks_fetches == 1
    assert "jwks fetched reason='start-up'" in (tmp_path / "stderr.log").read_text()
