"""`make profile`: what an uncached token check costs, step by step, and a pyinstrument profile of it;
then what a whole request costs in-process, public against protected (Bearer, and DPoP with a fresh
proof per request, made beforehand), cache on and off, beside the floors they are held to: a bare
Flask-RESTX app answering the public route's body (the framework's own cost), and one ES256 proof
verification (what a DPoP request cannot avoid).

The validator is built as the app builds it, against the loopback fake provider, with the token cache
off; the key set is fetched once before measuring.

The whole-request part calls the WSGI apps directly (no server, no sockets), alternating the routes
request by request (the verification alone too) so that each sees the same machine, and reports medians
of single requests. Targets: a public request costs at most 1.2 times the bare app's, and a DPoP request at
most 1.5 ES256 verifications more than a public one. Steps timed in a tight loop stay hot in the CPU's caches;
inside a whole request they do not, and cost several times more: this part shows the figure that counts.
"""

from __future__ import annotations

import io
import statistics
import sys
import time
import timeit

from flask import Flask
from flask_restx import Api, Resource
from pyinstrument import Profiler

from app import build_key_sets, build_token_validator, create_app, load_settings
from namespaces.public import PUBLIC_MESSAGE

from .common import AUDIENCE, ROUTES, DPoPClient, Provider, rsa_key, token

DPOP_ROUTE = "/api/private (DPoP)"
BARE_ROUTE = "/api/public, bare Flask-RESTX"
VERIFICATION = "one ES256 proof verification alone"
PUBLIC_TARGET, DPOP_TARGET = 1.2, 1.5  # public <= 1.2 x bare; DPoP - public <= 1.5 x verification

ROUNDS, NUMBER = 7, 2000
REQUESTS_PER_ROUTE = 20_000
PROOF_BATCH = 1000


def best_us(fn) -> float:
    return min(timeit.repeat(fn, number=NUMBER, repeat=ROUNDS)) / NUMBER * 1e6


def main() -> int:
    key = rsa_key("profile-key")
    provider = Provider([key])
    try:
        settings = load_settings(provider_config(provider))
        keys = build_key_sets(settings)
        cold = build_token_validator(load_settings({**provider_config(provider), "AUTH_TOKEN_CACHE_SIZE": "0"}), keys)
        warm = build_token_validator(settings, keys)
        value = token(provider.issuer, key)
        cold.authenticate_token(value)
        warm.authenticate_token(value)

        obj = cold._parse(value)
        header = obj.headers()
        kid = cold._check_header(header)
        claims = cold._claims(obj.payload, kid)
        issuer_keys = cold._key_set_for(claims, kid)
        public = cold._key_for(issuer_keys, kid, header["alg"])
        steps = [
            ("parse (regex, base64, header JSON)", lambda: cold._parse(value)),
            ("header checks", lambda: cold._check_header(header)),
            ("claims JSON", lambda: cold._claims(obj.payload, kid)),
            ("the issuer's key set (iss)", lambda: cold._key_set_for(claims, kid)),
            ("key lookup", lambda: cold._key_for(issuer_keys, kid, header["alg"])),
            ("RS256 signature (joserfc + cryptography)", lambda: cold._verify_signature(obj, public, kid)),
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

        for cache_size in ("10000", "0"):
            whole_requests(provider, key, cache_size)
    finally:
        provider.close()
    return 0


def provider_config(provider: Provider) -> dict[str, str]:
    """The app's settings against the fake provider, as environment variables."""
    return {"AUTH_ISSUER": provider.issuer, "AUTH_JWKS_URL": provider.jwks_url, "AUTH0_AUDIENCE": AUDIENCE}


def bare_app() -> Flask:
    """A Flask-RESTX app and nothing else, with one route answering what /api/public answers."""
    app = Flask("bare")
    api = Api(app)

    @api.route("/api/public")
    class Public(Resource):
        def get(self):
            return {"message": PUBLIC_MESSAGE}

    return app


def whole_requests(provider: Provider, key, cache_size: str) -> None:
    """Median in-process cost of one request per route, the routes alternating request by request."""
    app = create_app({**provider_config(provider), "AUTH_TOKEN_CACHE_SIZE": cache_size, "LOG_LEVEL": "WARNING"})
    bare = bare_app()
    base = {"REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "3010", "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": "127.0.0.1:3010",
            "HTTP_AUTHORIZATION": "Bearer " + token(provider.issuer, key), "REMOTE_ADDR": "127.0.0.1",
            "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr, "wsgi.multithread": False,
            "wsgi.multiprocess": True, "wsgi.run_once": False}
    statuses, bodies = [], {}
    client = DPoPClient(provider.issuer, key)
    dpop = dict(base, HTTP_AUTHORIZATION=client.authorization)
    # Made a thousand at a time as they are used (outside the timed calls): made all at once, the last ones
    # outlived the API's iat window (300 s) when a busy machine stretched the run.
    proofs = (proof for _ in range(0, REQUESTS_PER_ROUTE, PROOF_BATCH)
              for proof in client.proofs("http://127.0.0.1:3010/api/private", PROOF_BATCH))
    verify = client.verification()

    def start_response(status, headers, exc_info=None):
        statuses.append(status)

    def one(route: str) -> int:
        if route == VERIFICATION:
            started = time.perf_counter_ns()
            verify()
            return time.perf_counter_ns() - started
        wsgi = bare if route == BARE_ROUTE else app
        if route == DPOP_ROUTE:
            environ = dict(dpop, PATH_INFO="/api/private", HTTP_DPOP=next(proofs))
        else:
            environ = dict(base, PATH_INFO=route.split(",")[0])
        environ["wsgi.input"] = io.BytesIO()
        started = time.perf_counter_ns()
        body = wsgi(environ, start_response)
        answer = b"".join(body)
        body.close()
        elapsed = time.perf_counter_ns() - started
        bodies.setdefault(route, answer)
        return elapsed

    routes = (BARE_ROUTE, *ROUTES, DPOP_ROUTE, VERIFICATION)
    samples = {route: [] for route in routes}
    for _ in range(REQUESTS_PER_ROUTE):
        for route in routes:
            samples[route].append(one(route))
    assert set(statuses) == {"200 OK"}, set(statuses)
    assert bodies[BARE_ROUTE] == bodies["/api/public"], bodies  # the same answer, so the same work to send it
    cost = {route: statistics.median(found) / 1000 for route, found in samples.items()}
    public, bare, verification = cost["/api/public"], cost[BARE_ROUTE], cost[VERIFICATION]
    print(f"\nWhole request in-process, token cache {'on' if cache_size != '0' else 'off'} "
          f"(median of {REQUESTS_PER_ROUTE:,} per route, routes alternating):\n")
    print("| route | µs per request | µs over public | ratio of public's cost |\n|---|---:|---:|---:|")
    for route in routes:
        print(f"| {route} | {cost[route]:.1f} | {cost[route] - public:.1f} | {public / cost[route]:.3f} |")
    dpop_extra = cost[DPOP_ROUTE] - public
    met = "met" if dpop_extra <= DPOP_TARGET * verification else "NOT met"
    target = (f"; target, cache on, <= {DPOP_TARGET}: {met}"
              if cache_size != "0" else "")
    print(f"\nThe public route costs {public / bare:.2f} times the bare Flask-RESTX route (target <= {PUBLIC_TARGET}: "
          f"{'met' if public / bare <= PUBLIC_TARGET else 'NOT met'}). A DPoP request costs {dpop_extra:.1f} µs more "
          f"than a public one: {dpop_extra / verification:.2f} ES256 proof verifications ({verification:.1f} µs each "
          f"here{target}).")


if __name__ == "__main__":
    sys.exit(main())
