"""Every example the documents show is what the live API answers in that case: status, body and headers.

The examples come from the served documents, each operation and response in turn, never from a list of
routes. Each named example (OpenAPI 3) is produced by the case of that name and compared with the live
answer; Swagger 2.0's one example per response must be one of them. A response without an example, or
an example that no case produces, fails.

A case is a request the operation accepts (tests/calls.py: its body from the documented request example,
its required parameters from the answers that link to it), sent as it is (``success``) or changed in one
way. Each case starts from the same stored state: one message, the one the list's example shows. Values
the API makes up anew each time (ids, timestamps) must have the documented form; the rest must be equal.
"""

from __future__ import annotations

import re
import sqlite3
from datetime import datetime
from fnmatch import fnmatch

from namespaces.messages import EXAMPLE_AUTHOR, EXAMPLE_TEXT, STORE
from tests.calls import Call, Caller
from tests.support import live, operations

JSON = "application/json"
#: The headers whose documented examples must match the live ones, present or absent.
CHECKED_HEADERS = ("WWW-Authenticate", "Retry-After", "ETag", "Location")
#: Where examples may appear; one anywhere else (e.g. in a response model) would be shown without being
#: checked. A request body's property examples are checked by sending them: every case's body is made of them.
EXAMPLE_PLACES = {
    "swagger": ["paths/*/*/responses/*/examples", "definitions/*/properties/*/example"],
    "openapi": ["paths/*/*/responses/*/content/*/examples", "paths/*/*/responses/*/headers/*/examples",
                "components/schemas/*/properties/*/example"],
}
#: Body fields whose value the API makes up for each answer: the live value needs only the documented form.
GENERATED = {"id": re.compile(r"[0-9a-f]{32}"), "created_at": None, "updated_at": None}  # None: an ISO 8601 instant
OTHER_USER = "bob"
UNKNOWN_ID = "0" * 32


def token_headers(tokens, sub: str = EXAMPLE_AUTHOR, scopes=(), **claims) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.make(sub=sub, scope=' '.join(scopes) or None, **claims)}"}


def replaced_body(call: Call, **fields) -> Call:
    return Call(call.method, call.base_url, call.path, call.headers, {**call.body, **fields})


def twice(call: Call, http, second: Call | None = None):
    """Send ``call``, which must succeed, then ``second`` (or the same again): the answer to the second."""
    first = call.send(http)
    assert first.status_code < 300, first.text
    return (second or call).send(http)


#: Each case: how to get it from an operation's accepted call (``call``, sent as the example author).
CASES = {
    "success": lambda call, op, t, http: call.send(http),
    "unauthorized": lambda call, op, t, http: call.with_headers(Authorization=None).send(http),
    "invalid_token": lambda call, op, t, http: call.with_headers(**token_headers(t, exp=1)).send(http),
    "insufficient_scope": lambda call, op, t, http: call.with_headers(**token_headers(t)).send(http),
    "not_author": lambda call, op, t, http: call.with_headers(
        **token_headers(t, OTHER_USER, op.scope_options[0])).send(http),
    "not_found": lambda call, op, t, http: Call(call.method, call.base_url,
                                                re.sub(r"[0-9a-f]{32}", UNKNOWN_ID, call.path),
                                                call.headers, call.body).send(http),
    "not_modified": lambda call, op, t, http: call.with_headers(
        If_None_Match=call.send(http).headers["ETag"]).send(http),
    "precondition_required": lambda call, op, t, http: call.with_headers(If_Match=None).send(http),
    "precondition_failed": lambda call, op, t, http: twice(call, http),  # the second If-Match is stale
    "malformed_json": lambda call, op, t, http: Call(
        call.method, call.base_url, call.path, {**call.headers, "Content-Type": JSON}, data=b'{"text": ').send(http),
    "unknown_field": lambda call, op, t, http: replaced_body(call, colour="red").send(http),
    "missing_field": lambda call, op, t, http: Call(call.method, call.base_url, call.path, call.headers, {}).send(http),
    "request_entity_too_large": lambda call, op, t, http: replaced_body(call, padding="x" * 17_000).send(http),
    "unsupported_media_type": lambda call, op, t, http: Call(
        call.method, call.base_url, call.path, {**call.headers, "Content-Type": "text/plain"},
        data=b"Hello").send(http),
    "invalid_text": lambda call, op, t, http: replaced_body(call, text="   ").send(http),
    "invalid_idempotency_key": lambda call, op, t, http: call.with_headers(Idempotency_Key="has space").send(http),
    "idempotency_key_reused": lambda call, op, t, http: twice(
        call.with_headers(Idempotency_Key="retry-1"), http,
        replaced_body(call.with_headers(Idempotency_Key="retry-1"), text="Another text")),
    "invalid_limit": lambda call, op, t, http: call.with_query(limit="0").send(http),
    "invalid_cursor": lambda call, op, t, http: call.with_query(cursor="not-one-of-ours").send(http),
}
#: Cases asked of another app: one whose issuer is down, one whose database is locked.
UNAVAILABLE = ("temporarily_unavailable", "storage_unavailable")


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
    swagger = http.get(f"{server.url}/swagger.json").json()
    bodies = {p["schema"]["$ref"].rsplit("/", 1)[1] for o in operations(swagger) for p in o.parameters
              if p["in"] == "body"}
    with_examples = {place.split("/")[0] for place in example_places(swagger.get("definitions", {}))}
    assert with_examples <= bodies, "only request bodies may carry property examples (they are sent)"


def reset(app) -> None:
    """The stored state every case starts from: one message, by the example author."""
    store = app.extensions[STORE]
    with store.engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM idempotency_keys")
        connection.exec_driver_sql("DELETE FROM messages")
    store.create(EXAMPLE_AUTHOR, EXAMPLE_TEXT)


def masked(documented, live_one, ids: dict[str, str]):
    """``live_one`` with each generated value (GENERATED) swapped for the documented one when its form is
    right; ``ids`` collects live id -> documented id, to read headers such as Location."""
    if isinstance(documented, dict) and isinstance(live_one, dict):
        result = {}
        for key, value in live_one.items():
            generated = key in GENERATED and isinstance(value, str) and isinstance(documented.get(key), str)
            if generated and _formed(key, value):
                if key == "id":
                    ids[value] = documented[key]
                result[key] = documented[key]
            else:
                result[key] = masked(documented.get(key), value, ids)
        return result
    if isinstance(documented, list) and isinstance(live_one, list) and len(documented) == len(live_one):
        return [masked(d, v, ids) for d, v in zip(documented, live_one)]
    return live_one


def _formed(key: str, value: str) -> bool:
    if GENERATED[key] is not None:
        return GENERATED[key].fullmatch(value) is not None
    try:
        return datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


def documented_cases(operation, openapi) -> list[tuple[str, str, object, dict]]:
    """(status, case, documented body or None, documented headers) for each named example of the operation."""
    found = []
    for status in operation.spec["responses"]:
        twin = openapi["paths"][operation.path][operation.method]["responses"][status]
        media = twin.get("content", {}).get(JSON, {})
        named = {case: example["value"] for case, example in media.get("examples", {}).items()}
        for header in twin.get("headers", {}).values():
            named.update({case: None for case in header.get("examples", {}) if case not in named})
        if not named and "content" not in twin and status.startswith("2"):
            named = {"success": None}  # a body-less success without headers (204): the status says it all
        for case, body in named.items():
            headers = {name: str(header["examples"][case]["value"])
                       for name, header in twin.get("headers", {}).items() if case in header.get("examples", {})}
            found.append((status, case, body, headers))
    return found


def test_every_documented_example_is_the_live_answer(server, provider, make_app, tokens, http, tmp_path):
    swagger = http.get(server.url + "/swagger.json").json()
    openapi = http.get(server.url + "/openapi.json").json()
    problems, to_ask = [], []  # to_ask: (operation, status, case, body, headers) to compare with the live answer

    for operation in operations(swagger):
        for status, response in operation.spec["responses"].items():
            twin = openapi["paths"][operation.path][operation.method]["responses"][status]
            where = f"{operation} {status}"
            if "schema" in response:
                named = twin["content"][JSON].get("examples", {})
                if not named or JSON not in response.get("examples", {}):
                    problems.append(f"{where}: no example")
                elif response["examples"][JSON] not in [example["value"] for example in named.values()]:
                    problems.append(f"{where}: the Swagger 2.0 example is none of the OpenAPI 3 ones")
            for name, header in response.get("headers", {}).items():
                # Swagger 2.0 has no header examples: the description quotes the value of every case
                quoted = set(re.findall(r"`([^`]*)`", header["description"]))
                values = {str(h["value"]) for h in twin["headers"][name].get("examples", {}).values()}
                if not values or quoted != values:
                    problems.append(f"{where}: {name} is described with {quoted}, its examples are {values}")
        for status, case, body, headers in documented_cases(operation, openapi):
            if case not in CASES and case not in UNAVAILABLE:
                problems.append(f"{operation} {status}: example {case!r} is documented, but no case produces it")
            else:
                to_ask.append((operation, status, case, body, headers))

    def caller(app, base_url):
        return Caller(swagger, base_url, http, lambda op: {} if op.public else token_headers(tokens, scopes=op.scopes))

    def compare(answer, operation, status, case, body, headers):
        documented = (int(status), body, {name: headers.get(name) for name in CHECKED_HEADERS})
        ids = {}
        live_body = masked(body, answer.json(), ids) if answer.content else None
        live_headers = {name: answer.headers.get(name) for name in CHECKED_HEADERS}
        for live_id, documented_id in ids.items():
            if live_headers["Location"]:
                live_headers["Location"] = live_headers["Location"].replace(live_id, documented_id)
        live_one = (answer.status_code, live_body, live_headers)
        if live_one != documented:
            problems.append(f"{operation} {case}: documented {documented}, live {live_one}")

    ready = caller(server.app, server.url)
    for operation, status, case, body, headers in to_ask:
        if case not in UNAVAILABLE:
            reset(server.app)
            call = ready.call(operation)
            compare(CASES[case](call, operation, tokens, http), operation, status, case, body, headers)

    # storage_unavailable: the database locked even for readers, past a short busy timeout
    locked = make_app(DATABASE_URL=f"sqlite:///{tmp_path / 'locked.db'}", DATABASE_BUSY_TIMEOUT="0.1")
    with live(locked) as server_of_locked:
        calls = []
        for asked in to_ask:
            if asked[2] == "storage_unavailable":
                reset(locked)
                calls.append((caller(locked, server_of_locked.url).call(asked[0]), asked))
        locked.extensions[STORE].engine.dispose()  # no connection of the app's left open: the holder takes the file
        holder = sqlite3.connect(tmp_path / "locked.db", isolation_level=None)
        try:
            holder.execute("PRAGMA locking_mode = EXCLUSIVE")
            holder.execute("BEGIN EXCLUSIVE")
            for call, asked in calls:
                compare(call.send(http), *asked)
        finally:
            holder.rollback()
            holder.close()

    # temporarily_unavailable: a fresh app holds no key and cannot fetch one (the call is made on the live one)
    provider.down = True
    with live(make_app()) as down:
        for asked in to_ask:
            if asked[2] == "temporarily_unavailable":
                reset(server.app)
                compare(ready.call(asked[0]).at(down.url).send(http), *asked)

    assert problems == []
    cases = {(str(operation), case) for operation, _, case, _, _ in to_ask}
    for operation in operations(swagger):  # every route shows its success; a protected one, each refusal
        expected = {"success"} if operation.public else {"success", "unauthorized", "invalid_token",
                                                         "temporarily_unavailable"}
        expected |= {"insufficient_scope"} if operation.scopes else set()
        assert expected <= {case for name, case in cases if name == str(operation)}, operation
