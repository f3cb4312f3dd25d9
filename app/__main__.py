"""`python -m app` (what `make run` does): the development server, always on loopback, at PORT (default
3010). Its request log follows the same rules as gunicorn's (see app/access_log.py), in LOG_FORMAT."""

import logging

from werkzeug import serving

from local_issuer import local_mode_note

from . import create_app, warm_up_key_sets
from .access_log import DevRequestHandler, JsonDevRequestHandler
from .hosts import any_host_note
from .settings import LOOPBACK, Settings

serving._log_add_style = False  # werkzeug's banner colours are raw ESC sequences in a captured log

app = create_app()
warm_up_key_sets(app)  # beside start-up: the server listens at once, whatever the issuer does
settings: Settings = app.config["SETTINGS"]
if note := any_host_note(settings):
    logging.getLogger("app.hosts").warning(note)
if settings.auth.uses_local_issuer:
    logging.getLogger("app.local_issuer").warning(local_mode_note(settings.auth))
# werkzeug's server as app.run starts it, minus Flask's banner (printed, so never a JSON line): werkzeug's
# own start-up lines go through the app's logging, in LOG_FORMAT.
serving.run_simple(LOOPBACK, settings.port, app, threaded=True,
                   request_handler=JsonDevRequestHandler if settings.log_format == "json" else DevRequestHandler)
