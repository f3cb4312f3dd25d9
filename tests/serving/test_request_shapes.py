"""No request shape gets a 5xx, on `make run` (werkzeug's development server) or `make serve` (gunicorn).

Every method on every route, under every odd spelling of its path, answers a documented status; errors
are the JSON Error model, and a private message is never served without a token. Requests go out on raw
sockets, so each path reaches the server exactly as written here (no client normalises it).

Some requests never reach the app: a request line the server cannot parse (a raw NUL or non-ASCII
byte, a line or header over its limits, a TLS handshake) is answered by gunicorn or the development
server itself, with 400, 414 or 431 and its own short HTML page. That is accepted: it is the server's
refusal of the bytes, before any of our code runs. To a request line it cannot take (HTTP/2.0, a TLS
handshake) the development server answers in HTTP/0.9: its error page alone, with no status line.

A request line in absolute form (`GET http://127.0.0.1:3010/api/public HTTP/1.1`) is served as RFC 9112
§3.2.2 says, alike on both servers: its host is the request's host, checked against TRUSTED_HOSTS.
"""

from __future__ import annotations

import http.client
import io
import json
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.processes import free_port, repository_copy, server_process
from tests.support.servers import gunicorn

MESSAGE = "/api/messages/" + "0" * 32
ROUTES = ("/api/public", "/api/private", "/api/private-scoped", "/api/messages", MESSAGE, "/docs", "/swagger.json",
          "/openapi.json", "/healthz", "/authorize", "/oauth/token", "/.well-known/jwks.json",
          "/swaggerui/oauth2-redirect.html", "/")
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "BREW")
PRIVATE = b"Hello from a private endpoint"
APP_STATUSES = {200, 302, 400, 401, 403, 404, 405}  # docs/errors.md
SERVER_REFUSALS = {400, 414, 431}  # the server's own answer to bytes it cannot parse
CONTENT_TYPES = {"application/json", "text/html; charset=utf-8"}  # /docs and the OAuth2 redirect page are HTML
GET_AS_IS = {"/api/public": 200, "/api/private": 401, "/api/private-scoped": 401, "/api/messages": 401, MESSAGE: 401,
             "/docs": 200, "/swagger.json": 200,
             "/openapi.json": 200, "/healthz": 200, "/authorize": 400, "/oauth/token": 405,
             "/.well-known/jwks.json": 200, "/swaggerui/oauth2-redirect.html": 200, "/": 302}


def spellings(route: str) -> dict[bytes, bool]:
    """Odd spellings of ``route``'s path, each mapped to whether the server itself may refuse it (raw bytes
    a strict HTTP parser rejects, or a line over gunicorn's 4 KB limit); the others all reach the app."""
    head, _, tail = route.rpartition("/")
    reach_the_app = [
        route, "/" + route, f"{head}//{tail}", route + "/", route + "//",  # doubled and trailing slashes
        f"{head}%2f{tail}" if head else f"/%2f{tail}", route + "%2F",  # percent-encoded slashes
        "/%2e" + route, "/%2e%2e" + route, route + "/%2e%2e", route + "%2e",  # percent-encoded dots
        "/x/.." + route, route + "/..", "/.." + route,  # dot segments, sent as they are
        route + "/" + "a" * 3000,  # a long segment (within gunicorn's 4 KB request line)
        route + "/%C3%A9t%C3%A9", route + "%FF",  # unicode, and a byte that is not UTF-8, percent-encoded
        route + "%00", route + "%00.json",  # NUL, percent-encoded
        route + "\\", route + "/%5C",  # backslashes
    ]
    may_be_refused = [b"/" + b"a" * 8192, "/été".encode(), b"\xff", b"\x00"]  # appended to the route
    return {**{path.encode(): False for path in reach_the_app},
            **{route.encode() + suffix: True for suffix in may_be_refused}}


@dataclass
class Answer:
    status: int | None  # None: an HTTP/0.9 answer, body only (werkzeug's server, to a line it cannot parse)
    headers: http.client.HTTPMessage | None
    body: bytes  # for HEAD: whatever followed the headers, which must be nothing
    reset: bool = False  # the server reset the connection before any answer

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "") if self.headers else ""


class _Replay:
    """What http.client.HTTPResponse reads from: the bytes one connection received."""

    def __init__(self, data: bytes):
        self.data = data

    def makefile(self, mode):
        return io.BytesIO(self.data)


def exchange(port: int, request: bytes, method: str = "GET") -> Answer:
    """Sends ``request`` as it is on a new connection and reads until the server closes it (the client's
    half-close saves werkzeug's server a wait for more input before it closes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        received = bytearray()
        try:
            sock.sendall(request)
            sock.shutdown(socket.SHUT_WR)
            while chunk := sock.recv(65536):
                received += chunk
        except TimeoutError:
            raise
        except OSError:  # reset, broken pipe, not connected: closed with our bytes unread (gunicorn, past its
            if not received:  # 4 KB line limit)
                return Answer(None, None, b"", reset=True)
    data = bytes(received)
    if not data.startswith(b"HTTP/1."):
        return Answer(None, None, data)
    response = http.client.HTTPResponse(_Replay(data), method=method)
    response.begin()
    if method == "HEAD":
        return Answer(response.status, response.headers, data.split(b"\r\n\r\n", 1)[1])
    return Answer(response.status, response.headers, response.read())


def request_bytes(method: str, target: bytes, port: int, *, headers: dict[str, str] | None = None,
                  body: bytes = b"") -> bytes:
    lines = [f"{method} ".encode() + target + b" HTTP/1.1", f"Host: 127.0.0.1:{port}".encode(),
             b"Connection: close"]
    lines += [f"{name}: {value}".encode() for name, value in (headers or {}).items()]
    if body or method not in ("GET", "HEAD", "OPTIONS"):
        lines.append(f"Content-Length: {len(body)}".encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def is_private_message(body: bytes) -> bool:
    """Whether a body is a private route's answer (the API documents quote it as an example, which is fine)."""
    try:
        document = json.loads(body)
    except ValueError:
        return PRIVATE in body
    return isinstance(document, dict) and str(document.get("message", "")).encode().startswith(PRIVATE)


def problems(answer: Answer, method: str) -> list[str]:
    """What is wrong with an answer of the app's (empty when it is right)."""
    found = []
    if is_private_message(answer.body):
        found.append("a private message without a token")
    if answer.status not in APP_STATUSES:
        return found + [f"status {answer.status}, not a documented one"]
    if method == "HEAD" and answer.body:
        found.append("a body on HEAD")
    if answer.status >= 400:
        if answer.content_type != "application/json":
            found.append(f"an error as {answer.content_type!r}")
        elif method != "HEAD":
            body = json.loads(answer.body)
            if set(body) != {"error", "error_description"} or not all(isinstance(v, str) and v for v in body.values()):
                found.append(f"an error body that is not the Error model: {body}")
    elif answer.status == 302:
        if answer.headers["Location"] != "/docs":  # `/`'s redirect, the only one an unauthenticated request gets
            found.append(f"a redirect to {answer.headers['Location']!r}")
    elif method == "OPTIONS":
        if not answer.headers.get("Allow") or answer.body:
            found.append("OPTIONS without Allow, or with a body")
    elif answer.content_type not in CONTENT_TYPES:
        found.append(f"a 200 as {answer.content_type!r}")
    elif answer.content_type == "application/json" and method != "HEAD":
        json.loads(answer.body)
    return found


@dataclass
class Running:
    kind: str
    url: str
    logs: Path

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def log(self) -> str:
        return (self.logs / "stderr.log").read_text(errors="replace")


@pytest.fixture(scope="module", params=["make run", "make serve"])
def running(request, tmp_path_factory, seeded_instance):
    """One local-mode server of each kind for the whole module, run from a copy of the repository."""
    work = tmp_path_factory.mktemp(request.param.replace(" ", "-"))
    root = repository_copy(work / "repo", instance=seeded_instance)
    logs = work / "logs"
    logs.mkdir()
    if request.param == "make run":
        port = free_port()
        server = server_process([sys.executable, "-m", "app"], port=port, env={"LOG_LEVEL": "INFO"}, cwd=root,
                                logs=logs, stop=signal.SIGINT)
    else:
        server = gunicorn(None, logs, root=root)
    with server as url:
        yield Running(request.param, url, logs)


@pytest.mark.parametrize("method", METHODS)
def test_no_path_spelling_gets_a_5xx(running, method):
    failures = []
    for route in ROUTES:
        for target, may_be_refused in spellings(route).items():
            answer = exchange(running.port, request_bytes(method, target, running.port), method)
            if method == "GET" and target == route.encode():  # the sweep reaches the real routes
                assert answer.status == GET_AS_IS[route], route
            if may_be_refused and answer.reset:
                continue  # dropped by the server before the app, which never saw it
            if may_be_refused and answer.status in SERVER_REFUSALS and answer.content_type.startswith("text/html"):
                assert PRIVATE not in answer.body
                continue  # refused by the server before the app (see the module's docstring)
            failures += [f"{method} {target[:60]!r}: {problem}" for problem in problems(answer, method)]
    assert not failures, f"{len(failures)} bad answers, e.g.:\n" + "\n".join(failures[:20])
    assert "Traceback" not in running.log()


def test_doubled_slashes_are_a_json_404(running):
    """With slash merging on, werkzeug answered these with a redirect, and crashed flask-restx's error router
    (an HTML 500) for methods other than GET and HEAD."""
    for method in ("GET", "POST", "DELETE"):
        for target in (b"/api//public", b"/swaggerui//oauth2-redirect.html", b"/api//private"):
            answer = exchange(running.port, request_bytes(method, target, running.port), method)
            assert answer.status == 404, (method, target)
            assert json.loads(answer.body)["error"] == "not_found"


@pytest.mark.parametrize("opening, closing", [("[", "]"), ('{"a":', "}")])
@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_over_deep_json_is_invalid_request(running, opening, closing, depth):
    body = (opening * depth + "1" + closing * depth).encode()
    answer = exchange(running.port, request_bytes("POST", b"/oauth/token", running.port,
                                                  headers={"Content-Type": "application/json"}, body=body))
    assert answer.status == 400
    assert json.loads(answer.body) == {"error": "invalid_request",
                                       "error_description": "The JSON body is nested too deeply."}
    assert "Traceback" not in running.log()


def absolute_form(target: str, host: str = "evil.example", method: str = "GET") -> bytes:
    """A request line in absolute form, with a Host header that RFC 9112 §3.2.2 says to ignore."""
    return f"{method} {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()


def test_an_absolute_form_request_line_names_the_host(running):
    """Its host replaces Host, and is checked like one (local mode answers loopback names only); the path
    served is its path. Both servers behave alike."""
    port = running.port
    for target in ("http://other.example/api/public", f"http://other.example:{port}/api/public",
                   "http://other.example", f"http://127.0.0.2:{port}/api/public"):
        answer = exchange(port, absolute_form(target, host=f"127.0.0.1:{port}"))
        assert answer.status == 400, target
        assert json.loads(answer.body)["error_description"] == (
            "The request names a host this API does not answer to (TRUSTED_HOSTS).")
        assert "Location" not in answer.headers
    for target, status in ((f"http://127.0.0.1:{port}/api/public", 200), (f"HTTP://LocalHost:{port}/api/private", 401),
                           (f"http://[::1]:{port}/api/public", 200), ("http://localhost/api/public", 200),
                           (f"https://127.0.0.1:{port}/api/public", 200), (f"http://127.0.0.1:{port}/nowhere", 404),
                           (f"http://127.0.0.1:{port}/api/%70ublic?x=1", 200)):
        answer = exchange(port, absolute_form(target))  # Host: evil.example, ignored
        assert answer.status == status, target
        assert problems(answer, "GET") == [], target
    for target in (f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}?x=1"):  # an empty path is "/"
        answer = exchange(port, absolute_form(target))
        assert (answer.status, answer.headers["Location"]) == (302, "/docs"), target
    assert "Traceback" not in running.log()


@pytest.mark.parametrize("target, description", [
    ("ftp://127.0.0.1/api/public", "whose scheme is not http or https"),
    ("javascript://127.0.0.1/api/public", "whose scheme is not http or https"),
    ("http://user@127.0.0.1/api/public", "without a host, or with userinfo"),
    ("http://user:secret@127.0.0.1/api/public", "without a host, or with userinfo"),
    ("http:///api/public", "without a host, or with userinfo"),
])
def test_absolute_forms_that_are_not_plain_http_urls(running, target, description):
    answer = exchange(running.port, absolute_form(target, host=f"127.0.0.1:{running.port}"))
    assert answer.status == 400 and answer.content_type == "application/json"
    body = json.loads(answer.body)
    assert body["error"] == "invalid_request" and description in body["error_description"]


UNPARSABLE = {
    "NUL in the path": b"GET /api/private\x00 HTTP/1.1",
    "raw non-ASCII in the path": "GET /api/privé HTTP/1.1".encode(),
    "8 KB request line": b"GET /api/private/" + b"a" * 8192 + b" HTTP/1.1",
    "70 KB request line": b"GET /api/private/" + b"a" * 70_000 + b" HTTP/1.1",
    "70 KB header line": b"GET /api/private HTTP/1.1\r\nX-Big: " + b"a" * 70_000,
    "200 header lines": b"GET /api/private HTTP/1.1\r\n" + b"\r\n".join(b"X-H%d: 1" % i for i in range(200)),
    "lower-case method": b"get /api/private HTTP/1.1",
    "space in the target": b"GET /api/ private HTTP/1.1",
    "NUL in a header": b"GET /api/private HTTP/1.1\r\nX-A: a\x00b",
    "HTTP/2.0 request line": b"GET /api/private HTTP/2.0",
    "TLS handshake": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40,
}


@pytest.mark.parametrize("case", UNPARSABLE)
def test_bytes_the_server_cannot_parse(running, case):
    """gunicorn refuses each with 400, 414 or 431 and its own HTML page (text/html, no charset: not Flask's).
    Werkzeug's development server is laxer: it passes some to the app (whose answer follows the app's
    rules), and answers a line it cannot take in HTTP/0.9 (its error page alone, no status line)."""
    request = UNPARSABLE[case] + b"\r\nConnection: close\r\n\r\n"
    answer = exchange(running.port, request)
    assert PRIVATE not in answer.body
    if running.kind == "make serve":
        # its refusal page, unless the reset of the connection (our bytes left unread) overtook it
        assert answer.reset or (answer.status in SERVER_REFUSALS and answer.content_type == "text/html"), answer
    elif answer.content_type == "application/json":
        assert problems(answer, "GET") == []
    else:
        assert answer.status in (SERVER_REFUSALS | {None}), answer
    assert "Traceback" not in running.log()
