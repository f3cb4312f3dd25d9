"""Key-set refreshes never hold requests up: a stale set is refreshed beside them, and a failing
issuer is not asked again on behalf of each unknown kid."""

from __future__ import annotations

import json
import threading

from werkzeug.wrappers import Response

from security import KeySetCache
from security.keys import FetchReason
from tests.support.timing import eventually


class GatedJwks:
    """A JWKS endpoint that answers the first fetch at once and holds later ones until released."""

    def __init__(self, httpserver, keys, hold: float = 10):
        self.keys = keys
        self.hold = hold  # at most, so that a regression fails instead of hanging
        self.release = threading.Event()
        self.status = 200
        self.fetches = 0
        httpserver.expect_request("/gated/jwks.json").respond_with_handler(self.handle)
        self.url = httpserver.url_for("/gated/jwks.json")

    def handle(self, request):
        self.fetches += 1
        if self.fetches > 1:
            self.release.wait(self.hold)
        if self.status != 200:
            return Response("down", status=self.status)
        return Response(json.dumps({"keys": [k.as_dict(private=False) for k in self.keys]}),
                        content_type="application/json")


def test_a_stale_key_set_is_answered_from_while_it_refreshes(httpserver, signing_key, other_key):
    jwks = GatedJwks(httpserver, [signing_key])
    keys = KeySetCache("http://127.0.0.1/", jwks_url=jwks.url, ttl=0.05, timeout=10)
    old = keys.get("key-1")
    assert old is not None
    assert eventually(lambda: keys._due(FetchReason.EXPIRED))  # the set is now stale
    jwks.keys = [other_key]
    # the refresh is held by the endpoint; the lookup is answered from the set held meanwhile
    assert keys.get("key-1") is old
    assert keys.fetch_count == 2
    jwks.release.set()
    assert eventually(lambda: keys.kids == {"key-2"})


def test_unknown_kids_do_not_wait_on_a_failing_issuer(httpserver, signing_key):
    jwks = GatedJwks(httpserver, [signing_key], hold=1)
    jwks.release.set()
    keys = KeySetCache("http://127.0.0.1/", jwks_url=jwks.url, cooldown=0, retry_after_failure=0, timeout=10)
    assert keys.get("key-1") is not None
    jwks.status = 503
    assert keys.get("new-kid") is None  # one refetch, which fails
    assert jwks.fetches == 2
    jwks.release.clear()  # from now on the failing issuer also hangs
    for _ in range(20):
        assert keys.get("new-kid") is None  # answered at once: no refetch per unknown kid
    assert eventually(lambda: jwks.fetches == 3)  # one retry, in the background
    assert keys.get("key-1") is not None  # the keys held still verify
    assert jwks.fetches == 3
    jwks.release.set()
