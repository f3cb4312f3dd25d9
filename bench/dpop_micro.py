"""`python -m bench.dpop_micro`: what one DPoP proof check costs, per algorithm, in-process.

Proofs are made by requests-oauth2client (an independent client) for one request, each with its own
jti and ``ath``; RSA keys are 2048-bit. Figures in microseconds per call: the best of ROUNDS rounds
of NUMBER calls, the four measured in turn; each round gets a new verifier and in-memory replay
store, so every proof is new to it.
- "warm": ``verify()`` when the proof's header was seen before (a client reuses its key: the usual case);
- "cold": a new key for every proof (a client's first request);
- "signature": the bare signature check in ``cryptography`` for the same proof, for scale;
- "joserfc": a straightforward check with joserfc (parse, import the jwk, verify, thumbprint, claims
  parsed), without the claim checks or the replay record: what the lean path is measured against.
Steps timed in a tight loop stay hot in the CPU's caches; inside a whole request they cost more.
"""

from __future__ import annotations

import json
import time
import warnings
from typing import Callable

import jwskate
from joserfc import jwk, jws
from joserfc.jws import JWSRegistry
from requests_oauth2client import DPoPKey

from security.dpop import DPoPVerifier, access_token_hash
from security.proof_keys import b64url_decode, import_proof_key
from security.replay import MemoryReplayStore

from .common import describe_machine

ROUNDS, NUMBER = 7, 1000
URL = "https://api.example/api/private"
ACCESS_TOKEN = "header.payload.signature-of-some-access-token"
ALGORITHMS = ("ES256", "RS256", "PS256", "EdDSA")
COLUMNS = (("warm", 8), ("cold", 8), ("signature", 11), ("joserfc", 9))
COLD_KEYS = {"ES256": 300, "EdDSA": 300, "RS256": 40, "PS256": 40}


def dpop_key(alg: str) -> DPoPKey:
    if alg.startswith(("RS", "PS")):
        return DPoPKey(private_key=jwskate.Jwk.generate(alg=alg, key_size=2048))
    return DPoPKey.generate(alg=alg)


def proofs(keys: list[DPoPKey], count: int) -> list[str]:
    ath = access_token_hash(ACCESS_TOKEN)
    return [str(keys[i % len(keys)].proof(htm="GET", htu=URL, ath=ath)) for i in range(count)]


def best_per_call(runs: dict[str, tuple[list[str], Callable]]) -> dict[str, float]:
    """Best per-call time of each run, in microseconds; the runs take turns, round after round, so a
    busy spell of a shared machine does not fall on one of them only."""
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(ROUNDS):
        for name, (proof_list, check) in runs.items():
            run = check()
            start = time.perf_counter()
            for proof in proof_list:
                run(proof)
            best[name] = min(best[name], (time.perf_counter() - start) / len(proof_list))
    return {name: seconds * 1e6 for name, seconds in best.items()}


def verifier_check():
    # since=0: records as old as any proof, made before the store; this measures the checks, not a restart
    verifier = DPoPVerifier(ALGORITHMS, replay_store=MemoryReplayStore(since=0))
    return lambda proof: verifier.verify(proof, method="GET", url=URL, access_token=ACCESS_TOKEN)


def signature_check(key):
    def run(proof: str) -> None:
        signing_input, _, signature = proof.rpartition(".")
        key.verify(b64url_decode(signature), signing_input.encode())

    return lambda: run


def joserfc_check(alg: str):
    registry = JWSRegistry(algorithms=[alg], strict_check_header=False)
    registry.max_header_length = 2048  # an RSA proof's header is over joserfc's default 512 bytes

    def run(proof: str) -> None:
        signature = jws.extract_compact(proof.encode(), registry=registry)
        key = jwk.JWKRegistry.import_key(signature.headers()["jwk"])
        jws.validate_compact(signature, key, registry=registry)
        jwk.thumbprint(signature.headers()["jwk"])
        json.loads(signature.payload)

    return lambda: run


def main() -> None:
    warnings.simplefilter("ignore")  # joserfc warns that "EdDSA" is deprecated in favour of "Ed25519"
    print(f"DPoP proof check, µs per call (best of {ROUNDS} x {NUMBER}); {describe_machine()}")
    print(f"{'alg':<7}" + "".join(f"{name:>{width}}" for name, width in COLUMNS))
    for alg in ALGORITHMS:
        key = dpop_key(alg)
        warm = proofs([key], NUMBER)
        cold = proofs([dpop_key(alg) for _ in range(COLD_KEYS[alg])], COLD_KEYS[alg])
        header = json.loads(b64url_decode(warm[0].split(".")[0]))
        raw = import_proof_key(header["jwk"], alg)
        figures = best_per_call({"warm": (warm, verifier_check), "cold": (cold, verifier_check),
                                 "signature": (warm, signature_check(raw)), "joserfc": (warm, joserfc_check(alg))})
        print(f"{alg:<7}" + "".join(f"{figures[name]:>{width}.1f}" for name, width in COLUMNS))

if __name__ == "__main__":
    main()
