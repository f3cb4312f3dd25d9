"""What the API counts for Prometheus, and the METRICS switch that serves it at ``/metrics``.

- ``metrics.settings``: METRICS (on or off), read before anything imports prometheus-client: under gunicorn,
  prometheus-client picks its multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``) once, when it is first imported.
- ``metrics.catalog``: every metric, by the names dashboards and alerts are written against.

Like ``config``, this package imports no other of the project's, so every one of them may count here.
"""
