"""Request logs of both real servers (`make serve`, `make run`): one line per request, nothing a client
sends can break a line or reach a terminal raw, and no query string (secrets included) is logged."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.servers import dev_server, gunicorn, send_raw
from tests.support.timing import eventually


def request(target: bytes, *headers: bytes, version: bytes = b"HTTP/1.1") -> bytes:
    return b"\r\n".join([b"GET " + target + b" " + version, b"Host: 127.0.0.1", *headers,
                         b"Connection: close", b"", b""])


# Requests both servers answer; each must make exactly one access-log line. Their paths are markers.
ANSWERED = {
    "/req-1": request(b"/req-1%0a127.0.0.1%20%22GET%20/forged%20HTTP/1.1%22%20200%2093%200ms%20%22-%22"),
    "/req-2": request(b"/req-2%1b%5b31m%0d%e2%80%a8%e2%80%a9%c2%85%c2%9b%7f"),
    "/req-3": request(b"/req-3", b"User-Agent: evil\x85\x9b\xe2\x80\xa8\tend"),  # C1 CSI, U+2028 in UTF-8
    "/req-4": request(b"/req-4?code=SECRET1&access_token=SECRET2&client_secret=SECRET3"),
}
# Requests at least one of the servers refuses before they reach the app.
REFUSED = [
    request(b"/req-5\x1b[31m?code=SECRET4"),  # a raw ESC in the request line
    request(b"/req-6?client_secret=SECRET5", version=b"HTTP/1.1 junk"),
    request(b"/req-7", b"User-Agent: a\rforged"),  # a bare CR in a header
    request(b"/req-9", b"User-Agent: \x1b[2Jevil"),  # ESC in a header
    request(b"/req-8", b'User-Agent: a', b' 127.0.0.1 "GET /forged HTTP/1.1" 200'),  # obsolete line folding
]
ACCESS_LINE = {  # how each server's access-log lines look, and in which stream
    "make serve": ("stdout.log", re.compile(r'^\S+ "')),
    "make run": ("stderr.log", re.compile(r'werkzeug: \S+ - - \[[^\]]*\] "')),
}
SERVERS = {"make serve": gunicorn, "make run": dev_server}


@pytest.mark.parametrize("server", SERVERS)
def test_one_clean_line_per_request_and_no_query_strings(server, provider, tmp_path):
    stream, pattern = ACCESS_LINE[server]

    def access_lines() -> list[str]:
        return [line for line in (tmp_path / stream).read_text().splitlines() if pattern.search(line)]

    with SERVERS[server](provider, tmp_path) as url:
        for raw in ANSWERED.values():
            assert send_raw(url, raw).startswith(b"HTTP/1.1 404 ")  # answered by the app
        # one line each, plus the health check that waited for the server to start
        assert eventually(lambda: len(access_lines()) == len(ANSWERED) + 1), access_lines()
        for raw in REFUSED:
            send_raw(url, raw)
    lines = [line for name in ("stdout.log", "stderr.log") for line in (tmp_path / name).read_text().split("\n")]

    for marker in ANSWERED:
        assert len([line for line in access_lines() if marker in line]) == 1, marker
    assert len(access_lines()) <= len(ANSWERED) + 1 + len(REFUSED)  # a refused request: one line at most
    assert not [line for line in lines if not line.isprintable()]  # no CR, LF, ESC, C1, U+2028...
    assert not [line for line in lines if "SECRET" in line or "code=" in line]
    # every access line is a request's own: none was forged by what a request carried
    assert all(re.search(r'"GET /(req-\d|healthz)', line) for line in access_lines())


def test_gunicorn_access_line_escapes_every_field(provider, tmp_path):
    with gunicorn(provider, tmp_path) as url:
        for raw in (ANSWERED["/req-2"], ANSWERED["/req-3"]):
            send_raw(url, raw)
    access = _eventually_read(tmp_path / "stdout.log", "/req-3")
    # the path as decoded by the server (UTF-8 bytes read as Latin-1, per WSGI), every control written out
    assert r'"GET /req-2\x1b[31m\x0d' in access and r"â\x80©Â\x85Â\x9b\x7f HTTP/1.1" in access
    assert r'"evil\x85\x9bâ\x80¨\x09end"' in access


def _eventually_read(path: Path, needle: str) -> str:
    assert eventually(lambda: needle in path.read_text())
    return path.read_text()
