"""Every example the documents show is what the live API answers in that case: status, body and headers.

The examples come from the served documents, each operation and response in turn, never from a list of
routes. Each named example (OpenAPI 3) is produced by the case of that name and compared with the live
answer; Swagger 2.0's one example per response must be one of them. A response without an example, or
an example that no case produces, fails.
"""

from __future__ import annotations

import re
from fnmatch import fnmatch

import pytest

from security.dpop import access_token_hash
from tests.dpop_proofs import Proofs
from tests.support import free_port, live, operations

JSON = "application/json"
#: The cases a named example can be, and the settings of the app that can answer them (None: the app
#: under test); `temporarily_unavailable` is asked of an app whose issuer is down.
CASES = {"success": None, "unauthorized": None, "invalid_token": None, "insufficient_scope": None,
         "invalid_dpop_proof": None, "invalid_request": None, "use_dpop_nonce": {"AUTH_DPOP_NONCE": "on"},
         "replay_store_unavailable": {"AUTH_DPOP_REPLAY_URL": "redis://127.0.0.1:{closed_port}/0"},
         "temporarily_unavailable": None}
DPOP_CASES = {"invalid_dpop_proof", "invalid_request", "use_dpop_nonce", "replay_store_unavailable"}
#: The headers whose documented examples must match the live ones, present or absent.
CHECKED_HEADERS = ("WWW-Authenticate", "Retry-After")
#: The headers that must be there when documented, and only then (their values change: a fresh nonce).
PRESENT_HEADERS = ("DPoP-Nonce",)
#: Where examples may appear; one anywhere else (e.g. in a model) would be shown without being checked.
EXAMPLE_PLACES = {
    "swagger": ["paths/*/*/responses/*/examples"],
    "openapi": ["paths/*/*/responses/*/content/*/examples", "paths/*/*/responses/*/headers/*/examples"],
}


def request_headers(case: str, operation, tokens, url: str, mode: str) -> dict[str, str]:
    """What to send to ``url`` to get the named case from this operation. A token goes as Bearer, unless
    Bearer is not taken or the case is about DPoP: then it is bound, with a proof."""
    if case == "unauthorized" or (case == "success" and operation.public):
        return {}
    if case == "success":
        claims = {"scope": " ".join(operation.scopes) or None}
    elif case == "invalid_token":
        claims = {"exp": 1}  # expired long ago
    else:  # a valid token with no scope: insufficient_scope, or the issuer is down...
        claims = {}
    if mode != "required" and case not in DPOP_CASES:
        return {"Authorization": f"Bearer {tokens.make(**claims)}"}
    key = Proofs()
    token = tokens.make(jkt=key.key.thumbprint(), **claims)
    if case == "invalid_request":  # the DPoP scheme without a proof
        return {"Authorization": f"DPoP {token}"}
    htu = url + "/elsewhere" if case == "invalid_dpop_proof" else url  # use_dpop_nonce: a proof without a nonce
    return {"Authorization": f"DPoP {token}",
            "DPoP": key.make(htm=operation.method.upper(), htu=htu, ath=access_token_hash(token))}


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


@pytest.mark.parametrize("mode", ["allowed", "off", "required"])
def test_every_documented_example_is_the_live_answer(provider, make_app, tokens, http, mode):
    with live(make_app(AUTH_DPOP=mode)) as server:
        check_every_example(server, provider, make_app, tokens, http, mode)


def check_every_example(server, provider, make_app, tokens, http, mode):
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
        url = base_url + operation.path
        answer = http.request(operation.method, url, headers=request_headers(case, operation, tokens, url, mode))
        documented = (int(status), body, {name: headers.get(name) for name in CHECKED_HEADERS},
                      {name: name in headers for name in PRESENT_HEADERS})
        live_one = (answer.status_code, answer.json(), {name: answer.headers.get(name) for name in CHECKED_HEADERS},
                    {name: name in answer.headers for name in PRESENT_HEADERS})
        if live_one != documented:
            problems.append(f"{operation} {case}: documented {documented}, live {live_one}")

    for case, settings in CASES.items():
        asked = [item for item in to_ask if item[2] == case]
        if not asked or case == "temporarily_unavailable":
            continue
        if settings is None:
            for item in asked:
                compare(server.url, *item)
            continue
        settings = {k: v.format(closed_port=free_port()) for k, v in settings.items()}
        with live(make_app(AUTH_DPOP=mode, **settings)) as other:
            for item in asked:
                compare(other.url, *item)
    provider.down = True  # a fresh app then holds no key and cannot fetch one
    with live(make_app(AUTH_DPOP=mode)) as down:
        for asked in to_ask:
            if asked[2] == "temporarily_unavailable":
                compare(down.url, *asked)

    assert problems == []
    cases = {(str(operation), case) for operation, _, case, _, _ in to_ask}
    for operation in operations(swagger):  # every route shows its success; a protected one, each refusal
        expected = {"success"} if operation.public else {"success", "unauthorized", "invalid_token",
                                                         "temporarily_unavailable"}
        expected |= {"insufficient_scope"} if operation.scopes else set()
        expected |= DPOP_CASES if mode != "off" and not operation.public else set()
        assert {case for name, case in cases if name == str(operation)} == expected, operation
