"""``@protected(ns, scope)`` and ``@returns(ns, model, example)``: what a route needs and answers, in one place.

``protected`` enforces auth with Authlib's protector (``security.require_auth``) and documents it: the
operation's ``security`` requirement and every error it can answer, each with the example the live API
gives in that case (built from the same error classes that answer it). One decorator keeps them from
drifting. What a route answers depends on the schemes the app takes (``AUTH_DPOP``: the challenges, the
DPoP refusals), so ``protected`` only marks the operation, and ``contract.complete`` documents each
app's answers with ``auth_responses``. The scope it names is declared with its description on the
namespace, where ``api_scopes`` collects the API's scope list for the docs, the local issuer and
``make token``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterable

from security import InsufficientScope, InvalidToken, SigningKeysUnavailable, require_auth
from security.dpop import HTU_MISMATCH, INVALID_PROOF, INVALID_REQUEST, NONCE_MISSING, USE_NONCE
from security.dpop_protection import PROOF_MISSING
from security.errors import AuthFailure, ProofRefused, ReplayCheckUnavailable
from security.schemes import BEARER, DPOP, Schemes
from security.validator import EXPIRED

from .auth_schemes import operation_security
from .models import error_model

#: The operation's vendor field that carries its named examples, per status; ``contract.complete``
#: moves them into the responses, so it never appears in a published document.
EXAMPLES = "x-examples"
#: The operation's vendor field naming the scope a protected route needs (None: any valid token);
#: ``contract.complete`` turns it into the documented auth answers, so it never appears either.
AUTH = "x-auth"
SUCCESS = "success"  # the name of a route's 200 example
#: The headers the error answers document: name -> (type, what it says).
HEADERS = {"WWW-Authenticate": ("string", "The challenge (RFC 6750 §3, RFC 9449 §7.1)"),
           "Retry-After": ("integer", "Seconds to wait before retrying"),
           "DPoP-Nonce": ("string", "The nonce the next DPoP proof must carry (RFC 9449 §9); it changes every "
                                    "few minutes, so the value shown is only an example")}
EXAMPLE_NONCE = "Tm9uY2UtZXhhbXBsZS0wMDAx"  # the shape of this API's nonces: 24 base64url characters


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


@dataclass(frozen=True)
class Case:
    """One documented refusal: what the client sent (its scheme) and the error that answers it."""

    summary: str
    failure: AuthFailure
    scheme: str | None = None  # the Authorization scheme the client used, lower case; None: no header
    name: str = ""  # the example's name; default: the error code

    def example(self, schemes: Schemes) -> tuple[str, dict]:
        """Named example of this case, from the same objects that answer it: body, challenge, headers."""
        headers = self.failure.get_headers(schemes.challenge(self.failure, self.scheme))
        headers = {name: int(value) if HEADERS[name][0] == "integer" else value
                   for name, value in headers if name in HEADERS}
        return self.name or self.failure.error, example(self.summary, self.failure.body(), headers)


def _headers(examples: dict[str, dict]) -> dict:
    """The response's headers, each description quoting its value in every case (2.0 has no header examples)."""
    documented = {}
    for name, (kind, meaning) in HEADERS.items():
        cases = "; ".join(f"`{e['headers'][name]}` ({case})" for case, e in examples.items() if name in e["headers"])
        if cases:
            documented[name] = {"type": kind, "description": f"{meaning}: {cases}."}
    return documented


def _auth_answers(scope: str | None, schemes: Schemes) -> list[tuple[int, str, list[Case]]]:
    """(status, description, cases) of every error a protected route answers under these schemes."""
    sent_as = BEARER if schemes.bearer else DPOP  # how the examples send a token
    invalid = InvalidToken(EXPIRED)
    forms = " or ".join(f"`{form}`" for form in schemes.header_forms)
    unauthorized = (f"No access token, or an `Authorization` header that is not {forms}: `unauthorized` (the example). "
                    f"A token that fails validation: `invalid_token`, e.g. `{json.dumps(invalid.body())}`.")
    cases = [Case("No access token", schemes.missing_credentials()),
             Case("An expired token (for any invalid one, the description says why)", invalid, sent_as)]
    answers = []
    if schemes.dpop:
        answers.append((400, "A DPoP request the API cannot take: `invalid_dpop_proof` when the proof fails a check "
                             "(the description says which), `invalid_request` for the DPoP scheme without a DPoP "
                             "header or a proof sent with the Bearer scheme.",
                        [Case("A DPoP proof made for another URL (for any bad proof, the description says why)",
                              ProofRefused(INVALID_PROOF, 400, HTU_MISMATCH), DPOP),
                         Case("The DPoP scheme without a DPoP header", ProofRefused(INVALID_REQUEST, 400, PROOF_MISSING),
                              DPOP)]))
        unauthorized += (" With nonces on (`AUTH_DPOP_NONCE=on`), a DPoP proof without the current nonce: "
                         "`use_dpop_nonce`, the nonce to use in `DPoP-Nonce`.")
        cases.append(Case("Nonces on, and a DPoP proof without one",
                          ProofRefused(USE_NONCE, 401, NONCE_MISSING, nonce=EXAMPLE_NONCE), DPOP))
    answers.append((401, unauthorized, cases))
    if scope:
        answers.append((403, f"The token lacks the `{scope}` scope.",
                        [Case(f"A valid token without {scope}", InsufficientScope([scope]), sent_as)]))
    unavailable = [Case("The issuer is unreachable", SigningKeysUnavailable())]
    description = "The issuer's signing keys are unavailable; retry later."
    if schemes.dpop:
        unavailable.append(Case("The DPoP replay store is unreachable", ReplayCheckUnavailable(), DPOP,
                                name=ReplayCheckUnavailable.reason))
        description = ("The issuer's signing keys are unavailable, or (DPoP) the replay store cannot be reached and "
                       "the proof is refused rather than accepted unchecked; retry later.")
    answers.append((503, description, unavailable))
    return answers


def auth_responses(scope: str | None, schemes: Schemes) -> tuple[dict[str, dict], dict[str, dict]]:
    """A protected route's error answers under these schemes: the Swagger 2.0 responses by status, and
    their named examples by status (the first is the one Swagger 2.0 shows)."""
    responses, named = {}, {}
    for status, description, cases in _auth_answers(scope, schemes):
        examples = dict(case.example(schemes) for case in cases)
        responses[str(status)] = {"description": description, "schema": {"$ref": f"#/definitions/{error_model.name}"},
                                  "headers": _headers(examples)}
        named[str(status)] = examples
    return responses, named


def protected(ns, scope: Scope | None = None):
    """Require a valid access token, and ``scope`` when given; document the auth answers (see ``auth_responses``)."""
    if scope is not None and not isinstance(scope, Scope):
        raise TypeError(f"declare the scope with its description: Scope({scope!r}, 'what it grants')")
    name = scope.name if scope else None
    if scope:
        _declared(ns)[name] = scope.description

    def decorate(view):
        view = require_auth(name)(view)
        view = ns.doc(security=operation_security(name))(view)
        return ns.vendor({AUTH: {"scope": name}})(view)

    return decorate


def returns(ns, model, body: dict, description: str, **kwargs):
    """``ns.marshal_with(model)``, with ``body`` as the documented example of the 200 answer."""

    def decorate(view):
        ns.add_model(model.name, model)
        view = documented_examples(ns, 200, {SUCCESS: example(description, body)})(view)
        return ns.marshal_with(model, description=description, **kwargs)(view)

    return decorate
