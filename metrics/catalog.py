"""Every metric the API exposes, by the names dashboards and alerts are written against (see docs/monitoring.md).

Labels take bounded values only: a URL rule (never a raw path), a reason or outcome from the code, a configured
issuer. Children counted on every request are bound once, here: ``labels()`` costs a lock and a lookup.

Under gunicorn, each worker writes its figures to a file in ``PROMETHEUS_MULTIPROC_DIR`` (set up by
gunicorn.conf.py before this module is imported) and ``exposition`` adds them up, so any worker answers for all.
"""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

__all__ = ["AUTH_REFUSALS", "CONTENT_TYPE_LATEST", "DPOP_ACCEPTED", "DPOP_PROOFS", "HTTP_REQUESTS",
           "HTTP_REQUEST_DURATION", "JWKS_FETCHES", "STORAGE_UNAVAILABLE", "TOKEN_CACHE_HIT", "TOKEN_CACHE_MISS",
           "UNMATCHED_ROUTE", "exposition"]

#: The ``route`` of a request no URL rule matched (a 404, whatever the path): one label for all of them.
UNMATCHED_ROUTE = "<unmatched>"

HTTP_REQUESTS = Counter("http_requests_total", "Requests answered, by method, URL rule and status.",
                        ["method", "route", "status"])
HTTP_REQUEST_DURATION = Histogram("http_request_duration_seconds",
                                  "Seconds from the request reaching the app to its answer, by method and URL rule.",
                                  ["method", "route"])
AUTH_REFUSALS = Counter("auth_refusals_total", "Requests refused by the token or proof checks, by reason "
                        "(the reason of the security.refused log line).", ["reason"])
JWKS_FETCHES = Counter("jwks_fetches_total", "Key-set acquisitions (discovery included), by issuer and outcome "
                       "(success or failure).", ["issuer", "outcome"])
TOKEN_CACHE_LOOKUPS = Counter("token_cache_lookups_total", "Verified-token cache lookups, one per request that "
                              "carries a token: hit (no signature check) or miss.", ["result"])
DPOP_PROOFS = Counter("dpop_proofs_total", "DPoP proofs checked on API requests, by outcome: accepted, refused, "
                      "replayed, or unchecked (the replay store could not answer).", ["outcome"])
STORAGE_UNAVAILABLE = Counter("storage_unavailable_total", "Requests answered 503 because the database could not "
                              "be used (down, locked past its busy timeout, out of connections).")

TOKEN_CACHE_HIT = TOKEN_CACHE_LOOKUPS.labels(result="hit")
TOKEN_CACHE_MISS = TOKEN_CACHE_LOOKUPS.labels(result="miss")
DPOP_ACCEPTED = DPOP_PROOFS.labels(outcome="accepted")


def exposition() -> bytes:
    """The metrics in Prometheus' text format: this process's, or every worker's added up in multiprocess mode."""
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return generate_latest(registry)
