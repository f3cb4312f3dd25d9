"""The messages routes over real HTTP, on a SQLite file and on a real PostgreSQL server: who may do what,
ETags and preconditions, Idempotency-Key, paging, and every way a request can be refused.

(tests/routes/test_examples.py holds each documented answer to the live one;
tests/serving/test_messages_serving.py the promises under load, through gunicorn.)
"""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import jsonschema_rs
import pytest
import requests

from namespaces.messages import INVISIBLE, STORE, TEXT_MAX_CHARS, TEXT_PATTERN, clean_text
from storage import PAGE_MAX, InvalidInput
from swagger.bodies import MAX_BODY_BYTES
from tests.support.databases import database_of_0001
from tests.support.live_server import live, live_with_store
from tests.support.timing import run_together
from tests.support.tools import require_tool

READ, WRITE, DELETE = "read:messages", "write:messages", "delete:messages"
UNKNOWN_ID = "0" * 32


@pytest.fixture
def api(make_app, migrated_database):
    """The app on a fresh database (each test runs once on SQLite, once on PostgreSQL), over HTTP."""
    with live_with_store(make_app(DATABASE_URL=migrated_database), STORE) as server:
        yield server


@pytest.fixture
def as_user(tokens):
    """Authorization headers for a user (the token's sub) with the given scopes."""

    def headers(sub: str, *scopes: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens.make(sub=sub, scope=' '.join(scopes) or None)}", **extra}

    return headers


def post(http, api, headers, text="Hello", **extra):
    return http.post(api.url + "/api/messages", json={"text": text}, headers={**headers, **extra})


def is_error(answer, status: int, error: str) -> bool:
    body = answer.json()
    return (answer.status_code, body["error"], set(body)) == (status, error, {"error", "error_description"})


def test_the_author_is_the_token_subject_and_the_answer_says_where_it_is(http, api, as_user):
    answer = post(http, api, as_user("alice", WRITE), "  Hello, world!\n")
    assert answer.status_code == 201
    message = answer.json()
    # one issuer: no author_issuer
    assert set(message) == {"id", "text", "author", "created_at", "updated_at", "version"}
    assert (message["text"], message["author"], message["version"]) == ("Hello, world!", "alice", 1)
    assert message["created_at"] == message["updated_at"]
    assert answer.headers["Location"] == f"/api/messages/{message['id']}"
    assert answer.headers["ETag"] == '"1"'
    assert answer.headers["Cache-Control"] == "no-store"
    read = http.get(api.url + answer.headers["Location"], headers=as_user("bob", READ))
    assert (read.status_code, read.json(), read.headers["ETag"]) == (200, message, '"1"')


def test_only_the_author_edits_and_only_the_author_or_a_moderator_deletes(http, api, as_user):
    alice, bob = as_user("alice", READ, WRITE), as_user("bob", READ, WRITE)
    first, second = (post(http, api, alice, text).json()["id"] for text in ("first", "second"))
    url = f"{api.url}/api/messages/{first}"

    bobs_edit = http.patch(url, json={"text": "bob was here"}, headers={**bob, "If-Match": '"1"'})
    assert is_error(bobs_edit, 403, "not_author")
    refused = http.delete(url, headers=bob)
    assert is_error(refused, 403, "not_author")
    assert refused.json()["error_description"] == "Only the message's author, or a moderator, may delete it."
    scopeless = http.delete(url, headers=as_user("carol", READ))
    assert is_error(scopeless, 403, "insufficient_scope")
    assert f'scope="{WRITE} {DELETE}"' in scopeless.headers["WWW-Authenticate"]
    assert http.get(url, headers=alice).json()["version"] == 1  # nothing changed

    assert http.patch(url, json={"text": "mine"}, headers={**alice, "If-Match": '"1"'}).status_code == 200
    assert http.delete(url, headers=alice).status_code == 204
    moderated = http.delete(f"{api.url}/api/messages/{second}", headers=as_user("mod", DELETE))  # no write needed
    assert (moderated.status_code, moderated.content, moderated.headers.get("Content-Type")) == (204, b"", None)
    for message_id in (first, second):
        assert is_error(http.get(f"{api.url}/api/messages/{message_id}", headers=alice), 404, "not_found")
        assert is_error(http.delete(f"{api.url}/api/messages/{message_id}", headers=alice), 404, "not_found")


def test_messages_stored_before_authors_had_an_issuer_are_kept_and_still_their_authors(
        http, make_app, database_url, as_user):
    """The app credits them to its issuer as it migrates; its answers about them are what they were."""
    old = database_of_0001(database_url, ["alice", "bob"], keyed=1)
    app = make_app(DATABASE_URL=database_url)
    try:
        with live(app) as server:
            alice, bob = as_user("alice", READ, WRITE), as_user("bob", READ, WRITE)
            assert http.get(server.url + "/api/messages", headers=alice).json() == {"items": old[::-1],
                                                                                    "next_cursor": None}
            url = f"{server.url}/api/messages/{old[0]['id']}"
            assert is_error(http.patch(url, json={"text": "bob's"}, headers={**bob, "If-Match": '"1"'}), 403,
                            "not_author")
            assert http.patch(url, json={"text": "edited"}, headers={**alice, "If-Match": '"1"'}).status_code == 200
            retried = post(http, server, alice, old[0]["text"], **{"Idempotency-Key": "key-0"})
            assert (retried.status_code, retried.json()) == (201, old[0])  # the first answer, as it was
            assert len(http.get(server.url + "/api/messages", headers=alice).json()["items"]) == 2
    finally:
        app.extensions[STORE].close()


def test_a_token_without_a_subject_reads_but_cannot_own_messages(http, api, tokens):
    headers = {"Authorization": f"Bearer {tokens.make(sub=None, scope=f'{READ} {WRITE}')}"}
    assert is_error(post(http, api, headers), 403, "forbidden")
    assert http.get(api.url + "/api/messages", headers=headers).status_code == 200


def test_etags_and_conditional_requests(http, api, as_user):
    alice = as_user("alice", READ, WRITE)
    url = api.url + post(http, api, alice).headers["Location"]
    for tag in ('"1"', 'W/"1"', '"7", "1"', "*"):
        unchanged = http.get(url, headers={**alice, "If-None-Match": tag})
        assert (unchanged.status_code, unchanged.content, unchanged.headers["ETag"]) == (304, b"", '"1"'), tag
    assert http.get(url, headers={**alice, "If-None-Match": '"2"'}).status_code == 200

    for missing in ({}, {"If-Match": "*"}, {"If-Match": "1"}, {"If-Match": "W/"}):
        assert is_error(http.patch(url, json={"text": "x"}, headers={**alice, **missing}), 428, "precondition_required")
    for stale in ('"2"', 'W/"1"', '"x"', '"2", "3"'):  # If-Match compares strongly: a weak tag never matches
        assert is_error(http.patch(url, json={"text": "x"}, headers={**alice, "If-Match": stale}), 412,
                        "precondition_failed"), stale
    edited = http.patch(url, json={"text": "edited"}, headers={**alice, "If-Match": '"5", "1"'})
    assert (edited.status_code, edited.headers["ETag"], edited.json()["version"]) == (200, '"2"', 2)
    assert edited.json()["updated_at"] > edited.json()["created_at"]
    stale = http.patch(url, json={"text": "lost"}, headers={**alice, "If-Match": '"1"'})
    assert is_error(stale, 412, "precondition_failed")
    assert stale.json()["error_description"] == "The message has changed: its current version is 2."
    assert http.get(url, headers=alice).json()["text"] == "edited"
    assert is_error(http.patch(f"{api.url}/api/messages/{UNKNOWN_ID}", json={"text": "x"},
                               headers={**alice, "If-Match": '"1"'}), 404, "not_found")


def test_concurrent_edits_with_one_etag_exactly_one_wins(http, api, as_user):
    alice = as_user("alice", READ, WRITE)
    url = api.url + post(http, api, alice).headers["Location"]

    def edit(number: int) -> int:
        with requests.Session() as session:
            return session.patch(url, json={"text": f"edit {number}"}, headers={**alice, "If-Match": '"1"'}).status_code

    assert sorted(run_together(12, edit)) == [200] + [412] * 11
    assert http.get(url, headers=alice).json()["version"] == 2


def test_idempotency_keys_belong_to_the_caller(http, api, as_user):
    alice, bob = as_user("alice", READ, WRITE), as_user("bob", READ, WRITE)
    first = post(http, api, alice, "once", **{"Idempotency-Key": "order-42"})
    again = post(http, api, alice, "once", **{"Idempotency-Key": "order-42"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert (again.headers["ETag"], again.headers["Location"]) == (first.headers["ETag"], first.headers["Location"])
    assert is_error(post(http, api, alice, "twice", **{"Idempotency-Key": "order-42"}), 422, "idempotency_key_reused")
    bobs = post(http, api, bob, "once", **{"Idempotency-Key": "order-42"})  # the same key, another caller
    assert bobs.status_code == 201 and bobs.json()["id"] != first.json()["id"] and bobs.json()["author"] == "bob"
    listed = http.get(api.url + "/api/messages", headers=alice).json()["items"]
    assert sorted(m["author"] for m in listed) == ["alice", "bob"]
    for key in ("has space", "é", "x" * 256):
        assert is_error(post(http, api, alice, **{"Idempotency-Key": key}), 400, "invalid_request"), key


def test_an_idempotency_key_is_remembered_for_its_time_to_live_then_makes_a_new_message(
        http, make_app, database_url, as_user):
    ttl = 2  # seconds
    app = make_app(DATABASE_URL=database_url, IDEMPOTENCY_KEY_TTL=ttl)
    try:
        with live(app) as server:
            alice = as_user("alice", READ, WRITE)
            first = post(http, server, alice, "once", **{"Idempotency-Key": "order-7"})
            again = post(http, server, alice, "once", **{"Idempotency-Key": "order-7"})  # at once: inside the TTL
            assert (first.status_code, again.status_code, again.json()) == (201, 201, first.json())
            expires = datetime.fromisoformat(first.json()["created_at"]) + timedelta(seconds=ttl)
            time.sleep(max(0.0, (expires - datetime.now(timezone.utc)).total_seconds()) + 0.1)
            later = post(http, server, alice, "once", **{"Idempotency-Key": "order-7"})
            assert later.status_code == 201 and later.json()["id"] != first.json()["id"]
            assert post(http, server, alice, "once", **{"Idempotency-Key": "order-7"}).json() == later.json()
            listed = http.get(server.url + "/api/messages", headers=alice).json()["items"]
            assert [m["id"] for m in listed] == [later.json()["id"], first.json()["id"]]
    finally:
        app.extensions[STORE].close()


def test_pages_newest_first_with_an_author_filter(http, api, as_user):
    alice, bob = as_user("alice", READ, WRITE), as_user("bob", READ, WRITE)
    posted = [post(http, api, alice if n % 3 else bob, f"message {n}").json()["id"] for n in range(25)]
    seen, cursor, sizes = [], None, []
    while True:
        page = http.get(api.url + "/api/messages", params={"limit": 10, **({"cursor": cursor} if cursor else {})},
                        headers=alice).json()
        sizes.append(len(page["items"]))
        seen += [m["id"] for m in page["items"]]
        if (cursor := page["next_cursor"]) is None:
            break
    assert (seen, sizes) == (posted[::-1], [10, 10, 5])
    assert len(http.get(api.url + "/api/messages", headers=alice).json()["items"]) == 20  # the default limit
    bobs = http.get(api.url + "/api/messages", params={"author": "bob", "limit": PAGE_MAX}, headers=alice).json()
    assert [m["id"] for m in bobs["items"]] == posted[::-3] and bobs["next_cursor"] is None


def test_paging_while_others_post_repeats_and_skips_nothing(http, api, as_user):
    alice = as_user("alice", READ, WRITE)
    before = [post(http, api, alice, f"before {n}").json()["id"] for n in range(9)]
    seen, cursor = [], None
    while True:
        post(http, api, alice, "posted while paging")  # newer than any page: never in the pages that follow
        page = http.get(api.url + "/api/messages", params={"limit": 4, **({"cursor": cursor} if cursor else {})},
                        headers=alice).json()
        seen += [m["id"] for m in page["items"] if m["text"] != "posted while paging"]
        if (cursor := page["next_cursor"]) is None:
            break
    assert seen == before[::-1]


@pytest.mark.parametrize("query", [{"limit": "0"}, {"limit": str(PAGE_MAX + 1)}, {"limit": "ten"}, {"limit": "-1"},
                                   {"limit": ["1", "2"]}, {"cursor": "not-ours"}, {"cursor": ""},
                                   {"cursor": ["a", "b"]},
                                   {"author": ""}, {"author": "nul\x00"}])
def test_bad_list_parameters_are_refused_by_name(http, api, as_user, query):
    answer = http.get(api.url + "/api/messages", params=query, headers=as_user("alice", READ))
    assert is_error(answer, 400, "invalid_request")
    assert next(iter(query)) in answer.json()["error_description"].lower()


TOO_LONG = "x" * (TEXT_MAX_CHARS + 1)


@pytest.mark.parametrize("body, content_type, status, says", [
    ({"text": "hi", "colour": "red"}, "application/json", 400, "unknown field: colour"),
    ({"txt": "hi"}, "application/json", 400, "unknown field: txt"),
    ({}, "application/json", 400, "must have the field text"),
    ({"text": 7}, "application/json", 400, "must be a string"),
    ({"text": " \n\t "}, "application/json", 400, "empty"),
    ({"text": TOO_LONG}, "application/json", 400, f"at most {TEXT_MAX_CHARS} characters"),
    ({"text": "a\x00b"}, "application/json", 400, "control characters"),
    ({"text": "a\u0085b"}, "application/json", 400, "control characters"),
    (["text"], "application/json", 400, "JSON object"),
    (b'{"text": "a", "text": "b"}', "application/json", 400, "more than once"),
    (b'{"text": ', "application/json", 400, "JSON object"),
    (b'{"text": "\\ud800"}', "application/json", 400, "surrogate"),
    (b"\xff\xfe", "application/json", 400, "JSON object"),
    (b"text=hi", "application/x-www-form-urlencoded", 415, "Content-Type: application/json"),
    (b'{"text": "hi"}', "text/plain", 415, "Content-Type: application/json"),
    (b'{"text": "hi"}', None, 415, "Content-Type: application/json"),
    ({"text": "x" * MAX_BODY_BYTES}, "application/json", 413, f"at most {MAX_BODY_BYTES} bytes"),
], ids=["unknown-field", "misspelt", "no-text", "number", "blank", "too-long", "nul", "c1-control", "array",
        "repeated-name", "truncated", "lone-surrogate", "not-utf8", "form", "text-plain", "no-type", "over-16k"])
def test_bad_bodies_are_refused_with_a_clear_error(http, api, as_user, body, content_type, status, says):
    headers = as_user("alice", WRITE)
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    if content_type:
        headers["Content-Type"] = content_type
    for method, path, extra in (("post", "/api/messages", {}),
                                ("patch", f"/api/messages/{UNKNOWN_ID}", {"If-Match": '"1"'})):
        answer = http.request(method, api.url + path, data=data, headers={**headers, **extra})
        assert answer.status_code == status, (method, answer.text)
        assert answer.headers["Content-Type"] == "application/json"
        assert set(answer.json()) == {"error", "error_description"}
        assert says in answer.json()["error_description"], answer.json()
    assert http.get(api.url + "/api/messages", headers=as_user("alice", READ)).json()["items"] == []


@pytest.mark.parametrize("text, status", [("x" * (2 * MAX_BODY_BYTES), 413), ("x" * TEXT_MAX_CHARS, 201)],
                         ids=["over-16k", "within"])
def test_a_chunked_body_is_read_up_to_16_kb(api, as_user, text, status):
    """A chunked body gives no Content-Length to refuse on: reading stops one byte past the limit."""
    parts = urlsplit(api.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        body = json.dumps({"text": text}).encode()
        connection.putrequest("POST", "/api/messages")
        for name, value in {**as_user("alice", WRITE), "Content-Type": "application/json",
                            "Transfer-Encoding": "chunked"}.items():
            connection.putheader(name, value)
        connection.endheaders()
        for start in range(0, len(body), 4096):
            chunk = body[start:start + 4096]
            connection.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        connection.send(b"0\r\n\r\n")
        answer = connection.getresponse()
        assert answer.status == status
        body = json.loads(answer.read())
        assert body["error"] == "request_entity_too_large" if status == 413 else body["text"] == text
    finally:
        connection.close()


def test_text_at_the_limit_is_stored_trimmed(http, api, as_user):
    text = "é" * TEXT_MAX_CHARS
    answer = post(http, api, as_user("alice", WRITE), f"\u3000 {text} \n")
    assert (answer.status_code, answer.json()["text"]) == (201, text)
    multiline = post(http, api, as_user("alice", WRITE), "line one\nline two 👋")
    assert multiline.json()["text"] == "line one\nline two 👋"


#: Texts a reader would see nothing of: each refused, on POST and PATCH.
INVISIBLE_ONLY = {
    "zero-width-space": "\u200b", "zero-width-joiner": "\u200d", "word-joiner": "\u2060", "bom": "\ufeff",
    "soft-hyphen": "\u00ad", "left-to-right-mark": "\u200e", "right-to-left-mark": "\u200f",
    "arabic-letter-mark": "\u061c", "mongolian-vowel-separator": "\u180e", "invisible-times": "\u2062",
    "grapheme-joiner": "\u034f", "variation-selector": "\ufe0f", "hangul-filler": "\u3164",
    "halfwidth-hangul-filler": "\uffa0", "choseong-filler": "\u115f", "jungseong-filler": "\u1160",
    "braille-blank": "\u2800", "tags": "\U000e0068\U000e0069\U000e007f", "variation-selector-17": "\U000e0100",
    "musical-format": "\U0001d173", "no-break-space": "\xa0", "ideographic-space": "\u3000",
    "mixed": " \u200b\u3000\u2060\n\ufeff\u3164 ", "many": "\u200b" * TEXT_MAX_CHARS,
}
#: The bidi embedding, override and isolate controls: refused anywhere in a text.
BIDI_CONTROLS = {"LRE": "\u202a", "RLE": "\u202b", "PDF": "\u202c", "LRO": "\u202d", "RLO": "\u202e",
                 "LRI": "\u2066", "RLI": "\u2067", "FSI": "\u2068", "PDI": "\u2069"}
#: Texts with something to see, invisible characters and right-to-left scripts included: stored as sent.
SEEN = {
    "family": "\U0001f468\u200d\U0001f469\u200d\U0001f467", "heart": "\u2764\ufe0f",
    "skin-tone": "\U0001f44b\U0001f3fd", "flag-of-scotland": "\U0001f3f4\U000e0067\U000e0062\U000e0073"
    "\U000e0063\U000e0074\U000e007f",
    "arabic": "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645",
    "hebrew-with-marks": "\u200f\u05e9\u05dc\u05d5\u05dd \u200eOK\u200e", "arabic-number-sign": "\u0600\u0661\u0662",
    "lone-combining-mark": "\u0301", "ideographic-variant": "\u845b\U000e0100", "soft-hyphen-inside": "co\u00adop",
    "zero-width-space-first": "\u200bhello",
    "invisible-then-visible-at-the-limit": "\u200b" * (TEXT_MAX_CHARS - 1) + "x",
}


def test_text_without_anything_to_see_or_with_a_bidi_control_is_refused(http, api, as_user):
    alice = as_user("alice", READ, WRITE)
    posted = post(http, api, alice, "Hello").json()
    url = f"{api.url}/api/messages/{posted['id']}"
    refused = {**{name: (text, "only white space" if not text.strip() else "at least one visible character")
                  for name, text in INVISIBLE_ONLY.items()},
               **{name: (f"abc {char} def", "bidi embedding, override or isolate controls")
                  for name, char in BIDI_CONTROLS.items()}}
    for name, (text, says) in refused.items():
        for answer in (post(http, api, alice, text),
                       http.patch(url, json={"text": text}, headers={**alice, "If-Match": '"1"'})):
            assert is_error(answer, 400, "invalid_request"), (name, answer.text)
            assert says in answer.json()["error_description"], name
    assert http.get(url, headers=alice).json() == posted  # no edit changed it
    assert [m["id"] for m in http.get(api.url + "/api/messages", headers=alice).json()["items"]] == [posted["id"]]


def test_text_with_something_to_see_is_stored_as_sent(http, api, as_user):
    alice = as_user("alice", READ, WRITE)
    for name, text in SEEN.items():
        posted = post(http, api, alice, text)
        assert (posted.status_code, posted.json()["text"]) == (201, text), name
        url = f"{api.url}/api/messages/{posted.json()['id']}"
        assert http.get(url, headers=alice).json()["text"] == text, name
        edited = http.patch(url, json={"text": text}, headers={**alice, "If-Match": '"1"'})
        assert (edited.status_code, edited.json()["text"], edited.json()["version"]) == (200, text, 2), name


def accepted(text: str) -> bool:
    try:
        clean_text(text)
    except InvalidInput:
        return False
    return True


def every_sort_of_character() -> list[int]:
    """Every character of the Basic Multilingual Plane, a sample of the others, and every one of the
    invisible ranges beyond it with its neighbours; not the surrogates, which cannot travel in UTF-8 (a
    JSON escape of one is refused: lone-surrogate above)."""
    beyond = {*range(0x10000, sys.maxunicode + 1, 997), *(code for first, last in INVISIBLE if first > 0xFFFF
                                                          for code in range(first - 1, last + 2))}
    return [code for code in [*range(0x10000), *sorted(beyond)] if not 0xD800 <= code <= 0xDFFF]


def in_contexts(char: str) -> tuple[str, ...]:
    return char, f"a{char}b", f" {char}", f"{char}\t", f"\u200b{char}"


def test_the_text_rule_in_the_document_is_the_one_the_api_applies():
    """The body schema's `pattern`, as Python reads it (schemathesis draws from it), says exactly what
    clean_text accepts: each sort of character alone, inside, and at either end of a text."""
    pattern = re.compile(TEXT_PATTERN)
    for code in every_sort_of_character():
        for text in in_contexts(chr(code)):
            assert bool(pattern.search(text)) == accepted(text), (hex(code), text)
    for length in (TEXT_MAX_CHARS - 1, TEXT_MAX_CHARS, TEXT_MAX_CHARS + 1):
        for text in ("x" * length, f" {'x' * length} \n", "x" + " " * (length - 2) + "x", "\u200b" * length,
                     "\u200b" * (length - 1) + "x", " " * length + "\u200b", " \u3164" * length + "."):
            assert bool(pattern.search(text)) == accepted(text), length


ECMA_VERDICTS = """
const pattern = JSON.parse(require("fs").readFileSync(0, "utf8"));
const [codes, contexts] = [pattern.codes, pattern.contexts];
const verdicts = {};
for (const flags of ["u", ""]) {
  const expression = new RegExp(pattern.pattern, flags);
  verdicts[flags || "none"] = codes.map(code => contexts.map(([before, after]) =>
    expression.test(before + String.fromCodePoint(code) + after) ? "1" : "0").join("")).join("");
}
process.stdout.write(JSON.stringify(verdicts));
"""


def test_the_pattern_means_the_same_to_ecma_262_and_to_jsonschema_rs():
    """JSON Schema's patterns are ECMA-262 expressions: node compiles this one with the u flag (code points,
    as JSON Schema asks) and without, and jsonschema-rs (schemathesis' validator) reads it too. With the
    u flag and in jsonschema-rs it agrees with clean_text on every sort of character; without, on every
    one but the invisible characters beyond U+FFFF, which it sees as two code units, one of them visible."""
    node = require_tool("node", install="Debian's nodejs; `.ci/run` installs it with npm")
    codes = every_sort_of_character()
    contexts = [(text.split("\x00")[0], text.split("\x00")[1]) for text in in_contexts("\x00")]
    expected = "".join("1" if accepted(text) else "0" for code in codes for text in in_contexts(chr(code)))
    ran = subprocess.run([node, "-e", ECMA_VERDICTS], capture_output=True, text=True, timeout=120,
                         input=json.dumps({"pattern": TEXT_PATTERN, "codes": codes, "contexts": contexts}))
    assert ran.returncode == 0, ran.stderr
    verdicts = json.loads(ran.stdout)
    assert verdicts["u"] == expected
    beyond_invisible = {code for first, last in INVISIBLE if first > 0xFFFF for code in range(first, last + 1)}
    differing = {codes[index // len(contexts)]
                 for index, (a, b) in enumerate(zip(verdicts["none"], expected, strict=True)) if a != b}
    assert differing and differing <= beyond_invisible

    validator = jsonschema_rs.validator_for({"type": "string", "pattern": TEXT_PATTERN})
    rust = "".join("1" if validator.is_valid(text) else "0" for code in codes for text in in_contexts(chr(code)))
    assert rust == expected
