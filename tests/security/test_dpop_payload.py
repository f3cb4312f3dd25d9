"""A DPoP proof's payload is read as ``json.loads`` reads it (security/dpop.py reads the usual bare object
with ``JSONDecoder.raw_decode``, and anything else with ``json.loads``): every spelling of the same claims
is accepted alike, and whatever json.loads refuses is refused."""

from __future__ import annotations

import json
import time

import pytest

from security.dpop import DEFAULT_ALGORITHMS, DPoPError, DPoPVerifier
from security.replay import MemoryReplayStore
from tests.support.dpop_proofs import ACCESS_TOKEN, URL, Proofs

NOW = float(int(time.time()))


def verifier() -> DPoPVerifier:
    return DPoPVerifier(DEFAULT_ALGORITHMS, replay_store=MemoryReplayStore(since=NOW - 3600), clock=lambda: NOW)


def verify(proof: str):
    return verifier().verify(proof, method="GET", url=URL, access_token=ACCESS_TOKEN)


def claims_text(proofs: Proofs, **overrides) -> str:
    return json.dumps(proofs.claims(**overrides))


SPELLINGS = {
    "compact": lambda claims: json.dumps(json.loads(claims), separators=(",", ":")),
    "spaced": lambda claims: claims,
    "whitespace before": lambda claims: " \n\t" + claims,
    "whitespace after": lambda claims: claims + "\r\n ",
    "whitespace around": lambda claims: "  " + claims + "  ",
    "escaped characters": lambda claims: claims.replace('"htm": "GET"', '"htm": "\\u0047ET"'),
    "a key given twice (the last one counts, as json.loads reads it)":
        lambda claims: claims[:-1] + ', "htm": "GET"}',
}


@pytest.mark.parametrize("spelling", SPELLINGS.values(), ids=SPELLINGS.keys())
def test_every_spelling_json_loads_reads_is_accepted(spelling):
    proofs = Proofs(clock=lambda: NOW)
    payload = spelling(claims_text(proofs))
    assert json.loads(payload)["htm"] == "GET"
    assert verify(proofs.raw(payload)).jkt


def test_a_key_given_twice_is_read_as_json_loads_reads_it():
    proofs = Proofs(clock=lambda: NOW)
    payload = claims_text(proofs)[:-1] + ', "htm": "POST"}'  # the last htm is POST: refused for a GET
    with pytest.raises(DPoPError, match="htm"):
        verify(proofs.raw(payload))


REFUSED = {
    "text after the object": lambda claims: claims + "x",
    "a second object after it": lambda claims: claims + "{}",
    "a second object after whitespace": lambda claims: claims + " {}",
    "a byte order mark before it": lambda claims: "\ufeff" + claims,
    "an unclosed object": lambda claims: claims[:-1],
    "a trailing comma": lambda claims: claims[:-1] + ",}",
    "an array holding it": lambda claims: f"[{claims}]",
    "a string holding it": lambda claims: json.dumps(claims),
    "whitespace only": lambda claims: "   ",
}


@pytest.mark.parametrize("spelling", REFUSED.values(), ids=REFUSED.keys())
def test_what_json_loads_refuses_is_refused(spelling):
    proofs = Proofs(clock=lambda: NOW)
    payload = spelling(claims_text(proofs))
    try:
        value = json.loads(payload)
    except ValueError:
        value = None
    assert not isinstance(value, dict)  # json.loads gives no object either
    with pytest.raises(DPoPError, match="payload"):
        verify(proofs.raw(payload))
