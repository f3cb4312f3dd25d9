"""Request logs that a client cannot forge or fill with secrets, for `make serve` and `make run` alike.

- One request, one line: any character that is not printable (CR, LF, ESC, the other C0 and C1
  controls, U+2028/U+2029, bidi controls...) is written as ``\\xNN``, ``\\uNNNN`` or ``\\UNNNNNNNN``;
  inside a field, backslashes and double quotes get a backslash, so it can neither end early nor fake
  another.
- With LOG_FORMAT=json, each line is a JSON object instead (app/logs.py), escaped by construction, the
  request's fields each in its own member (``access_fields``).
- No query string: the path is logged without it, so ``code=``, ``access_token=`` or
  ``client_secret=`` put in a URL never reach a log. Server error lines that quote a raw request
  line (a malformed request) lose the query too.
"""

from __future__ import annotations

import logging
import re
import traceback
from time import perf_counter

from gunicorn import glogging
from werkzeug.serving import WSGIRequestHandler

from security.protector import ACTOR

from .logs import RequestIdFilter, access_fields, json_formatter
from .request_ids import REQUEST_ID

_QUERY = re.compile(r"\?\S*")  # from "?" to the next space: a request target cannot contain one


def escape(text: str) -> str:
    """A log field on one line, with nothing a terminal would act on, that cannot end its quotes."""
    return _escaped(text, '\\"')


def clean(text: str) -> str:
    """A free-form line (e.g. an error quoting a raw request line): without query strings, on one line."""
    return _escaped(without_query(text), "")


def without_query(text: str) -> str:
    """``text`` with every query string cut (a request line, or a message quoting one)."""
    return _QUERY.sub("", text)


def _escaped(text: str, specials: str) -> str:
    """``text`` with its unprintable characters written as escapes and ``specials`` backslashed."""
    if text.isprintable() and not any(char in text for char in specials):
        return text  # the usual case, checked at C speed
    return "".join("\\" + char if char in specials else char if char.isprintable() else _code(char)
                   for char in text)


def _code(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


class EscapedAtoms(dict):
    """gunicorn's log atoms, each escaped when the format reads it (gunicorn's own wrapper escapes
    only double quotes, and does so for every atom, read or not)."""

    def __getitem__(self, key: str):
        if key.startswith("{"):  # a header or environ atom, e.g. %({user-agent}i)s
            key = key.lower()
        value = self.get(key, "-")
        return escape(value) if isinstance(value, str) else value


class _CleanLines(logging.Filter):
    """Rewrites a record's message with ``clean``; the traceback of an exception, if any, is kept."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = clean(record.getMessage()), None
        return True


_CLEAN_LINES = _CleanLines()


class GunicornLogger(glogging.Logger):
    """gunicorn's logger (``logger_class`` in gunicorn.conf.py): access-log fields escaped, and its
    error lines (e.g. "Invalid request ... 'GET /?code=...'") cleaned."""

    atoms_wrapper_class = EscapedAtoms

    def setup(self, cfg) -> None:
        super().setup(cfg)
        self.error_log.addFilter(_CLEAN_LINES)  # a no-op when set up again on reload


class DevRequestHandler(WSGIRequestHandler):
    """The development server's request handler (``python -m app``): werkzeug's log line, cleaned,
    without colours (werkzeug's would put ESC sequences in a captured log)."""

    def log_request(self, code="-", size="-") -> None:
        environ = getattr(self, "environ", {})
        actor = environ.get(ACTOR, "-")  # a delegated token's act.sub
        request_id = environ.get(REQUEST_ID)  # ends the line, as on gunicorn's
        self.log("info", '"%s" %s %s actor="%s"%s', escape(without_query(self.requestline)), code, size, escape(actor),
                 f" {request_id}" if request_id else "")

    def log_error(self, format: str, *args) -> None:  # noqa: A002 - http.server's signature
        self.log("error", "%s", clean(format % args))


class JsonGunicornLogger(GunicornLogger):
    """gunicorn's logger with LOG_FORMAT=json (``logger_class`` in gunicorn.conf.py): every line it writes, its
    own start and stop lines included, is one JSON object, and a request line has the request's fields."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(json_formatter())
                handler.addFilter(_REQUEST_IDS)

    def access(self, resp, req, environ, request_time) -> None:
        if not self.access_log_enabled:
            return
        fields = access_fields(environ, resp.status_code, request_time)
        try:
            self.access_log.info("%s %s %s", environ.get("REQUEST_METHOD"), fields["path"], resp.status_code,
                                 extra={**fields, "bytes": getattr(resp, "sent", None)})
        except Exception:
            self.error(traceback.format_exc())


_REQUEST_IDS = RequestIdFilter()


class JsonDevRequestHandler(DevRequestHandler):
    """The development server's request handler with LOG_FORMAT=json: its request line is one JSON object with
    the request's fields (its other lines, werkzeug's logger's, are made JSON by the app's root handler)."""

    def handle_one_request(self) -> None:
        self._started = perf_counter()
        super().handle_one_request()

    def log_request(self, code="-", size="-") -> None:
        environ = getattr(self, "environ", None)
        if environ is None:  # not a request the app saw: werkzeug's own line
            super().log_request(code, size)
            return
        status = int(code) if isinstance(code, int) else None
        fields = access_fields(environ, status, perf_counter() - self._started, client=self.address_string())
        logging.getLogger("werkzeug").info("%s %s %s", fields["method"], fields["path"], code,
                                           extra={**fields, "bytes": size})
