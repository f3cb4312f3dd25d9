"""TRUSTED_HOSTS over real HTTP: a request naming a host the API does not answer to gets 400 invalid_request
before any of the app runs (no route, page, redirect or DPoP proof check sees it), in local mode by default
and with a provider once set; behind a trusted proxy, the host it forwarded is the one that counts. Without
TRUSTED_HOSTS a provider-mode server answers any host, and says so once at start-up."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import pytest
import requests

from app import ConfigError, load_settings
from app.hosts import any_host_note
from app.settings import LOOPBACK_HOSTS
from security.dpop import access_token_hash
from tests.support.dpop_proofs import Proofs
from tests.support.issuers import Provider
from tests.support.live_server import live
from tests.support.servers import dev_server, gunicorn, send_raw
from tests.support.tokens import AUDIENCE, Tokens, rsa_key

SCOPED = "/api/private-scoped"
NOT_OURS = {"error": "invalid_request",
            "error_description": "The request names a host this API does not answer to (TRUSTED_HOSTS)."}
PROVIDER = {"AUTH_ISSUER": "https://login.example/", "AUTH0_AUDIENCE": AUDIENCE}


def send(url: str, host: str | None, method: str = "GET", path: str | None = None, **headers: str):
    """``method`` on ``path`` (default: the URL's) with exactly this Host value, through http.client."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.putrequest(method, path or parts.path or "/", skip_host=True, skip_accept_encoding=True)
        if host is not None:
            connection.putheader("Host", host)
        for name, value in headers.items():
            connection.putheader(name.replace("_", "-"), value)
        if method in ("POST", "PUT", "PATCH"):
            connection.putheader("Content-Length", "0")
        connection.endheaders()
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def assert_not_ours(answer, method: str = "GET") -> None:
    status, headers, body = answer
    assert status == 400, (status, body)
    assert headers["Content-Type"] == "application/json" and headers["Cache-Control"] == "no-store"
    assert not {"Location", "WWW-Authenticate", "Access-Control-Allow-Origin"} & set(headers)
    assert (body == b"") if method == "HEAD" else (json.loads(body) == NOT_OURS)


# -- the setting ----------------------------------------------------------------------------------------

def test_defaults_and_normal_forms():
    assert load_settings({}).trusted_hosts == LOOPBACK_HOSTS == ("127.0.0.1", "localhost", "[::1]")
    assert load_settings(PROVIDER).trusted_hosts is None  # any host
    settings = load_settings({**PROVIDER,
                              "TRUSTED_HOSTS": " API.Example.com, .Example.org:8443,[0:0::1]:80,api.example.com"})
    assert settings.trusted_hosts == ("api.example.com", ".example.org:8443", "[::1]:80")
    # replaces the loopback names
    assert load_settings({"TRUSTED_HOSTS": "10.0.0.5:8080"}).trusted_hosts == ("10.0.0.5:8080",)


@pytest.mark.parametrize("value", [",", "api.example.com/x", "https://api.example.com", "api.example.com:0",
                                   "api.example.com:99999", "api.example.com:x", "user@api.example.com", "::1",
                                   "[::g]", ".10.0.0.5", "b\u00fccher.example", "api example.com", "*"])
def test_bad_values_are_one_line_naming_the_variable(value):
    with pytest.raises(ConfigError) as raised:
        load_settings({**PROVIDER, "TRUSTED_HOSTS": value})
    assert str(raised.value).startswith("configuration error: TRUSTED_HOSTS ") and "\n" not in str(raised.value)


def test_the_start_up_note_is_for_any_host_with_dpop_on():
    assert "TRUSTED_HOSTS is unset" in any_host_note(load_settings(PROVIDER))
    assert "TRUSTED_HOSTS is unset" in any_host_note(load_settings({**PROVIDER, "AUTH_DPOP": "required"}))
    assert any_host_note(load_settings({**PROVIDER, "AUTH_DPOP": "off"})) is None
    assert any_host_note(load_settings({**PROVIDER, "TRUSTED_HOSTS": "api.example.com"})) is None
    assert any_host_note(load_settings({})) is None  # local mode: the loopback names


# -- local mode: the loopback names, any port ----------------------------------------------------------

@pytest.mark.parametrize("host", [
    "evil.example", "evil.example:{port}", "", " ", "203.0.113.9", "203.0.113.9:{port}", "[2001:db8::1]:{port}",
    "127.0.0.2:{port}", "127.1:{port}", "2130706433:{port}", "localhost.evil.example:{port}", "evil.example.localhost",
    "127.0.0.1:99999", "127.0.0.1:0", "127.0.0.1:x", "127.0.0.1:{port}:1", "127.0.0.1:{port}, evil.example",
    "evil.example, 127.0.0.1:{port}", "user@127.0.0.1:{port}", "127.0.0.1:{port}/x", "[::1", "::1",
])
def test_local_mode_answers_loopback_names_only(module_local_server, host):
    assert_not_ours(send(module_local_server.url + "/api/public", host.format(port=module_local_server.port)))


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LocalHost:{port}", "[::1]:{port}",
                                  "[0:0::1]:{port}", "127.0.0.1", "localhost:8080"])
def test_loopback_names_are_answered_on_any_port(module_local_server, host):
    status, _, _ = send(module_local_server.url + "/api/public", host.format(port=module_local_server.port))
    assert status == 200


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "OPTIONS", "DELETE"])
def test_every_route_refuses_before_anything_runs(module_local_server, method):
    """Plain Flask routes, Flask-RESTX ones, 404s, the docs and its redirect page, the local issuer: all refused
    alike, with no page, redirect, CORS header or challenge built from the host."""
    for path in ("/", "/docs", "/swagger.json", "/openapi.json", "/healthz", "/api/public", "/api/private", SCOPED,
                 "/api/messages", "/api//public", "/nowhere", "/authorize?response_type=code", "/oauth/token",
                 "/.well-known/openid-configuration", "/.well-known/jwks.json", "/swaggerui/oauth2-redirect.html",
                 "/swaggerui//oauth2-redirect.html", "/static/docs.js"):
        answer = send(module_local_server.url, f"evil.example:{module_local_server.port}", method, path,
                      Origin="http://evil.example", Access_Control_Request_Method="GET",
                      Authorization="Bearer x.y.z", DPoP="x.y.z")
        assert_not_ours(answer, method)


def test_http_1_1_must_name_a_host_http_1_0_need_not(module_local_server):
    answer = send_raw(module_local_server.url, b"GET /api/public HTTP/1.1\r\nConnection: close\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert json.loads(body) == {"error": "invalid_request",
                                "error_description": "The request names no host: HTTP/1.1 needs a Host header."}
    answer = send_raw(module_local_server.url, b"GET /api/public HTTP/1.0\r\n\r\n")
    assert answer.split(b"\r\n", 1)[0].split(b" ")[1] == b"200"


def _local_token(server, proofs: Proofs) -> str:
    issuer = server.app.extensions["local_issuer"]
    return issuer.mint(subject="local-user", scopes=["read:messages"], jkt=proofs.key.thumbprint())


def _dpop(token: str, proofs: Proofs, htu: str, **headers) -> dict:
    return {"Authorization": f"DPoP {token}", "DPoP": proofs.make(htu=htu, ath=access_token_hash(token)), **headers}


def test_local_mode_refuses_a_proof_made_for_another_host(module_local_server):
    server, proofs = module_local_server, Proofs()
    token = _local_token(server, proofs)
    evil = requests.get(server.url + SCOPED, headers=_dpop(token, proofs, "http://evil.example" + SCOPED,
                                                           Host="evil.example"), timeout=10)
    assert (evil.status_code, evil.json()) == (400, NOT_OURS)
    answer = requests.get(server.url + SCOPED, headers=_dpop(token, proofs, server.url + SCOPED), timeout=10)
    assert answer.status_code == 200


# -- provider mode ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("trusted_hosts", [None, "127.0.0.1"])
def test_a_proof_for_another_host_passes_only_where_any_host_is_answered(make_app, tokens, trusted_hosts):
    """The replay the start-up warning speaks of: a proof made for evil.example (a server taking the same
    tokens), sent here with its name in Host."""
    proofs = Proofs()
    token = tokens.make(jkt=proofs.key.thumbprint(), scope="read:messages")
    with live(make_app(**({"TRUSTED_HOSTS": trusted_hosts} if trusted_hosts else {}))) as server:
        answer = requests.get(server.url + SCOPED, headers=_dpop(token, proofs, "http://evil.example" + SCOPED,
                                                                 Host="evil.example"), timeout=10)
        if trusted_hosts is None:
            assert answer.status_code == 200, answer.text
        else:
            assert (answer.status_code, answer.json()) == (400, NOT_OURS)
            assert "WWW-Authenticate" not in answer.headers


def test_a_refused_host_checks_no_proof(make_app, tokens):
    """The proof of a refused request was never checked: it is not remembered as used, and passes after."""
    proofs = Proofs()
    token = tokens.make(jkt=proofs.key.thumbprint(), scope="read:messages")
    with live(make_app(TRUSTED_HOSTS="127.0.0.1")) as server:
        headers = _dpop(token, proofs, server.url + SCOPED)
        refused = requests.get(server.url + SCOPED, headers={**headers, "Host": "evil.example"}, timeout=10)
        assert (refused.status_code, refused.json()) == (400, NOT_OURS)
        assert requests.get(server.url + SCOPED, headers=headers, timeout=10).status_code == 200


@pytest.mark.parametrize("host, answered", [
    ("example.com", True), ("a.example.com", True), ("a.b.example.com:1234", True), ("EXAMPLE.com", True),
    ("badexample.com", False), ("example.com.evil", False), ("example.org", False),
    ("api.test:8443", True), ("api.test", False), ("api.test:443", False), ("sub.api.test:8443", False),
    ("plain.test", True), ("plain.test:80", True), ("plain.test:8080", False),
    ("[2001:db8::1]:8080", True), ("[2001:0db8:0::1]:8080", True), ("[2001:db8::1]", False),
    ("[2001:db8::2]:8080", False),
    ("10.0.0.5", True), ("10.0.0.5:3010", True), ("10.0.0.6", False), ("a.10.0.0.5", False),
    ("127.0.0.1", False), ("evil.example", False), ("", False),
])
def test_names_ports_and_subdomains(make_app, host, answered):
    """A leading dot: the name and every name under it; a port: that port only (no port in Host: 80 over http)."""
    config = ".example.com,api.test:8443,plain.test:80,[2001:db8::1]:8080,10.0.0.5"
    with live(make_app(TRUSTED_HOSTS=config)) as server:
        answer = send(server.url + "/api/public", host)
        if answered:
            assert answer[0] == 200, answer
        else:
            assert_not_ours(answer)


def test_no_cors_answer_for_another_host(make_app):
    preflight = {"Origin": "http://evil.example", "Access_Control_Request_Method": "GET"}
    with live(make_app(TRUSTED_HOSTS="127.0.0.1", CORS_ORIGINS="http://evil.example")) as server:
        assert "Access-Control-Allow-Origin" in send(server.url + SCOPED, "127.0.0.1", "OPTIONS", **preflight)[1]
        assert_not_ours(send(server.url + SCOPED, "evil.example", "OPTIONS", **preflight), "OPTIONS")


# -- behind a trusted proxy: the forwarded host counts ----------------------------------------------------

PUBLIC_URL = "https://api.example" + SCOPED


@pytest.fixture
def proxied(make_app):
    """One proxy in front, whose X-Forwarded-Host is believed; the API answers to api.example only."""
    with live(make_app(TRUSTED_PROXIES="1", TRUSTED_PROXY_HEADERS="host", TRUSTED_HOSTS="api.example")) as server:
        yield server


def test_the_forwarded_host_is_the_one_checked(proxied, tokens):
    proofs = Proofs()
    token = tokens.make(jkt=proofs.key.thumbprint(), scope="read:messages")
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}

    def get(htu: str, **headers):
        return requests.get(proxied.url + SCOPED, headers=_dpop(token, proofs, htu, **forwarded, **headers), timeout=10)

    assert get(PUBLIC_URL, **{"X-Forwarded-Host": "api.example"}).status_code == 200
    # the proxy forwarded another host: refused, whatever the Host header between proxy and API says
    for headers in ({"X-Forwarded-Host": "evil.example"}, {"X-Forwarded-Host": "evil.example", "Host": "api.example"},
                    {"X-Forwarded-Host": "api.example, evil.example"}):  # a client's copy first, the proxy's last
        answer = get("https://evil.example" + SCOPED, **headers)
        assert (answer.status_code, answer.json()) == (400, NOT_OURS), headers
    # none forwarded, or one that is not plain (ignored): the Host header counts, and 127.0.0.1 is not listed
    for headers in ({}, {"X-Forwarded-Host": "api.example/x"}):
        answer = get(PUBLIC_URL, **headers)
        assert (answer.status_code, answer.json()) == (400, NOT_OURS), headers
    assert get(PUBLIC_URL, Host="api.example").status_code == 200  # a proxy passing the client's Host on


def test_an_unbelieved_forwarded_host_counts_for_nothing(make_app):
    """TRUSTED_PROXIES without TRUSTED_PROXY_HEADERS=host: X-Forwarded-Host can neither admit nor refuse."""
    with live(make_app(TRUSTED_PROXIES="1", TRUSTED_HOSTS="api.example")) as server:
        assert_not_ours(send(server.url + "/api/public", f"127.0.0.1:{server.port}", X_Forwarded_Host="api.example"))
        assert send(server.url + "/api/public", "api.example", X_Forwarded_Host="evil.example")[0] == 200


# -- the real servers (`make run`, `make serve`) with a provider and no TRUSTED_HOSTS ---------------------

@pytest.fixture(scope="module")
def own_provider():
    """A provider of this module's own: the servers below outlive one test."""
    key = rsa_key("hosts-key")
    provider = Provider(keys=[key])
    try:
        yield provider, Tokens(provider.issuer, key)
    finally:
        provider.close()


@pytest.fixture(scope="module", params=["make run", "make serve"])
def any_host_server(request, own_provider, tmp_path_factory):
    """The server as its command starts it (gunicorn with two workers), answering any host, DPoP allowed."""
    logs = tmp_path_factory.mktemp(request.param.replace(" ", "-"))
    serve = dev_server if request.param == "make run" else gunicorn
    with serve(own_provider[0], logs) as url:
        yield url, logs


@pytest.mark.serving
def test_start_up_warns_once_that_any_host_is_answered(any_host_server):
    _, logs = any_host_server
    lines = [line for line in (logs / "stderr.log").read_text().splitlines() if "TRUSTED_HOSTS is unset" in line]
    assert len(lines) == 1, lines  # once per server, not once per worker
    assert "[WARNING]" in lines[0] and "could be replayed here" in lines[0]


@pytest.mark.serving
def test_the_host_of_an_absolute_form_request_line_is_the_one_a_proof_names(any_host_server, own_provider):
    url, _ = any_host_server
    proofs = Proofs()
    token = own_provider[1].make(jkt=proofs.key.thumbprint(), scope="read:messages")

    def answer(target: str, htu: str) -> tuple[int, str | None]:
        request = (f"GET {target} HTTP/1.1\r\nHost: {urlsplit(url).netloc}\r\nAuthorization: DPoP {token}\r\n"
                   f"DPoP: {proofs.make(htu=htu, ath=access_token_hash(token))}\r\nConnection: close\r\n\r\n")
        head, _, body = send_raw(url, request.encode()).partition(b"\r\n\r\n")
        return int(head.split(b" ", 2)[1]), json.loads(body).get("error")

    named = "http://api.example:8080" + SCOPED
    assert answer(named, htu=named) == (200, None)
    assert answer(named, htu=url + SCOPED) == (400, "invalid_dpop_proof")  # the Host header's URL is not the one asked
    assert answer(SCOPED, htu=url + SCOPED) == (200, None)  # origin form: the Host header's
