"""Request logs that a client cannot forge or fill with secrets, for `make serve` and `make run` alike.

- One request, one line: any character that is not printable (CR, LF, ESC, the other C0 and C1
  controls, U+2028/U+2029, bidi controls...) is written as ``\\xNN``, ``\\uNNNN`` or ``\\UNNNNNNNN``;
  inside a field, backslashes and double quotes get a backslash, so it can neither end early nor fake
  another.
- No query string: the path is logged without it, so ``code=``, ``access_token=`` or
  ``client_secret=`` put in a URL never reach a log. Server error lines that quote a raw request
  line (a malformed request) lose the query too.
"""

from __future__ import annotations

import logging
import re

from gunicorn import glogging
from werkzeug.serving import WSGIRequestHandler

from security.protector import ACTOR

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
        actor = getattr(self, "environ", {}).get(ACTOR, "-")  # a delegated token's act.sub
        self.log("info", '"%s" %s %s actor="%s"', escape(without_query(self.requestline)), code, size, escape(actor))

    def log_error(self, format: str, *args) -> None:  # noqa: A002 - http.server's signature
        self.log("error", "%s", clean(format % args))
