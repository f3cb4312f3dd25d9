"""The published contract: flask-restx's Swagger 2.0 document made complete, and its OpenAPI 3 twin.

``ContractApi`` is the ``Api`` with three additions: ``/swagger.json`` is cleaned of what flask-restx
adds on its own (undescribed error responses, null fields) and carries each response's example,
``/openapi.json`` serves the OpenAPI 3 conversion with every named example, and ``flask spec`` prints
either document with sorted keys, as the snapshots are kept. It answers no error itself: the app's
one error handler does (``refusals.answer``).
"""

from __future__ import annotations

import copy
import json
import unicodedata

import click
from flask import current_app, jsonify
from flask.cli import with_appcontext
from flask_restx import Api
from flask_restx.mask import MaskError, ParseError
from werkzeug.utils import cached_property

from refusals import Refusal
from security.schemes import BEARER_ONLY, Schemes
from security.settings import current_auth_settings

from .models import error_model
from .openapi3 import add_named_examples, to_openapi3
from .protection import AUTH, EXAMPLES, LINKS, auth_responses, merge_answers, resolve_cases

FORMATS = ("swagger", "openapi")


def render(document: dict) -> str:
    """The one text form of a document: what `make spec` commits and the drift test compares. A character
    that does not show as itself (invisible, unassigned, or a combining mark that would sit on the one
    before, as the text pattern has) is written as its JSON escape, so a reader of the file sees it."""
    text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    return "".join(char if _shows(char) else json.dumps(char)[1:-1] for char in text)


def _shows(char: str) -> bool:
    return char.isascii() or (char.isprintable() and not unicodedata.category(char).startswith("M"))


def complete(document: dict, schemes: Schemes = BEARER_ONLY) -> tuple[dict, dict]:
    """flask-restx's document, minus its noise, with `produces` on every operation, the auth answers of
    every protected one (as ``schemes`` make them) beside its own, an example on every response with a
    body that declares some, and each response's links as `x-links`; and the named examples by (path,
    method, status).

    Swagger 2.0 holds one example per media type: the first named one (the most common case).
    """
    document = copy.deepcopy(document)
    # flask-restx lists every error handler as a reusable response, without a description
    # (invalid in 2.0) and referenced by nothing: the operations document their own errors.
    document.pop("responses", None)
    info = document["info"]
    if "contact" in info:
        info["contact"] = {k: v for k, v in info["contact"].items() if v is not None}
    produces = document.get("produces", ["application/json"])
    named = {}
    for url, path in document.get("paths", {}).items():
        for method, operation in path.items():
            if method == "parameters":
                continue
            operation.setdefault("produces", produces)
            named_examples = operation.pop(EXAMPLES, {})
            resolve_cases(named_examples, schemes)
            if AUTH in operation:
                responses, examples = auth_responses(operation.pop(AUTH)["scopes"], schemes)
                merge_answers(operation["responses"], named_examples, responses, examples)
                document.setdefault("definitions", {}).setdefault(error_model.name, dict(error_model.__schema__))
            for status, examples in named_examples.items():
                response = operation["responses"][status]
                if "schema" in response:  # a body-less answer's examples hold only headers
                    first = next(iter(examples.values()))["value"]
                    response["examples"] = {mime: first for mime in operation["produces"]}
                named[(url, method, status)] = examples
            for status, links in operation.pop(LINKS, {}).items():
                operation["responses"][status]["x-links"] = links
    return document, named


class ContractApi(Api):
    """An ``Api`` whose documents are complete and valid in both OpenAPI versions; ``schemes``: the
    Authorization schemes the app takes, which decide what its protected routes answer."""

    def __init__(self, *args, schemes: Schemes = BEARER_ONLY, **kwargs):
        self.schemes = schemes
        super().__init__(*args, **kwargs)

    def error_router(self, original_handler, e):
        """Every error raised on its routes goes to Flask's own handling, as on any other view, and so to
        the app's one error handler: flask-restx's would answer ``{"message": ...}`` unless the error has
        a ``.data``, and log a traceback for each 5xx, even a 503 that is an outcome. A field mask it cannot
        apply (an ``X-Fields`` header) is the client's error, refused as flask-restx's own handlers said."""
        if isinstance(e, MaskError):
            e = Refusal(400, "invalid_request", f"Mask {'parse ' if isinstance(e, ParseError) else ''}error: {e}")
        return original_handler(e)

    @cached_property
    def _contract(self) -> tuple[dict, dict]:
        """The completed Swagger 2.0 document, and the named examples that only OpenAPI 3 can hold."""
        document = super().__schema__
        return (document, {}) if "error" in document else complete(document, self.schemes)

    @property
    def __schema__(self):
        return self._contract[0]

    def document(self, fmt: str = "swagger") -> dict:
        """The Swagger 2.0 (``swagger``) or OpenAPI 3 (``openapi``) document; needs a request context.

        Converted on each call: subclasses may vary the document by request (e.g. the host in local mode).
        """
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}")
        if fmt == "swagger":
            return self.__schema__
        return add_named_examples(to_openapi3(self.__schema__), self._contract[1])

    def init_app(self, app, **kwargs):
        super().init_app(app, **kwargs)
        app.extensions["contract_api"] = self
        app.add_url_rule("/openapi.json", "openapi", lambda: jsonify(self.document("openapi")))
        app.cli.add_command(spec_command)


@click.command("spec")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="swagger", show_default=True,
              help="Swagger 2.0 (as flask-restx serves it) or its OpenAPI 3.0 conversion.")
@with_appcontext
def spec_command(fmt: str) -> None:
    """Write the API's OpenAPI document to stdout, with sorted keys."""
    api = current_app.extensions["contract_api"]
    # as served at the issuer's own address in local mode (http://127.0.0.1:PORT/), so snapshots are stable
    with current_app.test_request_context("/", base_url=current_auth_settings().issuer):
        click.echo(render(api.document(fmt)), nl=False)
