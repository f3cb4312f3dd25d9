"""``@protected(ns)`` / ``@protected(ns, READ_MESSAGES)``: enforce and document a route's auth in one place.

Enforcement is Authlib's protector (``security.require_auth``); documentation is the operation's
``security`` requirement (bearer or the OAuth2 flows, with the scope) and every error it can answer.
One decorator keeps the two from drifting. It also marks the route's answers ``no-store``.
"""

from __future__ import annotations

import functools

from flask_restx.utils import unpack
from werkzeug.datastructures import Headers
from werkzeug.wrappers import Response

from security import require_auth

from .auth_schemes import operation_security
from .models import error_model

CHALLENGE = {
    "WWW-Authenticate": {
        "type": "string",
        "description": 'The RFC 6750 challenge, e.g. `Bearer realm="api", error="invalid_token", '
        'error_description="The token has expired."`',
    }
}
RETRY_AFTER = {"Retry-After": {"type": "integer", "description": "Seconds to wait before retrying."}}


def no_store(result):
    """Add ``Cache-Control: no-store`` to a view's result: an answer computed for one caller must not
    be kept by any shared cache (RFC 9111 §5.2.2.5). Set in the result rather than by an after-request
    hook, which would cost a protected request about as much as its cached token check (bench/RESULTS.md)."""
    if isinstance(result, Response):
        result.headers["Cache-Control"] = "no-store"
        return result
    data, code, headers = unpack(result)
    if not headers:
        return data, code, {"Cache-Control": "no-store"}
    headers = Headers(headers)
    headers["Cache-Control"] = "no-store"
    return data, code, headers


def protected(ns, scope: str | None = None):
    def decorate(view):
        enforced = require_auth(scope)(view)

        @functools.wraps(view)
        def guarded(*args, **kwargs):
            return no_store(enforced(*args, **kwargs))

        view = ns.doc(security=operation_security(scope))(guarded)
        view = ns.response(401, "Missing, malformed or invalid access token.", error_model, headers=CHALLENGE)(view)
        if scope:
            view = ns.response(403, f"The token lacks the `{scope}` scope.", error_model, headers=CHALLENGE)(view)
        view = ns.response(503, "The issuer's signing keys are unavailable; retry later.", error_model,
                           headers=RETRY_AFTER)(view)
        return view

    return decorate
