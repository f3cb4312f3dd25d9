"""DPoP replays across processes: two gunicorn workers (as `make serve` runs them) sharing one real Redis
refuse a proof replayed to the other worker, and fail closed (503, Retry-After) once Redis is gone. With
no shared store, start-up says once that replays are caught per worker only."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import requests

from security.dpop import access_token_hash
from tests.support.dpop_proofs import Proofs
from tests.support.redis_server import redis_server
from tests.support.servers import gunicorn, key_fetches
from tests.support.timing import eventually

REFUSED_REPLAY = re.compile(
    r"\[(\d+)\] \[INFO\] security\.refused: auth refused .* status=400 reason=invalid_dpop_proof")
PER_WORKER = "DPoP replays are caught per worker only"


def send(url: str, token: str, proof: str) -> requests.Response:
    """On a new connection each time: a sync worker takes one connection at a time."""
    with requests.Session() as session:
        return session.get(url, headers={"Authorization": f"DPoP {token}", "DPoP": proof}, timeout=10)


def burst(send_one, size: int = 4) -> list[requests.Response]:
    """``size`` requests at once: while one worker answers, another accepts (one after the other, the
    worker that just answered tends to take the next connection too)."""
    with ThreadPoolExecutor(size) as pool:
        return list(pool.map(lambda _: send_one(), range(size)))


def pids(pattern: re.Pattern, log) -> set[int]:
    return {int(pid) for pid in pattern.findall(log.read_text())}


def test_two_workers_share_one_replay_store_and_fail_closed_without_it(provider, tokens, tmp_path):
    key = Proofs()
    token = tokens.make(jkt=key.key.thumbprint())
    with redis_server() as (redis_url, redis_process):
        with gunicorn(provider, tmp_path, AUTH_DPOP_REPLAY_URL=redis_url) as base:
            url = base + "/api/private"
            # both workers booted: each fetches the issuer's keys once it has
            assert eventually(lambda: len(key_fetches(tmp_path / "stderr.log")) == 2, seconds=15), \
                "a worker never fetched the keys"
            captured = key.make(htu=url, ath=access_token_hash(token))
            assert send(url, token, captured).status_code == 200
            refusing: set[int] = set()
            for _ in range(30):  # until a replay has reached each worker, so also one that never saw the proof
                for response in burst(lambda: send(url, token, captured)):
                    assert (response.status_code, response.json()["error_description"]) == (
                        400, "The DPoP proof was already used (jti).")
                refusing = pids(REFUSED_REPLAY, tmp_path / "stderr.log")
                if len(refusing) == 2:
                    break
            assert len(refusing) == 2, "the replays never reached the second worker"

            redis_process.terminate()  # Redis goes away mid-run
            redis_process.wait(timeout=10)
            for proof in (key.make(htu=url, ath=access_token_hash(token)), captured):  # a new proof, and the replay
                for _ in range(4):  # whichever worker answers
                    response = send(url, token, proof)
                    assert response.status_code == 503, response.text
                    assert response.json()["error"] == "temporarily_unavailable"
                    assert int(response.headers["Retry-After"]) > 0
            bearer = requests.get(base + "/api/private", headers={"Authorization": f"Bearer {tokens.make()}"},
                                  timeout=10)
            assert bearer.status_code == 200  # Bearer requests need no replay store
    assert PER_WORKER not in (tmp_path / "stderr.log").read_text()  # one store for all: nothing to warn about
    assert '" 500 ' not in (tmp_path / "stdout.log").read_text()  # the access log: never a 500


def test_several_workers_without_a_shared_store_say_so_once(provider, tmp_path):
    with gunicorn(provider, tmp_path, WEB_CONCURRENCY="3") as base:
        assert requests.get(base + "/healthz", timeout=10).status_code == 200
    lines = [line for line in (tmp_path / "stderr.log").read_text().splitlines() if PER_WORKER in line]
    assert len(lines) == 1, lines  # once per server, not once per worker
    assert "AUTH_DPOP_REPLAY_URL" in lines[0]
