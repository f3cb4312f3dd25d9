"""`make serve` under clients that hold connections open, and the app's own threads under its gevent workers.

One worker, the worst case (local mode always runs one). `make slowloris` measures the same attack.
"""

from __future__ import annotations

import threading
import time

import requests

from bench.slowloris import Slowloris
from tests.support.servers import gunicorn
from tests.support.timing import eventually

ANSWER_WITHIN = 5  # seconds: "answers at all", not a speed figure (that is `make slowloris`'s job)


def test_trickling_half_open_connections_do_not_stop_the_server(provider, tokens, tmp_path):
    bearer = {"Authorization": f"Bearer {tokens.make()}"}
    with gunicorn(provider, tmp_path, WEB_CONCURRENCY="1") as url:
        port = int(url.rsplit(":", 1)[1])
        with Slowloris(port, count=200, trickle=1.0) as attack:
            assert eventually(lambda: attack.opened >= 200), f"only {attack.opened} connections opened"
            deadline = time.monotonic() + 3  # past the server's deadline for a request head: steady state
            while time.monotonic() < deadline:
                assert requests.get(url + "/healthz", timeout=ANSWER_WITHIN).status_code == 200
                assert requests.get(url + "/api/private", headers=bearer, timeout=ANSWER_WITHIN).status_code == 200
            # the server drops connections that take too long to send a request head
            assert eventually(lambda: attack.closed_by_server >= 200, seconds=10), attack.closed_by_server


def test_key_fetch_deadline_and_background_refresh_work_in_a_gevent_worker(provider, tokens, tmp_path):
    """security.keys runs fetches in threads with a deadline and refreshes in a background thread;
    under gevent's patching those are greenlets, and must still neither block the worker nor hang."""
    bearer = {"Authorization": f"Bearer {tokens.make()}"}
    provider.delay = 8  # the issuer hangs far past the fetch timeout
    with gunicorn(provider, tmp_path, WEB_CONCURRENCY="1", AUTH_JWKS_TIMEOUT="1", AUTH_JWKS_CACHE_TTL="1") as url:
        statuses = []
        pending = threading.Thread(target=lambda: statuses.append(
            requests.get(url + "/api/private", headers=bearer, timeout=ANSWER_WITHIN).status_code))
        pending.start()
        assert eventually(lambda: provider.jwks_fetches >= 1)  # the fetch is in flight...
        assert requests.get(url + "/healthz", timeout=ANSWER_WITHIN).status_code == 200  # ...and others are served
        pending.join()
        assert statuses == [503]  # abandoned at its deadline: no keys yet

        provider.delay = 0
        assert eventually(lambda: requests.get(url + "/api/private", headers=bearer,
                                               timeout=ANSWER_WITHIN).status_code == 200, seconds=10)
        fetches = provider.jwks_fetches
        time.sleep(1.1)  # the key set's TTL passes: the next request refreshes it in the background
        assert requests.get(url + "/api/private", headers=bearer, timeout=ANSWER_WITHIN).status_code == 200
        assert eventually(lambda: provider.jwks_fetches > fetches)
