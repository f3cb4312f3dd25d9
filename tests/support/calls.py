"""Calling any operation of a served document with a request it accepts, knowing nothing of the API itself.

- the body: the example of each required property of the body's schema (the one the docs show);
- optional parameters: left out;
- a required parameter (a path id, an ``If-Match`` header...): taken from the answer of an operation whose
  response links to this one (the document's ``x-links``), called first the same way.

So a route that needs an existing message gets one from the route that makes them, as a client following
the links would. A test sends the call as it is (the success case) or changed in one way (a refusal).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Union
from urllib.parse import quote, urlencode

from tests.support.documents import Operation, operations

JSON = "application/json"
#: Signs one request: (method, URL) -> the headers that authorize it (a DPoP proof is good for one request only).
Signer = Callable[[str, str], dict]


@dataclass(frozen=True)
class Call:
    """One request, ready to send (and to change first)."""

    method: str
    base_url: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: object = None  # a JSON value, sent as application/json; None: no body
    data: bytes | None = None  # raw bytes instead of ``body``, sent with the headers as they are
    signer: Signer | None = None  # when set, each send adds the headers it makes for that request

    @property
    def url(self) -> str:
        return self.base_url + self.path

    def at(self, base_url: str) -> "Call":
        return replace(self, base_url=base_url)

    def with_headers(self, **changes: str | None) -> "Call":
        """Headers set (or removed, with None); names use ``_`` for ``-`` (``If_Match``). Setting or removing
        Authorization drops the signer: the call is then authorized by these headers alone."""
        headers = dict(self.headers)
        for name, value in changes.items():
            headers.pop(name.replace("_", "-"), None)
            if value is not None:
                headers[name.replace("_", "-")] = value
        return replace(self, headers=headers, signer=None if "Authorization" in changes else self.signer)

    def signed_by(self, signer: Signer | None) -> "Call":
        """The call authorized by ``signer`` instead (None: not at all)."""
        headers = {name: value for name, value in self.headers.items() if name not in ("Authorization", "DPoP")}
        return replace(self, headers=headers, signer=signer)

    def with_query(self, **query: str) -> "Call":
        return replace(self, path=self.path + ("&" if "?" in self.path else "?") + urlencode(query))

    def send(self, http):
        headers = {**self.headers, **(self.signer(self.method, self.url) if self.signer else {})}
        if self.data is not None:
            return http.request(self.method, self.url, headers=headers, data=self.data, timeout=30)
        if self.body is not None:
            return http.request(self.method, self.url, headers=headers, json=self.body, timeout=30)
        return http.request(self.method, self.url, headers=headers, timeout=30)


class Caller:
    """Makes a Call for each operation of ``document``, served at ``base_url``. ``authorization(operation)``
    gives what lets a request in (prerequisite calls use it too): headers, or a Signer."""

    def __init__(self, document: dict, base_url: str, http,
                 authorization: Callable[[Operation], Union[dict[str, str], Signer]]):
        self.document = document
        self.base_url = base_url
        self.http = http
        self.authorization = authorization
        self.operations = operations(document)

    def call(self, operation: Operation) -> Call:
        return self._call(operation, depth=0)

    def _call(self, operation: Operation, depth: int) -> Call:
        needed = [(p["in"], p["name"]) for p in operation.parameters if p["in"] != "body" and p.get("required")]
        values = self._from_links(operation, needed, depth) if needed else {}
        path = operation.path.format(**{name: quote(str(value), safe="") for (where, name), value in values.items()
                                        if where == "path"})
        query = {name: value for (where, name), value in values.items() if where == "query"}
        authorization = self.authorization(operation)
        signer = authorization if callable(authorization) else None
        headers = {**({} if signer else authorization),
                   **{name: value for (where, name), value in values.items() if where == "header"}}
        return Call(operation.method.upper(), self.base_url, path + (f"?{urlencode(query)}" if query else ""),
                    headers, self._body(operation), signer=signer)

    def _body(self, operation: Operation):
        """The body made of each required property's documented example; None when the operation takes none."""
        body = next((p for p in operation.parameters if p["in"] == "body"), None)
        if body is None:
            return None
        schema = self._resolve(body["schema"])
        missing = [name for name in schema.get("required", []) if "example" not in schema["properties"][name]]
        assert not missing, f"{operation}: the body's {missing} have no example to send"
        return {name: schema["properties"][name]["example"] for name in schema.get("required", [])}

    def _resolve(self, schema: dict) -> dict:
        ref = schema.get("$ref")
        return self.document["definitions"][ref.rsplit("/", 1)[1]] if ref else schema

    def _from_links(self, target: Operation, needed: list[tuple[str, str]], depth: int) -> dict:
        """The needed (location, name) values, from the first linked operation that gives them all."""
        assert depth < 4, f"no chain of links ends at {target}"
        for source in self.operations:
            if source == target:
                continue
            for status, response in source.spec["responses"].items():
                for link in response.get("x-links", {}).values():
                    if link.get("operationId") != target.spec["operationId"]:
                        continue
                    given = {_where(key, target): expression for key, expression in link["parameters"].items()}
                    if not set(needed) <= set(given):
                        continue
                    answer = self._call(source, depth + 1).send(self.http)
                    assert answer.status_code == int(status), f"{source} answered {answer.status_code}: {answer.text}"
                    return {key: evaluate(given[key], answer) for key in needed}
        raise AssertionError(f"no operation links to {target} with its required parameters {needed}")


def _where(key: str, target: Operation) -> tuple[str, str]:
    """A link's parameter key (``name`` or ``location.name``) as (location, name)."""
    location, _, name = key.rpartition(".")
    if location:
        return location, name
    (found,) = [p["in"] for p in target.parameters if p["name"] == name]
    return found, name


def evaluate(expression: str, answer) -> str:
    """An OpenAPI runtime expression on an answer: ``$response.body#/pointer`` or ``$response.header.Name``."""
    if expression.startswith("$response.header."):
        return answer.headers[expression.removeprefix("$response.header.")]
    assert expression.startswith("$response.body#/"), expression
    value = answer.json()
    for step in expression.removeprefix("$response.body#/").split("/"):
        value = value[int(step)] if isinstance(value, list) else value[step.replace("~1", "/").replace("~0", "~")]
    return value
