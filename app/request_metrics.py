"""METRICS=on: every request counted and timed (``http_requests_total``, ``http_request_duration_seconds``), and
``GET /metrics`` serving all the metrics (metrics/catalog.py) in Prometheus' text format.

``/metrics`` is a plain Flask route, so it is not in the API documents; it needs no token, so it belongs behind
the proxy, reachable by Prometheus only (see docs/monitoring.md).

On the hot path: one middleware call, two clock reads, and two increments of children looked up once per
(method, route, status) in a plain dict, without the lock and checks of prometheus-client's ``labels()``.
"""

from __future__ import annotations

from time import perf_counter

from flask import Flask, Response

from metrics.catalog import CONTENT_TYPE_LATEST, HTTP_REQUEST_DURATION, HTTP_REQUESTS, exposition

from .logs import route_of

#: The methods counted by name; any other a client invents counts as OTHER_METHOD (labels must stay few).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"


class RequestMetrics:
    """WSGI middleware counting and timing each request, by method, URL rule (see app.logs.route_of) and status.
    Outside the app's other middleware, so that their refusals (a Host not trusted...) are counted too."""

    def __init__(self, app):
        self.app = app
        self._children: dict[tuple[str, str, str], tuple] = {}  # (method, route, status) -> (counter, histogram)

    def __call__(self, environ, start_response):
        started = perf_counter()
        statuses: list[str] = []

        def start_noting_status(status, headers, exc_info=None):
            statuses.append(status[:3])
            return start_response(status, headers, exc_info)

        answer = self.app(environ, start_noting_status)
        elapsed = perf_counter() - started
        method = environ["REQUEST_METHOD"]
        key = (method if method in METHODS else OTHER_METHOD, route_of(environ), statuses[-1] if statuses else "500")
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (HTTP_REQUESTS.labels(*key), HTTP_REQUEST_DURATION.labels(*key[:2]))
        children[0].inc()
        children[1].observe(elapsed)
        return answer


def add_metrics(app: Flask) -> None:
    """``GET /metrics``. create_app adds the middleware, and ``app.logs.record_routes`` for the route label."""

    def metrics():
        return Response(exposition(), content_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})

    app.add_url_rule("/metrics", "metrics", metrics, methods=["GET"])
