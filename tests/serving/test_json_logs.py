"""LOG_FORMAT=json and request ids, on both real servers: every line either writes is one JSON object (gunicorn's
start and stop lines included), a request's id is on its answer, its access line and its refusal line, and a
hostile id never reaches a log. In text mode the id ends the lines."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import requests

from tests.support import eventually, live
from tests.support.servers import dev_server, gunicorn, send_raw

TRACE = "lb-7f3a:trace/42"  # visible ASCII, as a load balancer may send it
FRESH = re.compile(r"[0-9a-f]{32}")
HOSTILE = {  # ids that are not kept: each is replaced by a fresh one and its marker is never logged
    "too long": "HOSTILE1" + "x" * 121,
    "a space": "HOSTILE2 id",
    "a tab": "HOSTILE3\tid",
    "not ASCII": "HOSTILE4-é",
}
SERVERS = {"make serve": gunicorn, "make run": dev_server}


def raw_get(path: str, *headers: str) -> bytes:
    return "\r\n".join([f"GET {path} HTTP/1.1", "Host: 127.0.0.1", *headers, "Connection: close", "", ""]).encode(
        "latin-1")


def lines(logs: Path) -> list[str]:
    return [line for name in ("stdout.log", "stderr.log") for line in (logs / name).read_text().splitlines()]


def records(logs: Path) -> list[dict]:
    """Every line either stream holds, each parsed as one JSON object (a line that is not fails the test)."""
    parsed = []
    for line in lines(logs):
        record = json.loads(line)
        assert isinstance(record, dict), line
        assert {"time", "level", "logger", "message"} <= set(record), line
        parsed.append(record)
    return parsed


def exchange(url: str, tokens) -> None:
    """The requests every server gets: a refusal with the load balancer's id, hostile ids, and a path with
    control characters and secrets in its query string."""
    response = requests.get(url + "/api/private", headers={"Authorization": f"Bearer {tokens.make(exp=1)}",
                                                           "X-Request-ID": TRACE}, timeout=10)
    assert (response.status_code, response.headers["X-Request-ID"]) == (401, TRACE)
    for name, hostile in HOSTILE.items():
        answer = send_raw(url, raw_get("/api/public", f"X-Request-ID: {hostile}"))
        assert answer.startswith(b"HTTP/1.1 200 "), name
        sent_back = re.search(rb"\r\nX-Request-ID: ([^\r]*)\r\n", answer).group(1).decode()
        assert FRESH.fullmatch(sent_back), name
    answer = send_raw(url, raw_get("/esc%1b%5b31m%0a?code=SECRET1&client_secret=SECRET2"))
    assert answer.startswith(b"HTTP/1.1 404 ")


@pytest.mark.parametrize("server", SERVERS)
def test_every_line_is_json_and_carries_the_request_id(server, provider, tokens, tmp_path):
    with SERVERS[server](provider, tmp_path, LOG_FORMAT="json") as url:
        exchange(url, tokens)
        assert eventually(lambda: "/esc" in (tmp_path / "stdout.log").read_text()
                          + (tmp_path / "stderr.log").read_text())
    found = records(tmp_path)

    access = [record for record in found if record.get("request_id") == TRACE and "route" in record]
    refused = [record for record in found if record["logger"] == "security.refused"]
    assert len(access) == 1 and len(refused) == 1, found
    assert {key: access[0][key] for key in ("method", "route", "path", "status", "client")} == {
        "method": "GET", "route": "/api/private", "path": "/api/private", "status": 401, "client": "127.0.0.1"}
    assert isinstance(access[0]["duration_ms"], float) and access[0]["user_agent"].startswith("python-requests/")
    assert {key: refused[0][key] for key in ("request_id", "reason", "kid", "iss", "status", "level")} == {
        "request_id": TRACE, "reason": "expired", "kid": "key-1", "iss": provider.issuer, "status": 401,
        "level": "INFO"}

    unmatched = [record for record in found if record.get("path", "").startswith("/esc")]
    assert [record["path"] for record in unmatched] == ["/esc\x1b[31m\n"]  # escaped in the line, whole in the field
    assert unmatched[0]["route"] == "<unmatched>" and unmatched[0]["status"] == 404
    everything = "\n".join(lines(tmp_path))
    assert "SECRET" not in everything and "code=" not in everything
    assert "HOSTILE" not in everything
    assert everything.isascii() and all(line.isprintable() for line in lines(tmp_path))


def test_gunicorn_start_and_stop_lines_are_json(provider, tmp_path):
    with gunicorn(provider, tmp_path, LOG_FORMAT="json") as url:
        assert requests.get(url + "/healthz", timeout=10).status_code == 200
    messages = [record["message"] for record in records(tmp_path) if record["logger"] == "gunicorn.error"]
    for line in ("Starting gunicorn ", "Listening at: ", "Booting worker with pid: ", "Handling signal: term",
                 "Shutting down: Master"):
        assert any(message.startswith(line) for message in messages), (line, messages)


@pytest.mark.parametrize("server", SERVERS)
def test_text_lines_end_with_the_request_id(server, provider, tokens, tmp_path):
    with SERVERS[server](provider, tmp_path) as url:
        exchange(url, tokens)
    written = lines(tmp_path)
    refused = [line for line in written if "security.refused" in line]
    assert len(refused) == 1 and refused[0].endswith(f" request_id={TRACE}"), refused
    access = [line for line in written if '"GET /api/private HTTP/1.1" 401' in line]
    assert len(access) == 1 and access[0].endswith(f" {TRACE}"), access
    everything = "\n".join(written)
    assert "HOSTILE" not in everything and "SECRET" not in everything


def test_every_answer_carries_its_id_and_browsers_may_read_it(make_app):
    origin = "https://app.example"
    with live(make_app(CORS_ORIGINS=origin, TRUSTED_HOSTS="127.0.0.1")) as server:
        answer = requests.get(server.url + "/api/private", headers={"Origin": origin, "X-Request-ID": TRACE},
                              timeout=10)
        assert (answer.status_code, answer.headers["X-Request-ID"]) == (401, TRACE)
        assert "X-Request-ID" in answer.headers["Access-Control-Expose-Headers"]
        refused = requests.get(server.url + "/api/public", headers={"Host": "elsewhere.example"}, timeout=10)
        assert refused.status_code == 400  # refused before the app runs, by the trusted-hosts check
        assert FRESH.fullmatch(refused.headers["X-Request-ID"])
