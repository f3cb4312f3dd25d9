"""``@protected(ns)`` / ``@protected(ns, READ_MESSAGES)``: enforce and document a route's auth in one place.

Enforcement is Authlib's protector (``security.require_auth``); documentation is the operation's
``security`` requirement (bearer or the OAuth2 flows, with the scope) and every error it can answer.
One decorator keeps the two from drifting.
"""

from __future__ import annotations

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


def protected(ns, scope: str | None = None):
    def decorate(view):
        view = require_auth(scope)(view)
        view = ns.doc(security=operation_security(scope))(view)
        view = ns.response(401, "Missing, malformed or invalid access token.", error_model, headers=CHALLENGE)(view)
        if scope:
            view = ns.response(403, f"The token lacks the `{scope}` scope.", error_model, headers=CHALLENGE)(view)
        view = ns.response(503, "The issuer's signing keys are unavailable; retry later.", error_model,
                           headers=RETRY_AFTER)(view)
        return view

    return decorate
