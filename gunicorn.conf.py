"""gunicorn settings for `make serve` (production): `gunicorn -c gunicorn.conf.py`.

PORT, BIND_HOST, LOG_FORMAT and the provider come from app.settings (environment and `.env`), parsed and
checked as the app does; METRICS is read first, before prometheus-client is loaded (see _metrics_directory);
WEB_CONCURRENCY (default: one worker per core) is read here. Command-line flags win over
this file, e.g. `-b 127.0.0.1:8000`.
"""

import os
import shutil
import signal
import socket
import sys
import tempfile
from pathlib import Path

from dotenv import load_dotenv

from metrics.settings import metrics_on

load_dotenv(Path(__file__).resolve().parent / ".env")


def _metrics_directory() -> str | None:
    """With METRICS=on, PROMETHEUS_MULTIPROC_DIR, where each worker writes its figures and /metrics adds them
    up: a temporary directory of this server's own unless set, emptied of an earlier run's figures. Set up
    before the app's modules are imported: prometheus-client chooses its multiprocess mode as it is loaded."""
    if not metrics_on(os.environ):
        return None
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    path = given or tempfile.mkdtemp(prefix="prometheus-")
    for stale in Path(path).glob("*.db"):
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    return None if given else path


_own_metrics_directory = _metrics_directory()

# Importing app.settings loads the app's modules in the master, before workers fork: they start faster,
# and gevent's patching in each worker still applies, as nothing in them makes a lock, a thread or a
# socket at import.
from prometheus_client import multiprocess  # noqa: E402

from app import warm_up_key_sets  # noqa: E402 - after the metrics directory (see above)
from app.database import migrate_database  # noqa: E402
from app.hosts import any_host_note  # noqa: E402
from app.settings import load_settings  # noqa: E402
from config import INSTANCE_PATH  # noqa: E402
from local_issuer import local_mode_note  # noqa: E402
from security.dpop_protection import replay_scope_note  # noqa: E402
from security.net import is_loopback_host  # noqa: E402
from security.protector import ACTOR  # noqa: E402

settings = load_settings(os.environ)


def _address(host, port) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


wsgi_app = "app:create_app()"
bind = _address(settings.bind_host, settings.port)
# One gevent worker per core: each serves all its connections on one core, so a worker more than the cores
# only waits for one, and the requests in its hands with it (measured in bench/RESULTS.md). The 2 * cores + 1
# of gunicorn's documentation is for sync workers, which spend their time waiting on a single request.
workers = int(os.environ.get("WEB_CONCURRENCY") or os.cpu_count() or 1)
if settings.auth.uses_local_issuer:
    # the embedded issuer keeps authorization codes in its process's memory, so a login started in
    # one worker must finish in the same one
    workers = 1

# gevent workers: each connection is a greenlet, not a process or a thread, so idle or slow clients
# cost almost nothing, and one that has not sent a whole request head within `keepalive` seconds is
# dropped (gunicorn's gevent worker reads every head under that deadline, the first one included).
# 200 connections trickling a byte every 3 s leave /healthz and the API answering (`make slowloris`).
# The app's threads (key-set refresh, fetch deadlines) become greenlets under gevent's patching.
# gunicorn's gevent worker, with each keep-alive connection taking its turn (app/gevent_worker.py).
worker_class = "app.gevent_worker.FairGeventWorker"
worker_connections = 1000  # per worker; past that, new connections wait in the listen queue
keepalive = 2
# A listening socket per worker (SO_REUSEPORT), among which Linux spreads new connections evenly; each
# worker opens it once the app is loaded (app/gevent_worker.py). On one shared socket, whichever worker
# woke first took them, and a burst (a client opening its pool) could all go to one worker. Linux only:
# elsewhere SO_REUSEPORT does not spread connections.
reuse_port = workers > 1 and sys.platform.startswith("linux")

# Requests are short; a worker stuck for 30 s is broken and gets replaced. On SIGTERM, workers get
# as long to finish the requests in hand.
timeout = 30
graceful_timeout = 30

# Access log on stdout, error log (and the app's own lines) on stderr. The path is logged without
# its query string (%(U)s), so a token a client wrongly puts in the URL never reaches the log; the
# logger class escapes every field, so one request is one line (app/access_log.py), ending with the actor a
# delegated token names (act.sub, "-" for none: who acted for the user) and the request's id. With
# LOG_FORMAT=json, every line gunicorn writes is a JSON object instead.
accesslog = "-"
errorlog = "-"
access_log_format = (f'%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s" actor="%({{{ACTOR}}}e)s"'
                     ' %({x-request-id}o)s')
logger_class = "app.access_log." + ("JsonGunicornLogger" if settings.log_format == "json" else "GunicornLogger")

# Forwarded headers are the app's business (TRUSTED_PROXIES); gunicorn must not trust them on its own.
forwarded_allow_ips = ""

# gunicorn 27's control socket would collide between instances on one machine, and we do not use it.
control_socket_disable = True


def on_starting(server):
    """Once per server, in the master, before any worker starts. With a socket per worker, the address must
    be free (see _listen_alone). The database is migrated here, once: a failed migration stops gunicorn
    with its one line (instead of every worker failing in turn, forever), and workers find nothing left to
    do. Then the warnings, said once per server rather than per worker: several workers without a shared
    DPoP replay store each catch only the replays sent to them; any Host answered while DPoP proofs are
    taken (app.hosts); and local mode trusts a development issuer: say so, and warn when it listens beyond
    this machine."""
    if server.cfg.reuse_port:
        _listen_alone(server)
    migrate_database(settings, INSTANCE_PATH)
    for note in (replay_scope_note(settings.dpop, server.cfg.workers), any_host_note(settings)):
        if note:
            server.log.warning(note)
    if not settings.auth.uses_local_issuer:
        return
    server.log.warning(local_mode_note(settings.auth))
    for address in server.cfg.address:
        if isinstance(address, tuple) and not is_loopback_host(address[0]):
            server.log.warning(
                "local mode listening on %s, beyond this machine: the API trusts the embedded development "
                "issuer (set AUTH0_DOMAIN or AUTH_ISSUER for a provider, or leave BIND_HOST unset for loopback)",
                _address(*address))


def _listen_alone(server):
    """With reuse_port, a second server started on our address would share it, each answering part of the
    traffic, where gunicorn otherwise stops with "Connection in use": stop in that case too. A socket bound
    without SO_REUSEPORT cannot share an address that another one listens at."""
    for address in server.cfg.address:
        if isinstance(address, tuple):
            with socket.socket(socket.AF_INET6 if ":" in address[0] else socket.AF_INET) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn's own sockets do
                try:
                    probe.bind(address[:2])
                except OSError as error:
                    raise SystemExit(f"cannot listen at {_address(*address[:2])}: {error.strerror}") from None
            server.log.info("Listening at: http://%s (%s), on a socket per worker (reuse_port)",
                            _address(*address[:2]), server.pid)


def post_fork(server, worker):
    """A worker runs its master's signal handlers until it installs its own, after gevent's patching:
    a SIGTERM in between would be lost, and the worker then kept until graceful_timeout. Stop instead."""
    signal.signal(signal.SIGTERM, worker.handle_exit)


def post_worker_init(worker):
    """A worker that has loaded the app starts fetching its issuers' keys, beside its first requests (a
    greenlet: it accepts them at once, issuer or not), which then wait for that fetch instead of finding
    no keys (see docs/providers.md, "The key set")."""
    warm_up_key_sets(worker.wsgi)


def child_exit(server, worker):
    """A worker that has ended leaves no figure of a gauge behind in the metrics directory (counters and
    histograms keep adding up its counts, as Prometheus expects of them)."""
    if settings.metrics:
        multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """The metrics directory made for this server goes with it."""
    if _own_metrics_directory:
        shutil.rmtree(_own_metrics_directory, ignore_errors=True)
