"""`make cache-memory`: what the verified-token cache holds in memory at the default settings, worst cases
included.

For each token shape, the cache is filled through the validator (every token fully verified, then
cached, as a request would) with distinct tokens until it has been evicting for a while, and
tracemalloc reports the memory the full cache keeps. The shapes go up to the largest token the API accepts, with claims
chosen to cost as much Python memory per byte of token as possible. The key set comes in-process (no
HTTP), with an ES256 key: signing many tokens fast; the signature is not kept by the cache anyway.
"""

from __future__ import annotations

import gc
import sys
import time
import tracemalloc

from joserfc import jwt
from joserfc.jwk import ECKey

from app import build_key_sets, build_token_validator
from app.settings import load_settings
from security.validator import MAX_TOKEN_LENGTH

from .common import AUDIENCE, describe_machine

ISSUER = "https://issuer.example/"
LIMIT_MB = 32.0  # the most one worker's token cache may hold at the defaults


def base_claims(issuer: str, n: int) -> dict:
    """An Auth0-shaped access token's claims; ``n`` makes each token distinct."""
    now = int(time.time())
    return {"iss": issuer, "sub": f"auth0|{n:024d}", "aud": [AUDIENCE, issuer + "userinfo"], "iat": now,
            "exp": now + 3600, "azp": "bench-client-0123456789abcdef", "scope": "openid profile read:messages"}


def padded(claims: dict, grow, encoded_size) -> dict:
    """``claims`` with ``grow(k)`` added, ``k`` as large as the token's length limit allows."""
    low, high = 0, MAX_TOKEN_LENGTH
    while low < high:
        middle = (low + high + 1) // 2
        if encoded_size({**claims, **grow(middle)}) <= MAX_TOKEN_LENGTH:
            low = middle
        else:
            high = middle - 1
    return {**claims, **grow(low)}


#: name -> what is added to the base claims, as a function of a size k
SHAPES = {
    "typical Auth0 token (no padding)": None,
    "one long string claim": lambda k: {"https://example.com/note": "x" * k},
    "many short permissions (claim list and scope set)": lambda k: {"permissions": [f"p{i:x}" for i in range(k)]},
    "many empty arrays in a claim": lambda k: {"https://example.com/t": [[] for _ in range(k)]},
    "many short claims": lambda k: {f"{i:x}": 0 for i in range(k)},
}


def token_maker(key: ECKey, grow):
    """``make(n)``: the n-th distinct token of a shape, all of one length (the claims laid out up front)."""
    header = {"alg": "ES256", "typ": "JWT", "kid": key.kid}

    def encode(claims: dict) -> str:
        return jwt.encode(header, claims, key)

    template = base_claims(ISSUER, 0)
    if grow is not None:
        template = padded(template, grow, lambda claims: len(encode(claims)))
    return lambda n: encode({**template, "sub": base_claims(ISSUER, n)["sub"]})


def measure(key: ECKey, make, most: int) -> tuple[int, int, float, float]:
    """Tokens fed, entries held, MB kept (tracemalloc) and MB counted (by the cache's own bound) for a
    default-sized cache once full: tokens go through until ``most`` did, or twice as many as it holds
    (it has been evicting for a while)."""
    settings = load_settings({"AUTH_ISSUER": ISSUER, "AUTH0_AUDIENCE": AUDIENCE, "AUTH_ALGORITHMS": "ES256"})
    keys = build_key_sets(settings, jwks_source=lambda: {"keys": [key.as_dict(private=False)]})
    validator = build_token_validator(settings, keys)
    keys[0].get(key.kid)  # the (one) key set is loaded outside the measurement
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    fed = 0
    while fed < most and (fed < 100 or fed % 100 or fed < 2 * len(validator.cache)):
        validator.authenticate_token(make(fed))
        fed += 1
    gc.collect()
    kept = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return fed, len(validator.cache), kept / 1e6, validator.cache.bytes_held / 1e6


def main() -> int:
    settings = load_settings({"AUTH_ISSUER": ISSUER, "AUTH0_AUDIENCE": AUDIENCE, "AUTH_ALGORITHMS": "ES256"})
    most = settings.auth.token_cache_size + settings.auth.token_cache_size // 10
    key = ECKey.generate_key("P-256", parameters={"kid": "bench-es256", "use": "sig", "alg": "ES256"})
    print(describe_machine())
    print(f"\nToken cache at the defaults (AUTH_TOKEN_CACHE_SIZE={settings.auth.token_cache_size}), filled with "
          f"distinct tokens of each shape, up to {MAX_TOKEN_LENGTH} characters (the longest accepted):\n")
    print("| token shape | token chars | tokens fed | entries held | MB kept | KB per entry "
          "| MB counted by the cache |\n|---|---:|---:|---:|---:|---:|---:|")
    worst = 0.0
    for name, grow in SHAPES.items():
        make = token_maker(key, grow)
        fed, entries, megabytes, counted = measure(key, make, most)
        worst = max(worst, megabytes)
        print(f"| {name} | {len(make(0))} | {fed:,} | {entries:,} | {megabytes:.1f} | "
              f"{megabytes * 1e3 / entries:.2f} | {counted:.1f} |", flush=True)
    verdict = "met" if worst <= LIMIT_MB else "NOT met"
    print(f"\nWorst case {worst:.1f} MB per worker; target (at most {LIMIT_MB:g} MB): {verdict}.")
    return 0 if worst <= LIMIT_MB else 1


if __name__ == "__main__":
    sys.exit(main())
