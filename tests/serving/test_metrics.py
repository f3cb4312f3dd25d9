"""GET /metrics (METRICS=on): under real gunicorn with 2 workers, after a known number of requests of each kind,
every counter equals what was sent, added up across the workers, a killed worker's counts included. Off by
default; a bad METRICS value stops start-up with one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from app.settings import ConfigError, load_settings
from metrics.catalog import UNMATCHED_ROUTE
from security.dpop import access_token_hash
from tests.support import ROOT, eventually
from tests.support.dpop_proofs import Proofs
from tests.support.servers import gunicorn


def samples(url: str) -> dict[tuple, float]:
    """The /metrics page of a server."""
    response = requests.get(url + "/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return parsed(response.text)


def parsed(page: str) -> dict[tuple, float]:
    """A /metrics page, read by prometheus-client's own parser: (sample name, sorted labels) -> value."""
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(page) for sample in family.samples}


def value(found: dict, name: str, **labels) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def json_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def worker_pids(logs: Path) -> list[int]:
    """Booted workers, from gunicorn's JSON lines."""
    return [int(line["message"].rsplit(" ", 1)[1]) for line in json_lines(logs / "stderr.log")
            if line["message"].startswith("Booting worker with pid: ")]


def keys_fetched_by(logs: Path) -> set[int]:
    return {line["pid"] for line in json_lines(logs / "stderr.log") if line["message"].startswith("jwks fetched")}


def stale_figures(directory: Path) -> None:
    """What an earlier run left in the metrics directory: 1000 public requests, written by another process."""
    code = ("from metrics.catalog import HTTP_REQUESTS; "
            "HTTP_REQUESTS.labels('GET', '/api/public', '200').inc(1000)")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60,
                   env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)})
    assert list(directory.glob("counter_*.db"))


def test_counters_add_up_across_two_gunicorn_workers(provider, tokens, redis_url, tmp_path):
    directory = tmp_path / "metrics"
    directory.mkdir()
    stale_figures(directory)
    key = Proofs()
    good, expired, reader = tokens.make(), tokens.make(exp=1), tokens.make(scope="read:messages")
    bound = tokens.make(jkt=key.key.thumbprint())
    carried: dict[str, str] = {}  # request id -> the token it carried

    def send(method: str, path: str, token: str | None = None, scheme: str = "Bearer", proof: str | None = None):
        """On a new connection each time (the kernel spreads them over the workers), with an id of our own."""
        request_id = uuid.uuid4().hex
        headers = {"X-Request-ID": request_id}
        if token:
            headers["Authorization"] = f"{scheme} {token}"
            carried[request_id] = token
        if proof:
            headers["DPoP"] = proof
        response = requests.request(method, url + path, headers=headers, timeout=10)
        assert response.headers["X-Request-ID"] == request_id
        return response.status_code

    with gunicorn(provider, tmp_path, METRICS="on", LOG_FORMAT="json", AUTH_DPOP_REPLAY_URL=redis_url,
                  PROMETHEUS_MULTIPROC_DIR=str(directory)) as url:
        assert eventually(lambda: len(keys_fetched_by(tmp_path)) == 2, seconds=15), "a worker never fetched the keys"
        private = url + "/api/private"
        accepted = [key.make(htu=private, ath=access_token_hash(bound)) for _ in range(3)]
        sent = Counter({
            ("GET", "/api/public", 200): sum(send("GET", "/api/public") == 200 for _ in range(12)),
            ("GET", "/api/private", 200): sum(send("GET", "/api/private", good) == 200 for _ in range(6)),
            ("GET", "/api/private", 401): sum(send("GET", "/api/private", expired) == 401 for _ in range(3))
            + sum(send("GET", "/api/private") == 401 for _ in range(2)),
            ("GET", "/api/private-scoped", 403): sum(send("GET", "/api/private-scoped", good) == 403 for _ in range(2)),
            ("GET", UNMATCHED_ROUTE, 404): sum(send("GET", f"/nope-{n}/{uuid.uuid4()}") == 404 for n in range(4)),
            ("other", UNMATCHED_ROUTE, 405): int(send("BREW", "/api/public") == 405),
            ("GET", "/api/messages/<message_id>", 404): sum(
                send("GET", f"/api/messages/{uuid.uuid4().hex}", reader) == 404 for _ in range(2)),
        })
        dpop = Counter({
            "accepted": sum(send("GET", "/api/private", bound, "DPoP", proof) == 200 for proof in accepted),
            "replayed": int(send("GET", "/api/private", bound, "DPoP", accepted[0]) == 400),
            "refused": int(send("GET", "/api/private", bound, "DPoP", key.make(htu=url + "/elsewhere")) == 400),
        })
        sent[("GET", "/api/private", 200)] += dpop["accepted"]
        sent[("GET", "/api/private", 400)] += dpop["replayed"] + dpop["refused"]
        assert sum(sent.values()) == 12 + 6 + 5 + 2 + 4 + 1 + 2 + 5  # every request answered as planned
        found = samples(url)

        for (method, route, status), count in sent.items():
            assert value(found, "http_requests_total", method=method, route=route, status=str(status)) == count
        assert value(found, "http_request_duration_seconds_count", method="GET", route="/api/public") == 12
        assert value(found, "http_request_duration_seconds_bucket", method="GET", route="/api/public", le="+Inf") == 12
        assert not [labels for (name, labels) in found if name == "http_requests_total" and "nope" in str(labels)]

        assert value(found, "auth_refusals_total", reason="expired") == 3
        assert value(found, "auth_refusals_total", reason="no_credentials") == 2
        assert value(found, "auth_refusals_total", reason="insufficient_scope") == 2
        assert value(found, "auth_refusals_total", reason="invalid_dpop_proof") == 2
        for outcome, count in dpop.items():
            assert value(found, "dpop_proofs_total", outcome=outcome) == count
        assert value(found, "jwks_fetches_total", issuer=provider.issuer, outcome="success") == provider.jwks_fetches
        assert provider.jwks_fetches == 2  # one per worker
        assert value(found, "storage_unavailable_total") == 0

        # Each worker checks a token in full the first time it sees it (a miss), then from its cache (hits);
        # an expired token is never cached.
        served_by = {line["request_id"]: line["pid"] for line in json_lines(tmp_path / "stdout.log")}
        assert set(served_by.values()) == set(worker_pids(tmp_path)), "the requests did not reach both workers"
        first_seen = {(token, served_by[request_id]) for request_id, token in carried.items() if token != expired}
        assert value(found, "token_cache_lookups_total", result="miss") == len(first_seen) + 3
        assert value(found, "token_cache_lookups_total", result="hit") == len(carried) - len(first_seen) - 3

        killed = worker_pids(tmp_path)[0]
        os.kill(killed, signal.SIGKILL)  # gunicorn boots another; what the killed one counted still counts
        assert eventually(lambda: len(worker_pids(tmp_path)) == 3, seconds=15)
        assert eventually(lambda: len(keys_fetched_by(tmp_path)) == 3, seconds=15)
        after = samples(url)
        assert value(after, "http_requests_total", method="GET", route="/api/public", status="200") == 12
        assert value(after, "http_requests_total", method="GET", route="/metrics", status="200") == 1


def test_metrics_are_off_by_default(make_app):
    for app in (make_app(), make_app(METRICS="off")):
        client = app.test_client()
        assert client.get("/metrics").status_code == 404
        assert client.get("/api/public").status_code == 200


def test_metrics_on_in_one_process(make_app):
    client = make_app(METRICS="ON").test_client()
    before = parsed(client.get("/metrics").text)
    assert client.get("/api/public").status_code == 200
    page = client.get("/metrics")
    assert page.headers["Cache-Control"] == "no-store"
    public = {"method": "GET", "route": "/api/public", "status": "200"}
    after = parsed(page.text)
    assert value(after, "http_requests_total", **public) == value(before, "http_requests_total", **public) + 1


@pytest.mark.parametrize("raw", ["yes", "1", "true", "enabled"])
def test_a_bad_metrics_value_is_one_line(raw):
    with pytest.raises(ConfigError) as raised:
        load_settings({"METRICS": raw})
    assert str(raised.value) == f"configuration error: METRICS must be on or off, got {raw!r}"


def test_gunicorn_refuses_a_bad_metrics_value_with_one_line(tmp_path):
    result = subprocess.run([str(Path(sys.executable).parent / "gunicorn"), "-c", "gunicorn.conf.py"], cwd=ROOT,
                            env={"PATH": os.environ.get("PATH", ""), "METRICS": "maybe",
                                 "DATABASE_URL": f"sqlite:///{tmp_path / 'messages.db'}"},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == ["configuration error: METRICS must be on or off, got 'maybe'"]
