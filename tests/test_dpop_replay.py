"""Replay stores for DPoP proofs (security/replay.py): each key accepted once, atomically, in one process
(memory) or across processes (a real Redis); a store that cannot answer fails closed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from security.dpop import DPoPError, DPoPVerifier
from security.replay import MemoryReplayStore, RedisReplayStore, ReplayStoreUnavailable
from tests.dpop_proofs import ACCESS_TOKEN, URL, Proofs
from tests.redis_server import redis_server
from tests.support import ManualClock, run_together

ROOT = Path(__file__).resolve().parent.parent




# -- in memory ---------------------------------------------------------------------------------------

def test_memory_store_accepts_a_key_once_until_it_expires():
    clock = ManualClock()
    store = MemoryReplayStore(clock=clock)
    assert store.mark_once("a", 10) is True
    assert store.mark_once("a", 10) is False
    assert store.mark_once("b", 10) is True
    clock.now += 9.9
    assert store.mark_once("a", 10) is False
    clock.now += 0.2
    assert store.mark_once("a", 10) is True  # expired: a new proof may carry it again
    assert len(store) == 1  # "b" expired at the same time


def test_memory_store_forgets_expired_entries():
    clock = ManualClock()
    store = MemoryReplayStore(clock=clock)
    for i in range(100):
        store.mark_once(f"k{i}", 5 + i % 7)
    clock.now += 8
    assert len(store) == 100 - sum(1 for i in range(100) if 5 + i % 7 <= 8)
    clock.now += 1_000_000  # a long pause
    assert len(store) == 0


def test_a_full_memory_store_refuses_rather_than_forget_a_live_entry():
    clock = ManualClock()
    store = MemoryReplayStore(maxsize=3, clock=clock)
    for key in "abc":
        assert store.mark_once(key, 60)
    with pytest.raises(ReplayStoreUnavailable):
        store.mark_once("d", 60)
    assert store.mark_once("a", 60) is False  # still remembered
    clock.now += 61
    assert store.mark_once("d", 60) is True  # expired entries made room


def test_memory_store_under_a_race_accepts_one():
    store = MemoryReplayStore()
    assert run_together(16, lambda i: store.mark_once("raced", 60)).count(True) == 1


# -- Redis -------------------------------------------------------------------------------------------

CHILD = """
import sys
from security.dpop import DPoPError, DPoPVerifier
from security.replay import RedisReplayStore
url, proof, target, token = sys.argv[1:]
verifier = DPoPVerifier(replay_store=RedisReplayStore(url))
try:
    print("accepted", verifier.verify(proof, method="GET", url=target, access_token=token).jkt)
except DPoPError as error:
    print(error.error, error.description)
"""


def verify_in_another_process(url: str, proof: str) -> str:
    child = subprocess.run([sys.executable, "-W", "error", "-c", CHILD, url, proof, URL, ACCESS_TOKEN],
                           cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert child.returncode == 0, child.stderr
    return child.stdout.strip()


def redis_verifier(url: str, **options) -> DPoPVerifier:
    return DPoPVerifier(replay_store=RedisReplayStore(url, **options))


def check(verifier: DPoPVerifier, proof: str):
    return verifier.verify(proof, method="GET", url=URL, access_token=ACCESS_TOKEN)


def test_redis_store_accepts_a_key_once_with_its_ttl(redis_url):
    store = RedisReplayStore(redis_url)
    key = uuid.uuid4().hex
    assert store.mark_once(key, 2.2) is True
    assert store.mark_once(key, 2.2) is False
    assert store._redis.ttl(store.prefix + key) == 3  # whole seconds, rounded up
    store.close()


def test_a_replay_sent_to_another_process_is_refused(redis_url):
    proofs = Proofs()
    first = proofs.make()
    assert verify_in_another_process(redis_url, first).startswith("accepted")
    with pytest.raises(DPoPError, match="already used"):
        check(redis_verifier(redis_url), first)

    second = proofs.make()
    assert check(redis_verifier(redis_url), second)
    assert verify_in_another_process(redis_url, second).startswith("invalid_dpop_proof The DPoP proof was already used")


def test_the_same_proof_raced_through_two_stores_is_accepted_once(redis_url):
    verifiers = [redis_verifier(redis_url), redis_verifier(redis_url)]
    proof = Proofs().make()

    def attempt(i):
        try:
            return check(verifiers[i % 2], proof).jkt
        except DPoPError as error:
            return error.error

    outcomes = run_together(16, attempt)
    assert outcomes.count("invalid_dpop_proof") == 15 and len(set(outcomes)) == 2


def test_redis_stopped_mid_run_fails_closed():
    with redis_server() as (url, process):
        verifier = redis_verifier(url)
        proofs = Proofs()
        assert check(verifier, proofs.make())
        process.terminate()
        process.wait(timeout=10)

        proof = proofs.make()
        started = time.monotonic()
        with pytest.raises(ReplayStoreUnavailable) as caught:
            check(verifier, proof)  # a valid, unused proof: still not accepted
        assert time.monotonic() - started < 5
        assert caught.value.retry_after > 0 and "Redis" in str(caught.value)
        port = int(url.rsplit(":", 1)[1].split("/")[0])

    with redis_server(port) as _:  # Redis back: the same store works again, and nothing was recorded meanwhile
        assert check(verifier, proof)


def test_a_hung_redis_fails_closed_within_the_timeout():
    with redis_server() as (url, process):
        store = RedisReplayStore(url, timeout=0.3)
        assert store.mark_once(uuid.uuid4().hex, 60)
        os.kill(process.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            with pytest.raises(ReplayStoreUnavailable):
                store.mark_once(uuid.uuid4().hex, 60)
            assert time.monotonic() - started < 2
        finally:
            os.kill(process.pid, signal.SIGCONT)
        store.close()


def test_an_unreachable_redis_at_start_fails_closed_too():
    with redis_server() as (url, process):
        process.terminate()
        process.wait(timeout=10)
        with pytest.raises(ReplayStoreUnavailable):
            RedisReplayStore(url).mark_once("k", 60)
