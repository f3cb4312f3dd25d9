"""Every example the documents show is what the live API answers in that case: status, body and headers.

The examples come from the served documents, each operation and response in turn, never from a list of
routes. Each named example (OpenAPI 3) is produced by the case of that name and compared with the live
answer; Swagger 2.0's one example per response must be one of them. A response without an example, or
an example that no case produces, fails.
"""

from __future__ import annotations

import re
from fnmatch import fnmatch

from tests.support import live, operations

JSON = "application/json"
#: The cases a named example can be; `temporarily_unavailable` is asked of an app whose issuer is down.
CASES = ("success", "unauthorized", "invalid_token", "insufficient_scope", "temporarily_unavailable")
#: The headers whose documented examples must match the live ones, present or absent.
CHECKED_HEADERS = ("WWW-Authenticate", "Retry-After")
#: Where examples may appear; one anywhere else (e.g. in a model) would be shown without being checked.
EXAMPLE_PLACES = {
    "swagger": ["paths/*/*/responses/*/examples"],
    "openapi": ["paths/*/*/responses/*/content/*/examples", "paths/*/*/responses/*/headers/*/examples"],
}


def request_headers(case: str, operation, tokens) -> dict[str, str]:
    """What to send to get the named case from this operation."""
    if case == "unauthorized" or (case == "success" and operation.public):
        return {}
    if case == "success":
        token = tokens.make(scope=" ".join(operation.scopes) or None)
    elif case == "invalid_token":
        token = tokens.make(exp=1)  # expired long ago
    else:  # insufficient_scope: a valid token with no scope; temporarily_unavailable: the issuer is down
        token = tokens.make()
    return {"Authorization": f"Bearer {token}"}


def example_places(node, path=()) -> list[str]:
    """The path of every ``example``/``examples`` key in a document."""
    if isinstance(node, list):
        node = {str(index): value for index, value in enumerate(node)}
    if not isinstance(node, dict):
        return []
    found = ["/".join((*path, key)) for key in node if key in ("example", "examples", "x-example", "x-examples")]
    for key, value in node.items():
        found += example_places(value, (*path, key))
    return found


def test_examples_appear_only_on_responses(server, http):
    for fmt, places in EXAMPLE_PLACES.items():
        document = http.get(f"{server.url}/{fmt}.json").json()
        stray = [p for p in example_places(document) if not any(fnmatch(p, place) for place in places)]
        assert stray == [], f"/{fmt}.json shows examples that are not checked: {stray}"


def test_every_documented_example_is_the_live_answer(server, provider, make_app, tokens, http):
    swagger = http.get(server.url + "/swagger.json").json()
    openapi = http.get(server.url + "/openapi.json").json()
    problems, to_ask = [], []  # to_ask: (operation, status, case, body, headers) to compare with the live answer

    for operation in operations(swagger):
        for status, response in operation.spec["responses"].items():
            twin = openapi["paths"][operation.path][operation.method]["responses"][status]
            named = twin["content"][JSON].get("examples", {})
            where = f"{operation} {status}"
            if not named or JSON not in response.get("examples", {}):
                problems.append(f"{where}: no example")
                continue
            if response["examples"][JSON] not in [example["value"] for example in named.values()]:
                problems.append(f"{where}: the Swagger 2.0 example is none of the OpenAPI 3 ones")
            for case, example in named.items():
                if case not in CASES:
                    problems.append(f"{where}: example {case!r} is documented, but no case produces it")
                    continue
                headers = {name: str(header["examples"][case]["value"])
                           for name, header in twin.get("headers", {}).items() if case in header.get("examples", {})}
                to_ask.append((operation, status, case, example["value"], headers))
            for name, header in response.get("headers", {}).items():
                # Swagger 2.0 has no header examples: the description quotes the value of every case
                quoted = set(re.findall(r"`([^`]*)`", header["description"]))
                values = {str(h["value"]) for h in twin["headers"][name].get("examples", {}).values()}
                if not values or quoted != values:
                    problems.append(f"{where}: {name} is described with {quoted}, its examples are {values}")

    def compare(base_url, operation, status, case, body, headers):
        answer = http.request(operation.method, base_url + operation.path,
                              headers=request_headers(case, operation, tokens))
        documented = (int(status), body, {name: headers.get(name) for name in CHECKED_HEADERS})
        live_one = (answer.status_code, answer.json(), {name: answer.headers.get(name) for name in CHECKED_HEADERS})
        if live_one != documented:
            problems.append(f"{operation} {case}: documented {documented}, live {live_one}")

    for asked in to_ask:
        if asked[2] != "temporarily_unavailable":
            compare(server.url, *asked)
    provider.down = True  # a fresh app then holds no key and cannot fetch one
    with live(make_app()) as down:
        for asked in to_ask:
            if asked[2] == "temporarily_unavailable":
                compare(down.url, *asked)

    assert problems == []
    cases = {(str(operation), case) for operation, _, case, _, _ in to_ask}
    for operation in operations(swagger):  # every route shows its success; a protected one, each refusal
        expected = {"success"} if operation.public else {"success", "unauthorized", "invalid_token",
                                                         "temporarily_unavailable"}
        expected |= {"insufficient_scope"} if operation.scopes else set()
        assert {case for name, case in cases if name == str(operation)} == expected, operation
