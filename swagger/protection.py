"""``@protected(ns, scope)`` and ``@returns(ns, model, example)``: what a route needs and answers, in one place.

``protected`` enforces auth with Authlib's protector (``security.require_auth``) and documents it: the
operation's ``security`` requirement and every error it can answer, each with the example the live API
gives in that case (built from the same error classes that answer it). One decorator keeps them from
drifting. The scope it names is declared with its description on the namespace, where ``api_scopes``
collects the API's scope list for the docs, the local issuer and ``make token``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterable

from security import InsufficientScope, InvalidToken, MissingCredentials, SigningKeysUnavailable, require_auth
from security.errors import AuthFailure
from security.validator import EXPIRED

from .auth_schemes import operation_security
from .models import error_model

#: The operation's vendor field that carries its named examples, per status; ``contract.complete``
#: moves them into the responses, so it never appears in a published document.
EXAMPLES = "x-examples"
SUCCESS = "success"  # the name of a route's 200 example
#: The headers the error answers document: name -> (type, what it says).
HEADERS = {"WWW-Authenticate": ("string", "The RFC 6750 challenge"),
           "Retry-After": ("integer", "Seconds to wait before retrying")}


@dataclass(frozen=True)
class Scope:
    """An OAuth2 scope of this API: its name, and what it grants (shown under Authorize)."""

    name: str
    description: str


def _declared(ns) -> dict[str, str]:
    """The scopes a namespace's routes need (name -> description), kept on the namespace."""
    if "oauth2_scopes" not in vars(ns):
        ns.oauth2_scopes = {}
    return ns.oauth2_scopes


def api_scopes(namespaces: Iterable) -> dict[str, str]:
    """Every scope the routes of these namespaces need, with its description, in declaration order."""
    scopes: dict[str, str] = {}
    for ns in namespaces:
        for name, description in _declared(ns).items():
            if scopes.setdefault(name, description) != description:
                raise ValueError(f"scope {name!r} is declared twice with different descriptions")
    return scopes


def example(summary: str, body: dict, headers: dict | None = None) -> dict:
    """One named example: a body and the headers that come with it."""
    return {"summary": summary, "value": body, **({"headers": headers} if headers else {})}


def documented_examples(ns, status: int, examples: dict[str, dict]):
    """Attach named examples to one response of the operation (the first is the one Swagger 2.0 shows)."""
    return ns.vendor({EXAMPLES: {str(status): examples}})


def _failure_example(summary: str, failure: AuthFailure) -> tuple[str, dict]:
    """The example named after the error code, from the same object that answers that case."""
    headers = {name: int(value) if HEADERS[name][0] == "integer" else value
               for name, value in failure.get_headers() if name in HEADERS}
    return failure.error, example(summary, failure.body(), headers)


def _headers(examples: dict[str, dict]) -> dict:
    """The response's headers, each description quoting its value in every case (2.0 has no header examples)."""
    documented = {}
    for name, (kind, meaning) in HEADERS.items():
        cases = "; ".join(f"`{e['headers'][name]}` ({case})" for case, e in examples.items() if name in e["headers"])
        if cases:
            documented[name] = {"type": kind, "description": f"{meaning}: {cases}."}
    return documented


def _auth_answers(scope: str | None) -> list[tuple[int, str, dict[str, dict]]]:
    """(status, description, named examples) of every error a protected route answers."""
    invalid = InvalidToken(EXPIRED)
    answers = [(401, "No access token, or an `Authorization` header that is not `Bearer <token>`: `unauthorized` "
                f"(the example). A token that fails validation: `invalid_token`, e.g. `{json.dumps(invalid.body())}`.",
                [("No access token", MissingCredentials()),
                 ("An expired token (for any invalid one, the description says why)", invalid)])]
    if scope:
        answers.append((403, f"The token lacks the `{scope}` scope.",
                        [(f"A valid token without {scope}", InsufficientScope([scope]))]))
    answers.append((503, "The issuer's signing keys are unavailable; retry later.",
                    [("The issuer is unreachable", SigningKeysUnavailable())]))
    return [(status, text, dict(_failure_example(*case) for case in cases)) for status, text, cases in answers]


def protected(ns, scope: Scope | None = None):
    """Require a valid access token, and ``scope`` when given; document the 401, 403 and 503 answers."""
    if scope is not None and not isinstance(scope, Scope):
        raise TypeError(f"declare the scope with its description: Scope({scope!r}, 'what it grants')")
    name = scope.name if scope else None
    if scope:
        _declared(ns)[name] = scope.description
    ns.add_model(error_model.name, error_model)
    answers = _auth_answers(name)

    def decorate(view):
        view = require_auth(name)(view)
        view = ns.doc(security=operation_security(name))(view)
        for status, description, examples in answers:
            view = ns.response(status, description, error_model, headers=_headers(examples))(view)
            view = documented_examples(ns, status, examples)(view)
        return view

    return decorate


def returns(ns, model, body: dict, description: str, **kwargs):
    """``ns.marshal_with(model)``, with ``body`` as the documented example of the 200 answer."""

    def decorate(view):
        ns.add_model(model.name, model)
        view = documented_examples(ns, 200, {SUCCESS: example(description, body)})(view)
        return ns.marshal_with(model, description=description, **kwargs)(view)

    return decorate
