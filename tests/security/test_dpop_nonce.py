"""Server nonces for DPoP (security/nonce.py, RFC 9449 §9): stateless, shared by a secret, short-lived."""

from __future__ import annotations

import re
import secrets

import pytest
from requests_oauth2client import DPoPKey

from security.dpop import DPoPError, DPoPVerifier, access_token_hash
from security.nonce import DPoPNonces
from security.replay import MemoryReplayStore
from tests.support.dpop_proofs import ACCESS_TOKEN, URL, Proofs
from tests.support.timing import ManualClock

SECRET = secrets.token_urlsafe(32)
NQCHAR = re.compile(r"[\x21\x23-\x5B\x5D-\x7E]+")  # what a DPoP-Nonce value may hold (RFC 9449 §8.1)


START = 1_800_000_000.0  # the start of a nonce step (a multiple of 180 s)


def verifier(clock: ManualClock, secret: str = SECRET) -> DPoPVerifier:
    return DPoPVerifier(replay_store=MemoryReplayStore(since=clock()), nonces=DPoPNonces(secret, clock=clock),
                        clock=clock)


def check(verifier: DPoPVerifier, proof: str):
    return verifier.verify(proof, method="GET", url=URL, access_token=ACCESS_TOKEN)


def nonce_refusal(verifier: DPoPVerifier, proof: str) -> DPoPError:
    with pytest.raises(DPoPError) as caught:
        check(verifier, proof)
    error = caught.value
    assert (error.error, error.status_code) == ("use_dpop_nonce", 401)
    assert error.nonce == verifier.nonces.current() and NQCHAR.fullmatch(error.nonce)
    return error


def test_a_proof_without_a_nonce_gets_one_to_use():
    clock = ManualClock(START)
    api = verifier(clock)
    proofs = Proofs(clock=clock)
    nonce = nonce_refusal(api, proofs.make()).nonce
    result = check(api, proofs.make(nonce=nonce))
    assert result.next_nonce is None  # the client's nonce is the current one


def test_instances_sharing_the_secret_accept_each_others_nonces():
    clock = ManualClock(START)
    first, second = verifier(clock), verifier(clock)
    proofs = Proofs(clock=clock)
    assert check(second, proofs.make(nonce=nonce_refusal(first, proofs.make()).nonce))
    assert check(first, proofs.make(nonce=second.nonces.current()))


def test_a_nonce_from_another_secret_is_refused():
    clock = ManualClock(START)
    proofs = Proofs(clock=clock)
    other = DPoPNonces(secrets.token_urlsafe(32), clock=clock).current()
    error = nonce_refusal(verifier(clock), proofs.make(nonce=other))
    assert error.nonce != other and "not valid" in error.description


def test_two_random_secrets_never_accept_each_others_nonces():
    clock = ManualClock(START)
    assert not DPoPNonces(clock=clock).accepts(DPoPNonces(clock=clock).current())


def test_a_nonce_lives_one_to_two_steps_and_the_answer_says_when_it_changed():
    clock = ManualClock(START)  # the start of a step
    api = verifier(clock)
    proofs = Proofs(clock=clock)
    nonce = api.nonces.current()

    clock.now += 180  # the next step: still accepted, and the answer carries the new nonce
    result = check(api, proofs.make(nonce=nonce))
    assert result.next_nonce == api.nonces.current() != nonce

    clock.now += 180  # two steps on: expired
    error = nonce_refusal(api, proofs.make(nonce=nonce))
    assert error.nonce != nonce


@pytest.mark.parametrize("nonce", [42, "", "x" * 24, ["n"], "\ud800"])
def test_malformed_nonces_are_refused_with_a_fresh_one(nonce):
    clock = ManualClock(START)
    nonce_refusal(verifier(clock), Proofs(clock=clock).make(nonce=nonce))


def test_the_proof_itself_is_checked_before_its_nonce():
    """A broken proof says what is wrong with it rather than asking for a nonce first."""
    clock = ManualClock(START)
    with pytest.raises(DPoPError) as caught:
        check(verifier(clock), Proofs(clock=clock).make(htm="POST"))
    assert caught.value.error == "invalid_dpop_proof" and caught.value.nonce is None


def test_a_nonce_refusal_does_not_use_up_the_jti():
    clock = ManualClock(START)
    api = verifier(clock)
    proofs = Proofs(clock=clock)
    nonce = nonce_refusal(api, proofs.make(jti="retry")).nonce
    assert check(api, proofs.make(jti="retry", nonce=nonce))


@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
def test_requests_oauth2client_retries_with_our_nonce(alg):
    api = DPoPVerifier(replay_store=MemoryReplayStore(), nonces=DPoPNonces(SECRET))
    client_key = DPoPKey.generate(alg=alg)
    ath = access_token_hash(ACCESS_TOKEN)
    with pytest.raises(DPoPError) as caught:
        check(api, str(client_key.proof(htm="GET", htu=URL, ath=ath)))
    assert check(api, str(client_key.proof(htm="GET", htu=URL, ath=ath, nonce=caught.value.nonce)))


@pytest.mark.parametrize("secret", ["", "short", "x" * 31])
def test_a_short_secret_is_refused(secret):
    with pytest.raises(ValueError, match="32"):
        DPoPNonces(secret)
