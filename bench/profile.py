"""`make profile`: what an uncached token check costs, step by step, and a pyinstrument profile of it.

The validator is built as the app builds it, against the loopback fake provider, with the token cache
off; the key set is fetched once before measuring.
"""

from __future__ import annotations

import sys
import timeit

from pyinstrument import Profiler

from security import AccessTokenValidator, KeySetCache

from .common import AUDIENCE, Provider, rsa_key, token

ROUNDS, NUMBER = 7, 2000


def best_us(fn) -> float:
    return min(timeit.repeat(fn, number=NUMBER, repeat=ROUNDS)) / NUMBER * 1e6


def main() -> int:
    key = rsa_key("profile-key")
    provider = Provider([key])
    try:
        keys = KeySetCache(provider.issuer, jwks_url=provider.jwks_url)
        cold = AccessTokenValidator(keys, issuer=provider.issuer, audience=AUDIENCE)
        warm = AccessTokenValidator(keys, issuer=provider.issuer, audience=AUDIENCE, cache_size=10, cache_ttl=300)
        value = token(provider.issuer, key)
        cold.authenticate_token(value)
        warm.authenticate_token(value)

        obj = cold._parse(value)
        header = obj.headers()
        kid = cold._check_header(header)
        public = cold._key_for(kid, header["alg"])
        claims = cold._claims(obj.payload, kid)
        steps = [
            ("parse (regex, base64, header JSON)", lambda: cold._parse(value)),
            ("header checks", lambda: cold._check_header(header)),
            ("key lookup", lambda: cold._key_for(kid, header["alg"])),
            ("RS256 signature (joserfc + cryptography)", lambda: cold._verify_signature(obj, public, kid)),
            ("claims JSON", lambda: cold._claims(obj.payload, kid)),
            ("registered claims (JWTClaimsRegistry)", lambda: cold.check_time_and_audience(claims, kid)),
            ("whole check, cache off", lambda: cold.authenticate_token(value)),
            ("whole check, cache hit", lambda: warm.authenticate_token(value)),
        ]
        print("| step | µs (best of rounds) |\n|---|---:|")
        for name, fn in steps:
            print(f"| {name} | {best_us(fn):.1f} |")

        profiler = Profiler(interval=0.0001)
        profiler.start()
        for _ in range(NUMBER * 3):
            cold.authenticate_token(value)
        profiler.stop()
        print()
        print(profiler.output_text(unicode=False, color=False, show_all=False))
    finally:
        provider.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
