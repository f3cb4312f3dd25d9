"""gunicorn settings for `make serve` (production): `gunicorn -c gunicorn.conf.py`.

Read from the environment (and `.env`): PORT (default 3010), WEB_CONCURRENCY (default 2 * cores + 1).
Command-line flags win over this file, e.g. `-b 127.0.0.1:8000` for loopback only.
"""

import multiprocessing
import os
from pathlib import Path

from dotenv import load_dotenv

load_dotenv(Path(__file__).resolve().parent / ".env")

wsgi_app = "app:create_app()"
bind = f"0.0.0.0:{os.environ.get('PORT') or 3010}"
workers = int(os.environ.get("WEB_CONCURRENCY") or 2 * multiprocessing.cpu_count() + 1)
if not (os.environ.get("AUTH0_DOMAIN") or os.environ.get("AUTH_ISSUER")):
    # local mode: the embedded issuer keeps authorization codes in its process's memory, so a login
    # started in one worker must finish in the same one
    workers = 1

# Requests are short; a worker stuck for 30 s is broken and gets replaced. On SIGTERM, workers get
# as long to finish the requests in hand.
timeout = 30
graceful_timeout = 30

# Access log on stdout, error log (and the app's own lines) on stderr. The path is logged without
# its query string (%(U)s), so a token a client wrongly puts in the URL never reaches the log.
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s"'

# Forwarded headers are the app's business (TRUSTED_PROXIES); gunicorn must not trust them on its own.
forwarded_allow_ips = ""

# gunicorn 27's control socket would collide between instances on one machine, and we do not use it.
control_socket_disable = True


def post_worker_init(worker):
    """Once per server, from the first worker started: a per-process DPoP replay store means a proof
    replayed to another worker is accepted there; say so (the app's own settings decide)."""
    if worker.age != 1:  # gunicorn numbers workers as it starts them; replacements come later
        return
    from security.dpop_protection import replay_scope_note  # already imported by the app

    note = replay_scope_note(worker.wsgi.config["SETTINGS"], worker.cfg.workers)
    if note:
        worker.log.warning(note)
