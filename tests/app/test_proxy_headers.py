"""Forwarded headers: which are believed, and that none can make a page or redirect of ours point off-site."""

from __future__ import annotations

import json
import logging
import re
from urllib.parse import urljoin, urlsplit

import pytest

from app import create_app, load_settings
from app.proxies import trust_proxies
from tests.support.documents import docs_settings
from tests.support.http import raw_get
from tests.support.issuers import Provider
from tests.support.live_server import live, live_on_own_port
from tests.support.tokens import AUDIENCE

FORWARDED = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https",
             "X-Forwarded-Host": "api.example.com", "X-Forwarded-Port": "8443", "X-Forwarded-Prefix": "/messages"}
ALL_TRUSTED = {"TRUSTED_PROXIES": "1", "TRUSTED_PROXY_HEADERS": "host,port,prefix"}
# The attacker's names among the hosts the API answers to (TRUSTED_HOSTS), so that their requests reach the app
EVIL_HOSTS_TOO = {"TRUSTED_HOSTS": "127.0.0.1,.example"}

HOSTILE_PREFIXES = [
    "//evil.example", "///evil.example", "/\\evil.example", "\\\\evil.example", "https://evil.example",
    "evil.example", "/ok//evil.example", "/%2F%2Fevil.example", "/%5Cevil.example", "/%2e%2e/evil",
    "/../evil", "/./evil", "/evil\x1b[31m", "/evil\x00", "/\t/evil.example", "/evil\x7f", "/évil",
    "/evil<script>", '/evil"onload=', "/evil space",
]
HOSTILE_HOSTS = ["evil.example/x", "evil.example\\x", "a@evil.example", "evil.example:99999", "evil.example:x",
                 "evil example", "evil.example\x1b", "//evil.example", "evil.example#", "", "[1:2]"]


def _environ_echo(environ, start_response):
    """A WSGI app that answers with what the proxy middleware left in the environ."""
    seen = {key: environ.get(key) for key in ("REMOTE_ADDR", "wsgi.url_scheme", "HTTP_HOST", "SCRIPT_NAME")}
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(seen).encode()]


def _seen(env: dict, headers: dict) -> dict:
    with live(trust_proxies(_environ_echo, load_settings(env))) as server:
        status, _, body = raw_get(server.url + "/", {"Host": f"127.0.0.1:{server.port}", **headers})
        assert status == 200
        return {**json.loads(body), "port": server.port}


def test_no_proxy_no_forwarded_value():
    seen = _seen({}, FORWARDED)
    assert seen == {"REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http",
                    "HTTP_HOST": f"127.0.0.1:{seen['port']}", "SCRIPT_NAME": "", "port": seen["port"]}


def test_trusted_proxies_believe_for_and_proto_only():
    seen = _seen({"TRUSTED_PROXIES": "1"}, FORWARDED)
    assert (seen["REMOTE_ADDR"], seen["wsgi.url_scheme"]) == ("203.0.113.7", "https")
    assert (seen["HTTP_HOST"], seen["SCRIPT_NAME"]) == (f"127.0.0.1:{seen['port']}", "")


@pytest.mark.parametrize("names, host, prefix", [
    ("host", "api.example.com", ""),
    ("port", "127.0.0.1:8443", ""),
    ("prefix", None, "/messages"),
    ("host, PORT,prefix", "api.example.com:8443", "/messages"),
])
def test_host_port_and_prefix_only_when_named(names, host, prefix):
    seen = _seen({"TRUSTED_PROXIES": "1", "TRUSTED_PROXY_HEADERS": names}, FORWARDED)
    assert seen["HTTP_HOST"] == (host or f"127.0.0.1:{seen['port']}")
    assert seen["SCRIPT_NAME"] == prefix


def test_the_value_the_trusted_proxy_added_counts():
    """A client's own copy comes first in the list; with one proxy, only the last entry is believed."""
    seen = _seen(ALL_TRUSTED, {"X-Forwarded-Prefix": "//evil.example, /messages", "X-Forwarded-Proto": "gopher, https"})
    assert (seen["SCRIPT_NAME"], seen["wsgi.url_scheme"]) == ("/messages", "https")


@pytest.mark.parametrize("prefix", ["/", "/messages/", "/a/b-c/d_e.f~g/", "/v1;x=1/@me"])
def test_plain_prefixes_are_believed(prefix):
    assert _seen(ALL_TRUSTED, {"X-Forwarded-Prefix": prefix})["SCRIPT_NAME"] == prefix.rstrip("/")


@pytest.mark.parametrize("prefix", HOSTILE_PREFIXES)
def test_other_prefixes_are_ignored(prefix):
    assert _seen(ALL_TRUSTED, {"X-Forwarded-Prefix": prefix})["SCRIPT_NAME"] == ""


@pytest.mark.parametrize("host", HOSTILE_HOSTS)
def test_hosts_that_are_not_plain_are_ignored(host):
    seen = _seen(ALL_TRUSTED, {"X-Forwarded-Host": host})
    assert seen["HTTP_HOST"] == f"127.0.0.1:{seen['port']}"


def test_a_scheme_other_than_http_or_https_is_ignored():
    assert _seen({"TRUSTED_PROXIES": "1"}, {"X-Forwarded-Proto": "javascript"})["wsgi.url_scheme"] == "http"


def test_ignored_values_are_logged_once_per_reason(caplog):
    caplog.set_level(logging.WARNING, logger="app.proxies")
    with live(trust_proxies(_environ_echo, load_settings(ALL_TRUSTED))) as server:
        for n in range(20):  # twenty different values, two reasons
            raw_get(server.url + "/", {"X-Forwarded-Prefix": f"//evil{n}.example"})
            raw_get(server.url + "/", {"X-Forwarded-Prefix": f"/evil{n}\x1b[2J"})
    lines = [r.getMessage() for r in caplog.records if r.name == "app.proxies"]
    assert len(lines) == 2, lines
    assert "X-Forwarded-Prefix ignored because it contains '//': '//evil0.example'" in lines[0]
    assert "control character" in lines[1] and "\x1b" not in lines[1]  # escaped, never written raw


# --- the whole app, over real HTTP: nothing we answer points off-site ---

@pytest.fixture(scope="module", params=["provider", "local"])
def trusting_server(request, module_instance, namespaces, signing_key):
    """The app with every forwarded header trusted and the attacker's hosts answered, as the worst
    configuration to attack (by default local mode answers loopback names only: tests/app/test_trusted_hosts.py).
    One in each mode for the whole module: its tests only read."""
    config = {**ALL_TRUSTED, **EVIL_HOSTS_TOO}
    if request.param == "provider":
        provider = Provider(keys=[signing_key])
        config = {**config, "AUTH_ISSUER": provider.issuer, "AUTH0_AUDIENCE": AUDIENCE}
        try:
            with live(create_app(config, instance_path=module_instance, namespaces=namespaces)) as server:
                yield server
        finally:
            provider.close()
    else:
        def build(port):
            return create_app({**config, "PORT": str(port)}, instance_path=module_instance, namespaces=namespaces)

        with live_on_own_port(build) as server:
            yield server


def _on_site(base: str, url: str) -> bool:
    """A URL that, read by a browser at ``base``, stays at ``base``'s origin."""
    if "\\" in url or any(ord(c) < 0x20 for c in url):
        return False
    return urlsplit(urljoin(base, url))[:2] == urlsplit(base)[:2]


def _assert_on_site(server, headers: dict) -> None:
    status, answer, _ = raw_get(server.url + "/", headers)
    assert status == 302 and answer["Location"].startswith("/")
    for path in ("/", "/api//public", "/swaggerui//oauth2-redirect.html"):  # the last two: werkzeug's own redirects
        status, answer, _ = raw_get(server.url + path, headers)
        assert status < 500 and _on_site(server.url, answer.get("Location", "")), (path, answer.get("Location"))

    status, answer, body = raw_get(server.url + "/docs", headers)
    page = body.decode()
    assert status == 200 and "evil" not in page
    links = re.findall(r'(?:src|href)="([^"]*)"', page)
    settings = docs_settings(page)
    assert len(links) >= 6
    for url in [*links, settings["specsUrl"], settings["oauth2RedirectUrl"]]:
        assert _on_site(server.url, url), url

    for document in ("/swagger.json", "/openapi.json"):
        status, _, body = raw_get(server.url + document, headers)
        assert status == 200 and b"evil" not in body, document


@pytest.mark.parametrize("prefix", HOSTILE_PREFIXES)
def test_no_prefix_moves_a_page_or_redirect_off_site(trusting_server, prefix):
    _assert_on_site(trusting_server, {"X-Forwarded-Prefix": prefix})


@pytest.mark.parametrize("host", ["evil.example", "evil.example:443", *HOSTILE_HOSTS])
def test_no_host_moves_a_page_or_redirect_off_site(trusting_server, host):
    """Even a well-formed forwarded host, trusted, is not written into our pages: they use paths only."""
    _assert_on_site(trusting_server, {"X-Forwarded-Host": host, "X-Forwarded-Port": "1"})


def test_nor_does_the_host_header_itself(server):
    _assert_on_site(server, {"Host": "evil.example"})


@pytest.mark.parametrize("env, prefix", [({}, ""), ({"TRUSTED_PROXIES": "1"}, ""), (ALL_TRUSTED, "/messages")])
def test_a_plain_prefix_is_used_only_when_trusted(make_app, env, prefix):
    with live(make_app(**env)) as server:
        assert raw_get(server.url + "/", FORWARDED)[1]["Location"] == f"{prefix}/docs"
        settings = docs_settings(raw_get(server.url + "/docs", FORWARDED)[2].decode())
        assert settings["specsUrl"] == f"{prefix}/openapi.json"
        assert settings["documents"] == {"OpenAPI 3.0": f"{prefix}/openapi.json",
                                         "Swagger 2.0": f"{prefix}/swagger.json"}
        assert settings["oauth2RedirectUrl"] == f"{prefix}/swaggerui/oauth2-redirect.html"
        assert json.loads(raw_get(server.url + "/swagger.json", FORWARDED)[2])["basePath"] == (prefix or "/")
