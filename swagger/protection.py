"""``@protected(ns, scope)``, ``@answers(ns, status, ...)`` and ``@returns(ns, model, example)``: what a route
needs and answers, in one place.

``protected`` has auth enforced by Authlib's protector (``security.require_auth``, which holds every
rule, "any one of these scopes" included) and documents it: the operation's ``security`` requirement and
every error it can answer, each with the example the live API gives in that case (built from the same
refusals that answer it). One decorator keeps them from drifting. What a route answers depends on the
schemes the app takes (``AUTH_DPOP``: the challenges, the DPoP refusals), so ``protected`` only marks the
operation, and ``contract.complete`` documents each app's answers with ``auth_responses``. The scope it
names is declared with its description on the namespace, where ``api_scopes`` collects the API's scope
list for the docs, the local issuer and ``make token``.

``answers`` documents one case of one status of the route's own (its description, body model, named
example and headers); several cases of one status add up, and ``merge_answers`` puts the auth answers
beside them, e.g. a 403 for a missing scope and another for someone else's item.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Iterable, Mapping

from refusals import Refusal
from security import InsufficientScope, InvalidToken, SigningKeysUnavailable, require_auth
from security.dpop import HTU_MISMATCH, INVALID_PROOF, INVALID_REQUEST, NONCE_MISSING, USE_NONCE
from security.dpop_protection import PROOF_MISSING
from security.errors import AuthFailure, ProofRefused, ReplayCheckUnavailable
from security.resource_metadata import EXAMPLE_METADATA_URL
from security.schemes import BEARER, DPOP, Schemes
from security.scopes import check_scope_names
from security.validator import EXPIRED

from .auth_schemes import operation_security
from .models import error_model

#: The operation's vendor field that carries its named examples, per status; ``contract.complete``
#: moves them into the responses, so it never appears in a published document.
EXAMPLES = "x-examples"
#: The operation's vendor field naming the scopes a protected route needs, any one of them (none: any
#: valid token); ``contract.complete`` turns it into the documented auth answers, so it never appears either.
AUTH = "x-auth"
#: The operation's vendor field that carries its links, per status; ``contract.complete`` moves them into
#: the responses as ``x-links`` (Swagger 2.0's spelling, which schemathesis reads), OpenAPI 3's ``links``.
LINKS = "x-response-links"
SUCCESS = "success"  # the name of a route's success example
#: The headers answers document: name -> (type, what it says).
HEADERS = {"WWW-Authenticate": ("string", "The challenge (RFC 6750 §3, RFC 9449 §7.1), naming where this API's "
                                          "protected-resource metadata is (resource_metadata, RFC 9728 §5.1)"),
           "Retry-After": ("integer", "Seconds to wait before retrying"),
           "DPoP-Nonce": ("string", "The nonce the next DPoP proof must carry (RFC 9449 §9); it changes every "
                                    "few minutes, so the value shown is only an example"),
           "ETag": ("string", "The item's entity tag (its version), for If-Match and If-None-Match"),
           "Location": ("string", "The new item's URL")}
EXAMPLE_NONCE = "Tm9uY2UtZXhhbXBsZS0wMDAx"  # the shape of this API's nonces: 24 base64url characters


@dataclass(frozen=True)
class Scope:
    """An OAuth2 scope of this API: its name, and what it grants (shown under Authorize)."""

    name: str
    description: str

    def __post_init__(self):
        check_scope_names([self.name])


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


def example(summary: str, body: dict | None, headers: dict | None = None) -> dict:
    """One named example: a body (None: an answer without one) and the headers that come with it."""
    return {"summary": summary, "value": body, **({"headers": headers} if headers else {})}


def documented_examples(ns, status: int, examples: Mapping[str, dict | Case]):
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
        """Named example of this case, from the refusal that answers it: body, challenge, headers."""
        refusal = self.failure.refusal(schemes.challenge(self.failure, self.scheme, EXAMPLE_METADATA_URL))
        name, named = failure_example(self.summary, refusal)
        return self.name or name, named


def links(ns, status: int, named: dict[str, dict]):
    """Links from one response of the operation to others (OpenAPI 3 link objects, by name): how a client
    (or schemathesis, testing statefully) gets from this answer to the next call."""
    return ns.vendor({LINKS: {str(status): named}})


def failure_example(summary: str, refusal: Refusal) -> tuple[str, dict]:
    """The example named after the error code, from the same Refusal that answers that case: its body and
    the headers the documents describe."""
    headers = {name: int(value) if HEADERS[name][0] == "integer" else value
               for name, value in refusal.headers.items() if name in HEADERS}
    return refusal.error, example(summary, refusal.body(), headers)


def _headers(examples: dict[str, dict]) -> dict:
    """The response's headers, each description quoting its value in every case (2.0 has no header examples)."""
    documented = {}
    for name, (kind, meaning) in HEADERS.items():
        cases = "; ".join(f"`{e['headers'][name]}` ({case})" for case, e in examples.items()
                          if name in e.get("headers", {}))
        if cases:
            documented[name] = {"type": kind, "description": f"{meaning}: {cases}."}
    return documented


@dataclass(frozen=True)
class _Answer:
    """What a route answers with one status: each case's description, the body model, the named examples."""

    model: object
    descriptions: tuple[str, ...] = ()
    examples: dict[str, dict | Case] = field(default_factory=dict)


def answers(ns, status: int, description: str, model=None, examples: Mapping[str, dict | Case] | None = None):
    """Document cases of the route's ``status`` answer: what they mean, the body model (None: no body) and
    one named example per case, each what the live API answers in that case (a test asks it); a ``Case``
    when the answer carries a challenge, which depends on the schemes (``resolve_cases``). Used again for the
    same status, the cases add up; they share one model."""
    if model is not None:
        ns.add_model(model.name, model)

    def decorate(view):
        known = dict(getattr(view, "__answers__", {}))
        before = known.get(status, _Answer(model))
        if before.model is not model:
            raise ValueError(f"the {status} answer is documented with two models")
        answer = known[status] = _Answer(model, (*before.descriptions, description),
                                         {**before.examples, **(examples or {})})
        view.__answers__ = known
        fixed = {name: e for name, e in answer.examples.items() if not isinstance(e, Case)}  # see resolve_cases
        view = ns.response(status, " ".join(answer.descriptions), model, headers=_headers(fixed))(view)
        return documented_examples(ns, status, answer.examples)(view) if answer.examples else view

    return decorate


def resolve_cases(named: dict[str, dict], schemes: Schemes) -> None:
    """Make each ``Case`` among a route's own named examples (by status) the example it gives under these
    schemes: a refusal with a challenge (``insufficient_user_authentication``) differs by ``AUTH_DPOP``. Its
    token is sent as every example sends one (Bearer, unless only DPoP is taken)."""
    sent_as = BEARER if schemes.bearer else DPOP
    for examples in named.values():
        for name, example in list(examples.items()):
            if isinstance(example, Case):
                examples[name] = replace(example, scheme=sent_as).example(schemes)[1]


def merge_answers(responses: dict, named: dict, auth: dict, auth_named: dict) -> None:
    """Put a protected route's auth answers (``auth_responses``) beside its own ``responses`` and ``named``
    examples, by status. Where both document one (a 403 for a missing scope, and one for someone else's
    item), the descriptions join, the auth examples come first (the one Swagger 2.0 shows) and the
    headers describe every case."""
    for status, response in auth.items():
        examples = {**auth_named.get(status, {}), **named.get(status, {})}
        own = responses.get(status)
        merged = dict(response)
        if own is not None:
            merged["description"] = f"{response['description']} {own['description']}"
        merged.pop("headers", None)
        if _headers(examples):
            merged["headers"] = _headers(examples)
        responses[status], named[status] = merged, examples


def _auth_answers(scopes: list[str], schemes: Schemes) -> list[tuple[int, str, list[Case]]]:
    """(status, description, cases) of every error a protected route answers under these schemes."""
    sent_as = BEARER if schemes.bearer else DPOP  # how the examples send a token (as in resolve_cases)
    invalid = InvalidToken(EXPIRED)
    forms = " or ".join(f"`{form}`" for form in schemes.header_forms)
    unauthorized = (f"No access token, or an `Authorization` header that is not {forms}: `unauthorized` (the example). "
                    f"A token that fails validation: `invalid_token`, e.g. `{json.dumps(invalid.refusal().body())}`.")
    cases = [Case("No access token", schemes.missing_credentials()),
             Case("An expired token (for any invalid one, the description says why)", invalid, sent_as)]
    answers = []
    if schemes.dpop:
        answers.append((400, "A DPoP request the API cannot take: `invalid_dpop_proof` when the proof fails a check "
                             "(the description says which), `invalid_request` for the DPoP scheme without a DPoP "
                             "header or a proof sent with the Bearer scheme.",
                        [Case("A DPoP proof made for another URL (for any bad proof, the description says why)",
                              ProofRefused(INVALID_PROOF, 400, HTU_MISMATCH), DPOP),
                         Case("The DPoP scheme without a DPoP header",
                              ProofRefused(INVALID_REQUEST, 400, PROOF_MISSING), DPOP)]))
        unauthorized += (" With nonces on (`AUTH_DPOP_NONCE=on`), a DPoP proof without the current nonce: "
                         "`use_dpop_nonce`, the nonce to use in `DPoP-Nonce`.")
        cases.append(Case("Nonces on, and a DPoP proof without one",
                          ProofRefused(USE_NONCE, 401, NONCE_MISSING, nonce=EXAMPLE_NONCE), DPOP))
    answers.append((401, unauthorized, cases))
    if scopes:
        named = " or ".join(f"`{scope}`" for scope in scopes)
        answers.append((403, f"The token lacks the {named} scope.",
                        [Case(f"A valid token without {' or '.join(scopes)}", InsufficientScope(scopes, any_of=True),
                              sent_as)]))
    unavailable = [Case("The issuer is unreachable", SigningKeysUnavailable())]
    description = "The issuer's signing keys are unavailable; retry later."
    if schemes.dpop:
        unavailable.append(Case("The DPoP replay store is unreachable", ReplayCheckUnavailable(), DPOP,
                                name=ReplayCheckUnavailable.reason))
        description = ("The issuer's signing keys are unavailable, or (DPoP) the replay store cannot be reached and "
                       "the proof is refused rather than accepted unchecked; retry later.")
    answers.append((503, description, unavailable))
    return answers


def auth_responses(scopes: list[str], schemes: Schemes) -> tuple[dict[str, dict], dict[str, dict]]:
    """A protected route's error answers under these schemes (``scopes``: any one of them opens it): the
    Swagger 2.0 responses by status, and their named examples by status (the first is the one Swagger 2.0
    shows)."""
    responses, named = {}, {}
    for status, description, cases in _auth_answers(scopes, schemes):
        examples = dict(case.example(schemes) for case in cases)
        responses[str(status)] = {"description": description, "schema": {"$ref": f"#/definitions/{error_model.name}"},
                                  "headers": _headers(examples)}
        named[str(status)] = examples
    return responses, named


def protected(ns, *scopes: Scope):
    """Require a valid access token and, when scopes are given, any one of them (``require_auth(any_of=...)``
    enforces it); document the auth answers (see ``auth_responses``).

    ``protected(ns, WRITE, MODERATE)`` lets in a token with either scope (the view tells which from
    ``current_token.scopes``); the document lists one security alternative per scope, which OAuth2
    reads as "any of"."""
    for scope in scopes:
        if not isinstance(scope, Scope):
            raise TypeError(f"declare the scope with its description: Scope({scope!r}, 'what it grants')")
        _declared(ns)[scope.name] = scope.description
    names = [scope.name for scope in scopes]

    def decorate(view):
        view = require_auth(any_of=names)(view)
        view = ns.doc(security=operation_security(*names))(view)
        return ns.vendor({AUTH: {"scopes": names}})(view)

    return decorate


def returns(ns, model, body: dict, description: str, **kwargs):
    """``ns.marshal_with(model)``, with ``body`` as the documented example of the 200 answer."""

    def decorate(view):
        ns.add_model(model.name, model)
        view = documented_examples(ns, 200, {SUCCESS: example(description, body)})(view)
        return ns.marshal_with(model, description=description, **kwargs)(view)

    return decorate
