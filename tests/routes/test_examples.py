"""Every example the documents show is what the live API answers in that case: status, body and headers.

The examples come from the served documents, each operation and response in turn, never from a list of
routes. Each named example (OpenAPI 3) is produced by the case of that name and compared with the live
answer; Swagger 2.0's one example per response must be one of them. A response without an example, or
an example that no case produces, fails.

A case is a request the operation accepts (tests/support/calls.py: its body from the documented request example,
its required parameters from the answers that link to it), sent as it is (``success``) or changed in one
way. Each case starts from the same stored state: one message, the one the list's example shows. Values
the API makes up anew each time (ids, timestamps) must have the documented form; the rest must be equal.
The whole runs once per AUTH_DPOP mode: the auth answers differ, and with DPoP required every request
carries a proof of its own.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatch

import pytest

from namespaces.messages import (
    BIDI_EXAMPLE,
    DELETE_MESSAGES,
    EXAMPLE_AUTHOR,
    EXAMPLE_TEXT,
    INVISIBLE_EXAMPLE,
    STORE,
    Owner,
)
from security.dpop import access_token_hash
from security.step_up import EXAMPLE_STEP_UP
from storage import metadata
from tests.support.calls import Call, Caller, Signer
from tests.support.documents import operations
from tests.support.dpop_proofs import Proofs
from tests.support.live_server import live
from tests.support.processes import free_port

JSON = "application/json"
#: The headers whose documented examples must match the live ones, present or absent.
CHECKED_HEADERS = ("WWW-Authenticate", "Retry-After", "ETag", "Location")
#: The headers that must be there when documented, and only then (their values change: a fresh nonce).
PRESENT_HEADERS = ("DPoP-Nonce",)
#: Where examples may appear; one anywhere else (e.g. in a response model) would be shown without being
#: checked. A request body's property examples are checked by sending them: every case's body is made of them.
EXAMPLE_PLACES = {
    "swagger": ["paths/*/*/responses/*/examples", "definitions/*/properties/*/example",
                "paths/*/*/parameters/*/x-example"],  # tests/docs_page/test_carried_values.py sends those
    "openapi": ["paths/*/*/responses/*/content/*/examples", "paths/*/*/responses/*/headers/*/examples",
                "components/schemas/*/properties/*/example", "paths/*/*/parameters/*/example"],
}
#: Body fields whose value the API makes up for each answer: the live value needs only the documented form.
GENERATED = {"id": re.compile(r"[0-9a-f]{32}"), "created_at": None, "updated_at": None}  # None: an ISO 8601 instant
OTHER_USER = "bob"
UNKNOWN_ID = "0" * 32


@dataclass(frozen=True)
class Auth:
    """How the requests of one run are authorized: Bearer tokens, or DPoP-bound ones with a fresh proof for
    each request (``required``, and the DPoP cases)."""

    tokens: object
    mode: str

    def signer(self, sub: str = EXAMPLE_AUTHOR, scopes=(), dpop: str | None = None, **claims) -> Signer:
        """``dpop``: "proof" (a good one), "wrong_url" (a proof for another URL), "no_proof" (the scheme alone)."""
        claims = {"sub": sub, "scope": " ".join(scopes) or None, **claims}
        dpop = dpop or ("proof" if self.mode == "required" else None)
        if dpop is None:
            token = self.tokens.make(**claims)
            return lambda method, url: {"Authorization": f"Bearer {token}"}
        key = Proofs()
        token = self.tokens.make(jkt=key.key.thumbprint(), **claims)

        def sign(method: str, url: str) -> dict[str, str]:
            if dpop == "no_proof":
                return {"Authorization": f"DPoP {token}"}
            htu = url.split("?", 1)[0] + ("/elsewhere" if dpop == "wrong_url" else "")
            return {"Authorization": f"DPoP {token}",
                    "DPoP": key.make(htm=method, htu=htu, ath=access_token_hash(token))}

        return sign


def replaced_body(call: Call, **fields) -> Call:
    return Call(call.method, call.base_url, call.path, call.headers, {**call.body, **fields}, signer=call.signer)


def twice(call: Call, http, second: Call | None = None):
    """Send ``call``, which must succeed, then ``second`` (or the same again): the answer to the second."""
    first = call.send(http)
    assert first.status_code < 300, first.text
    return (second or call).send(http)


def raw(call: Call, content_type: str, data: bytes) -> Call:
    return Call(call.method, call.base_url, call.path, {**call.headers, "Content-Type": content_type}, data=data,
                signer=call.signer)


#: Each case: how to get it from an operation's accepted call (``call``, made as the example author).
CASES = {
    "success": lambda call, op, auth, http: call.send(http),
    "unauthorized": lambda call, op, auth, http: call.signed_by(None).send(http),
    "invalid_token": lambda call, op, auth, http: call.signed_by(auth.signer(exp=1)).send(http),
    "insufficient_scope": lambda call, op, auth, http: call.signed_by(auth.signer()).send(http),
    "invalid_dpop_proof": lambda call, op, auth, http: call.signed_by(
        auth.signer(scopes=op.scopes, dpop="wrong_url")).send(http),
    "invalid_request": lambda call, op, auth, http: call.signed_by(
        auth.signer(scopes=op.scopes, dpop="no_proof")).send(http),
    "use_dpop_nonce": lambda call, op, auth, http: call.signed_by(
        auth.signer(scopes=op.scopes, dpop="proof")).send(http),
    "replay_store_unavailable": lambda call, op, auth, http: call.signed_by(
        auth.signer(scopes=op.scopes, dpop="proof")).send(http),
    "not_author": lambda call, op, auth, http: call.signed_by(
        auth.signer(OTHER_USER, op.scope_options[0])).send(http),
    "insufficient_user_authentication": lambda call, op, auth, http: call.signed_by(
        auth.signer(OTHER_USER, [DELETE_MESSAGES.name])).send(http),  # a moderator, with no acr or auth_time
    "delegation_refused": lambda call, op, auth, http: call.signed_by(
        auth.signer(OTHER_USER, [DELETE_MESSAGES.name], act={"sub": "agent-1"})).send(http),  # a moderator's agent
    "not_found": lambda call, op, auth, http: Call(call.method, call.base_url,
                                                   re.sub(r"[0-9a-f]{32}", UNKNOWN_ID, call.path),
                                                   call.headers, call.body, signer=call.signer).send(http),
    "not_modified": lambda call, op, auth, http: call.with_headers(
        If_None_Match=call.send(http).headers["ETag"]).send(http),
    "precondition_required": lambda call, op, auth, http: call.with_headers(If_Match=None).send(http),
    "precondition_failed": lambda call, op, auth, http: twice(call, http),  # the second If-Match is stale
    "malformed_json": lambda call, op, auth, http: raw(call, JSON, b'{"text": ').send(http),
    "unknown_field": lambda call, op, auth, http: replaced_body(call, colour="red").send(http),
    "missing_field": lambda call, op, auth, http: Call(call.method, call.base_url, call.path, call.headers, {},
                                                       signer=call.signer).send(http),
    "request_entity_too_large": lambda call, op, auth, http: replaced_body(call, padding="x" * 17_000).send(http),
    "unsupported_media_type": lambda call, op, auth, http: raw(call, "text/plain", b"Hello").send(http),
    "invalid_text": lambda call, op, auth, http: replaced_body(call, text="   ").send(http),
    "invisible_text": lambda call, op, auth, http: replaced_body(call, text=INVISIBLE_EXAMPLE).send(http),
    "bidi_control": lambda call, op, auth, http: replaced_body(call, text=BIDI_EXAMPLE).send(http),
    "invalid_idempotency_key": lambda call, op, auth, http: call.with_headers(Idempotency_Key="has space").send(http),
    "idempotency_key_reused": lambda call, op, auth, http: twice(
        call.with_headers(Idempotency_Key="retry-1"), http,
        replaced_body(call.with_headers(Idempotency_Key="retry-1"), text="Another text")),
    "invalid_limit": lambda call, op, auth, http: call.with_query(limit="0").send(http),
    "invalid_cursor": lambda call, op, auth, http: call.with_query(cursor="not-one-of-ours").send(http),
}
DPOP_CASES = {"invalid_dpop_proof", "invalid_request", "use_dpop_nonce", "replay_store_unavailable"}
#: Cases asked of another app, by the settings it takes on top (the issuer down: see the test).
OTHER_APPS = {"use_dpop_nonce": {"AUTH_DPOP_NONCE": "on"},
              "replay_store_unavailable": {"AUTH_DPOP_REPLAY_URL": "redis://127.0.0.1:{closed_port}/0"},
              "insufficient_user_authentication": {"AUTH_STEP_UP_ACR": ",".join(EXAMPLE_STEP_UP.acr),
                                                   "AUTH_STEP_UP_MAX_AGE": str(EXAMPLE_STEP_UP.max_age)}}
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
    """The stored state every case starts from: one message, by the example author, and no other row of any
    resource (every table on storage's MetaData: a resource added later starts empty too)."""
    store = app.extensions[STORE]
    with store.engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(table.delete())
    store.create(Owner(app.config["SETTINGS"].auth.issuer, EXAMPLE_AUTHOR), EXAMPLE_TEXT)


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
        return [masked(d, v, ids) for d, v in zip(documented, live_one, strict=True)]
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


@pytest.mark.parametrize("mode", ["allowed", "off", "required"])
def test_every_documented_example_is_the_live_answer(provider, make_app, tokens, http, tmp_path, mode):
    with live(make_app(AUTH_DPOP=mode)) as server:
        check_every_example(server, provider, make_app, Auth(tokens, mode), http, tmp_path)


def check_every_example(server, provider, make_app, auth: Auth, http, tmp_path):
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

    def caller(base_url):
        return Caller(swagger, base_url, http, lambda op: {} if op.public else auth.signer(scopes=op.scopes))

    def compare(answer, operation, status, case, body, headers, asked_at=server.url):
        """``asked_at``: the server that answered; the documents name the resource at the one that served them."""
        documented = (int(status), body, {name: headers.get(name) for name in CHECKED_HEADERS},
                      {name: name in headers for name in PRESENT_HEADERS})
        ids = {}
        live_body = masked(body, answer.json(), ids) if answer.content else None
        live_headers = {name: answer.headers.get(name) for name in CHECKED_HEADERS}
        if live_headers["WWW-Authenticate"]:
            live_headers["WWW-Authenticate"] = live_headers["WWW-Authenticate"].replace(asked_at, server.url)
        for live_id, documented_id in ids.items():
            if live_headers["Location"]:
                live_headers["Location"] = live_headers["Location"].replace(live_id, documented_id)
        live_one = (answer.status_code, live_body, live_headers,
                    {name: name in answer.headers for name in PRESENT_HEADERS})
        if live_one != documented:
            problems.append(f"{operation} {case}: documented {documented}, live {live_one}")

    ready = caller(server.url)
    for operation, status, case, body, headers in to_ask:
        if case not in UNAVAILABLE and case not in OTHER_APPS:
            reset(server.app)
            compare(CASES[case](ready.call(operation), operation, auth, http), operation, status, case, body, headers)

    # refusals before the route runs, from apps with other settings: the calls are made on the live one
    for case, settings in OTHER_APPS.items():
        asked = [item for item in to_ask if item[2] == case]
        if asked:
            settings = {name: value.format(closed_port=free_port()) for name, value in settings.items()}
            with live(make_app(AUTH_DPOP=auth.mode, **settings)) as other:
                for operation, *rest in asked:
                    reset(server.app)
                    call = ready.call(operation).at(other.url)
                    compare(CASES[case](call, operation, auth, http), operation, *rest, asked_at=other.url)

    # storage_unavailable: the database locked even for readers, past a short busy timeout
    locked = make_app(AUTH_DPOP=auth.mode, DATABASE_URL=f"sqlite:///{tmp_path / 'locked.db'}",
                      DATABASE_BUSY_TIMEOUT="0.1")
    with live(locked) as server_of_locked:
        calls = []
        for asked in to_ask:
            if asked[2] == "storage_unavailable":
                reset(locked)
                calls.append((caller(server_of_locked.url).call(asked[0]), asked))
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
    with live(make_app(AUTH_DPOP=auth.mode)) as down:
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
        expected |= DPOP_CASES if auth.mode != "off" and not operation.public else set()
        assert expected <= {case for name, case in cases if name == str(operation)}, operation
