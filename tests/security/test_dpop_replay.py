"""Replay stores for DPoP proofs (security/replay.py): each key accepted once, atomically, in one process
(memory) or across processes (a real Redis); a store that cannot answer fails closed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
import redis

from security.dpop import MADE_BEFORE_RECORDS, DPoPError, DPoPVerifier
from security.replay import Mark, MemoryReplayStore, RedisReplayStore, ReplayStoreUnavailable
from tests.support import ROOT
from tests.support.dpop_proofs import ACCESS_TOKEN, URL, Proofs
from tests.support.redis_server import redis_server
from tests.support.timing import ManualClock, run_together

MARKER = "dpop:jti:began"  # the Redis key holding when the records began (docs/dpop.md)


def check(verifier: DPoPVerifier, proof: str):
    return verifier.verify(proof, method="GET", url=URL, access_token=ACCESS_TOKEN)


def refusal(verifier: DPoPVerifier, proof: str) -> str:
    """The description of the refusal of ``proof``, which must be an invalid_dpop_proof."""
    with pytest.raises(DPoPError) as caught:
        check(verifier, proof)
    assert caught.value.error == "invalid_dpop_proof"
    return caught.value.description


# -- in memory ---------------------------------------------------------------------------------------

def test_memory_store_accepts_a_key_once_until_it_expires():
    clock = ManualClock()
    store = MemoryReplayStore(clock=clock)
    assert store.mark_once("a", 10).first is True
    assert store.mark_once("a", 10).first is False
    assert store.mark_once("b", 10).first is True
    clock.now += 9.9
    assert store.mark_once("a", 10).first is False
    clock.now += 0.2
    assert store.mark_once("a", 10).first is True  # expired: a new proof may carry it again
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
        assert store.mark_once(key, 60).first
    with pytest.raises(ReplayStoreUnavailable):
        store.mark_once("d", 60)
    assert store.mark_once("a", 60).first is False  # still remembered
    clock.now += 61
    assert store.mark_once("d", 60).first is True  # expired entries made room


def test_a_memory_store_begins_its_records_when_it_is_made():
    before = time.time()
    store = MemoryReplayStore()
    assert before <= store.since <= time.time()
    assert store.mark_once("a", 10) == Mark(True, store.since)
    assert store.mark_once("a", 10) == Mark(False, store.since)


def memory_verifier(clock: ManualClock) -> DPoPVerifier:
    """The verifier of a process started at ``clock``'s now, with its own replay store and a 5 s leeway."""
    return DPoPVerifier(replay_store=MemoryReplayStore(since=clock.now), leeway=5, clock=clock)


def test_a_proof_accepted_before_the_process_started_again_is_refused():
    """A new process remembers none of the proofs the last one accepted: a proof made before its store
    began (less the leeway) is refused, replayed or not; a proof made since is judged by its jti."""
    clock = ManualClock()
    proofs = Proofs(clock=clock)
    accepted = proofs.make()
    assert check(memory_verifier(clock), accepted)
    clock.advance(6)
    restarted = memory_verifier(clock)
    assert refusal(restarted, accepted) == MADE_BEFORE_RECORDS
    assert refusal(restarted, proofs.make(iat=clock.now - 6)) == MADE_BEFORE_RECORDS  # never used, still unknown
    assert check(restarted, proofs.make(iat=clock.now - 5))  # within the leeway of the start
    fresh = proofs.make()
    assert check(restarted, fresh)
    assert refusal(restarted, fresh) == "The DPoP proof was already used (jti)."


def test_memory_store_under_a_race_accepts_one():
    store = MemoryReplayStore()
    assert [mark.first for mark in run_together(16, lambda i: store.mark_once("raced", 60))].count(True) == 1


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


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


def records_began(url: str, seconds_ago: float) -> None:
    """Makes the Redis at ``url`` one whose replay records began ``seconds_ago`` seconds ago."""
    client = redis.Redis.from_url(url)
    client.set(MARKER, repr(time.time() - seconds_ago))
    client.close()


def test_redis_store_accepts_a_key_once_with_its_ttl(redis_url):
    store = RedisReplayStore(redis_url)
    key = uuid.uuid4().hex
    before = server_milliseconds(store)
    assert store.mark_once(key, 2.2).first is True
    after = server_milliseconds(store)
    assert store.mark_once(key, 2.2).first is False
    # whole seconds, rounded up: it expires 3 s after the moment (by Redis' clock) it was marked, however long ago
    assert before + 3000 <= store._redis.pexpiretime(store.prefix + key) <= after + 3000
    store.close()


def server_milliseconds(store: RedisReplayStore) -> int:
    seconds, microseconds = store._redis.time()
    return seconds * 1000 + microseconds // 1000


def test_redis_store_marks_when_its_records_began():
    """Written by the first mark, kept without expiry, written again (later) when it is gone."""
    with redis_server() as (url, _):
        store, client = RedisReplayStore(url), redis.Redis.from_url(url)
        assert store.began_key == MARKER
        before = time.time()
        first = store.mark_once(uuid.uuid4().hex, 60)
        assert first.first and before <= first.since <= time.time()
        assert float(client.get(MARKER)) == first.since and client.ttl(MARKER) == -1
        assert store.mark_once(uuid.uuid4().hex, 60).since == first.since
        client.delete(MARKER)
        assert store.mark_once(uuid.uuid4().hex, 60).since > first.since
        client.set(MARKER, "yesterday")  # not a time: no telling what was lost, so no answer
        with pytest.raises(ReplayStoreUnavailable, match=MARKER):
            store.mark_once(uuid.uuid4().hex, 60)
        client.close()
        store.close()


def test_a_proof_accepted_before_redis_restarted_empty_is_refused():
    with redis_server() as (url, process):
        records_began(url, seconds_ago=60)
        verifier, proofs = redis_verifier(url), Proofs()
        accepted = proofs.make(iat=int(time.time()) - 10)  # sent 10 s after it was made
        assert check(verifier, accepted)
        process.terminate()
        process.wait(timeout=10)

    with redis_server(port_of(url)) as _:  # the same Redis, started again with none of its records
        assert refusal(verifier, accepted) == MADE_BEFORE_RECORDS
        assert check(verifier, proofs.make())  # a new proof passes
        assert refusal(redis_verifier(url), accepted) == MADE_BEFORE_RECORDS  # in every process


def test_a_proof_accepted_before_a_flushall_is_refused():
    with redis_server() as (url, _):
        records_began(url, seconds_ago=60)
        verifier, proofs = redis_verifier(url), Proofs()
        accepted = proofs.make(iat=int(time.time()) - 10)
        assert check(verifier, accepted)
        client = redis.Redis.from_url(url)
        client.flushall()
        client.close()
        assert refusal(verifier, accepted) == MADE_BEFORE_RECORDS
        assert check(verifier, proofs.make())


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

    with redis_server(port_of(url)) as _:  # Redis back: the same store works again, and nothing was recorded meanwhile
        assert check(verifier, proof)


def test_a_hung_redis_fails_closed_within_the_timeout():
    with redis_server() as (url, process):
        store = RedisReplayStore(url, timeout=0.3)
        assert store.mark_once(uuid.uuid4().hex, 60).first
        os.kill(process.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            with pytest.raises(ReplayStoreUnavailable):
                store.mark_once(uuid.uuid4().hex, 60)
            assert time.monotonic() - started < 5  # two timeouts (one retry), and room for a busy machine
        finally:
            os.kill(process.pid, signal.SIGCONT)
        store.close()


def test_an_unreachable_redis_at_start_fails_closed_too():
    with redis_server() as (url, process):
        process.terminate()
        process.wait(timeout=10)
        with pytest.raises(ReplayStoreUnavailable):
            RedisReplayStore(url).mark_once("k", 60)
