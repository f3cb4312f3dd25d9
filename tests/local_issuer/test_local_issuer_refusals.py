"""Bad input to the local issuer: standard OAuth2 errors, never a token, never a 500; loopback only."""

from __future__ import annotations

import base64
import http.client
import json
import subprocess
import sys
import time
from urllib.parse import urlencode

import pytest

from app import create_app
from tests.support import ROOT
from tests.support.live_server import live_on_own_port
from tests.support.oauth import authorize, client_of, exchange, get_code, location_params, pkce_pair, redirect_uri
from tests.support.tools import missing, require_tool


@pytest.fixture(scope="module")
def local_server(module_local_server):
    """One local-mode server for this module's requests: refusals change no state worth isolating."""
    return module_local_server


def assert_oauth_error(response, status, error):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error, body
    assert "access_token" not in body


def code_request(server, **overrides):
    _, challenge = pkce_pair()
    params = {"response_type": "code", "client_id": client_of(server).client_id,
              "redirect_uri": redirect_uri(server), "scope": "read:messages", "state": "s",
              "code_challenge": challenge, "code_challenge_method": "S256", **overrides}
    return {k: v for k, v in params.items() if v is not None}


def test_authorize_unknown_client(local_server, http):
    response = authorize(http, local_server, **code_request(local_server, client_id="intruder"))
    assert_oauth_error(response, 400, "invalid_client")


@pytest.mark.parametrize("uri", [
    "https://evil.example/swaggerui/oauth2-redirect.html",
    "http://127.0.0.1:1/swaggerui/oauth2-redirect.html",
    "{url}/swaggerui/oauth2-redirect.html?next=x",
    "{url}/elsewhere",
])
def test_authorize_wrong_redirect_uri_is_not_redirected_to(local_server, http, uri):
    response = authorize(http, local_server,
                         **code_request(local_server, redirect_uri=uri.format(url=local_server.url)))
    assert_oauth_error(response, 400, "invalid_request")
    assert "Location" not in response.headers


def _on_a_rebound_name(server, http, uri: str) -> list:
    """/authorize and /oauth/token asked for under the name evil.example."""
    host = {"Host": f"evil.example:{server.port}"}
    client = client_of(server)
    return [http.get(server.url + "/authorize", params=code_request(server, redirect_uri=uri), headers=host,
                     allow_redirects=False),
            http.post(server.url + "/oauth/token", data={"grant_type": "client_credentials"},
                      auth=(client.client_id, client.client_secret), headers=host)]


def test_authorize_on_a_non_loopback_host_name_is_refused(local_server, make_local_app, http):
    """DNS rebinding: a page on evil.example resolving to 127.0.0.1 must not get codes. Local mode answers
    loopback names only (TRUSTED_HOSTS); where another name is answered, the issuer still refuses it."""
    uri = f"http://evil.example:{local_server.port}/swaggerui/oauth2-redirect.html"
    response = authorize(http, local_server, **code_request(local_server, redirect_uri=uri))
    assert_oauth_error(response, 400, "invalid_request")
    for response in _on_a_rebound_name(local_server, http, uri):
        assert_oauth_error(response, 400, "invalid_request")
        assert "does not answer to" in response.json()["error_description"]

    def build(port):
        return make_local_app(port, TRUSTED_HOSTS="127.0.0.1,evil.example")

    with live_on_own_port(build) as answering:
        for response in _on_a_rebound_name(answering, http, uri.replace(str(local_server.port), str(answering.port))):
            assert_oauth_error(response, 403, "access_denied")


@pytest.mark.parametrize("overrides, description", [
    ({"code_challenge": None, "code_challenge_method": None}, "PKCE is required"),
    ({"code_challenge_method": None}, "S256"),
    ({"code_challenge_method": "plain"}, "S256"),
    ({"code_challenge": "short"}, "code_challenge"),
])
def test_authorize_without_s256_pkce(local_server, http, overrides, description):
    response = authorize(http, local_server, **code_request(local_server, **overrides))
    assert response.status_code == 302  # the redirect page is trusted: the error goes back to it
    params = location_params(response)
    assert params["error"] == "invalid_request"
    assert description in params["error_description"]
    assert "code" not in params


@pytest.mark.parametrize("scope", ["admin:everything", "read:messages\twrite:messages",
                                   "read:messages\u00a0write:messages"])
def test_authorize_unknown_scope(local_server, http, scope):
    """Only the ASCII space separates scopes (RFC 6749 §3.3): with a tab or a no-break space, one unknown scope."""
    params = location_params(authorize(http, local_server, **code_request(local_server, scope=scope)))
    assert params["error"] == "invalid_scope" and "code" not in params


def test_authorize_unsupported_response_type(local_server, http):
    params = location_params(authorize(http, local_server, **code_request(local_server, response_type="token")))
    assert params["error"] == "unsupported_response_type"


def test_token_unknown_client_and_wrong_secret(local_server, http):
    url = local_server.url + "/oauth/token"
    client = client_of(local_server)
    fields = {"grant_type": "client_credentials"}
    assert_oauth_error(http.post(url, data=fields, auth=("intruder", "x" * 20)), 401, "invalid_client")
    assert_oauth_error(http.post(url, data=fields, auth=(client.client_id, "wrong")), 401, "invalid_client")
    assert_oauth_error(http.post(url, json={**fields, "client_id": client.client_id, "client_secret": "wrong"}),
                       401, "invalid_client")
    # client credentials need the secret: a public client gets nothing
    assert_oauth_error(http.post(url, data={**fields, "client_id": client.client_id}), 401, "invalid_client")


@pytest.mark.parametrize("scope", ["admin", "read:messages\nwrite:messages", "read:messages\u3000write:messages"])
def test_token_unknown_scope(local_server, http, scope):
    client = client_of(local_server)
    response = http.post(local_server.url + "/oauth/token", data={"grant_type": "client_credentials", "scope": scope},
                         auth=(client.client_id, client.client_secret))
    assert_oauth_error(response, 400, "invalid_scope")


@pytest.mark.parametrize("body", [{"grant_type": "password", "username": "a", "password": "b"}, {}])
def test_token_unsupported_grant(local_server, http, body):
    assert_oauth_error(http.post(local_server.url + "/oauth/token", data=body), 400, "unsupported_grant_type")


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"text"', b'{"grant_type": 5}'])
def test_token_bad_json_is_an_oauth_error(local_server, http, raw):
    response = http.post(local_server.url + "/oauth/token", data=raw, headers={"Content-Type": "application/json"})
    assert_oauth_error(response, 400, "unsupported_grant_type")


def test_code_is_single_use(local_server, http):
    code, verifier = get_code(http, local_server)
    assert exchange(http, local_server, code, verifier).status_code == 200
    assert_oauth_error(exchange(http, local_server, code, verifier), 400, "invalid_grant")


def test_code_expires(local_server, http):
    codes = local_server.app.extensions["local_issuer"].server.codes
    lifetime, codes.lifetime = codes.lifetime, 0.3
    try:
        code, verifier = get_code(http, local_server)
        time.sleep(0.4)
        assert_oauth_error(exchange(http, local_server, code, verifier), 400, "invalid_grant")
    finally:
        codes.lifetime = lifetime


@pytest.mark.parametrize("change, status, error", [
    ({"code_verifier": None}, 400, "invalid_request"),
    ({"code_verifier": "x" * 50}, 400, "invalid_grant"),
    ({"redirect_uri": "http://127.0.0.1:1/swaggerui/oauth2-redirect.html"}, 400, "invalid_grant"),
    ({"code": "made-up"}, 400, "invalid_grant"),
    ({"client_id": "intruder"}, 400, "invalid_client"),
])
def test_code_exchange_refusals_burn_nothing_useful(local_server, http, change, status, error):
    code, verifier = get_code(http, local_server)
    fields = {"code": code, "verifier": verifier}
    if "code_verifier" in change:
        fields["verifier"] = change.pop("code_verifier")
    if "code" in change:
        fields["code"] = change.pop("code")
    response = exchange(http, local_server, fields["code"], fields["verifier"], **change)
    assert_oauth_error(response, status, error)


PROXY_HEADERS = [
    ("Forwarded", "for=127.0.0.1"), ("Via", "1.1 proxy"), ("X-Forwarded-For", "127.0.0.1"),
    ("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "127.0.0.1"), ("X-Forwarded-Port", "443"),
    ("X-Forwarded-Prefix", "/api"), ("X-Forwarded-Server", "edge"), ("X-Real-IP", "127.0.0.1"),
    ("X-Client-IP", "127.0.0.1"), ("True-Client-IP", "127.0.0.1"), ("CF-Connecting-IP", "127.0.0.1"),
    ("Fastly-Client-IP", "127.0.0.1"), ("X-Cluster-Client-IP", "127.0.0.1"), ("x-forwarded-for", "127.0.0.1"),
    ("VIA", "1.0 squid"), ("cf-connecting-ip", "127.0.0.1"),
]


@pytest.mark.parametrize("name, value", PROXY_HEADERS)
def test_proxied_requests_are_refused(local_server, http, name, value):
    """Any header a proxy, load balancer or CDN adds, in any case (a TCP forwarder adds none: docs/providers.md)."""
    header = {name: value}
    client = client_of(local_server)
    token = http.post(local_server.url + "/oauth/token", data={"grant_type": "client_credentials"},
                      auth=(client.client_id, client.client_secret), headers=header)
    assert_oauth_error(token, 403, "access_denied")
    response = http.get(local_server.url + "/authorize", params=code_request(local_server), headers=header,
                        allow_redirects=False)
    assert_oauth_error(response, 403, "access_denied")


def test_other_headers_pass_the_gate(local_server, http):
    """Headers that merely look alike (Swagger UI sends X-Requested-With) are not a proxy's."""
    client = client_of(local_server)
    headers = {"X-Requested-With": "XMLHttpRequest", "X-Client-Version": "1", "Client-IP-Hint": "x",
               "X-Forwarded": "no dash, no family"}
    token = http.post(local_server.url + "/oauth/token", data={"grant_type": "client_credentials"},
                      auth=(client.client_id, client.client_secret), headers=headers)
    assert token.status_code == 200, token.text
    assert authorize(http, local_server, **code_request(local_server)).status_code == 302


@pytest.mark.parametrize("name", ["grant_type", "scope", "audience", "client_id", "client_secret", "code",
                                  "code_verifier", "redirect_uri", "state"])
def test_token_parameters_sent_twice_are_refused(local_server, http, name):
    """RFC 6749 §3.2: twice in the form body, in the query, across both, in a JSON body, and across JSON and query."""
    client = client_of(local_server)
    fields = {"grant_type": "client_credentials", "client_id": client.client_id,
              "client_secret": client.client_secret, "scope": "read:messages",
              "audience": f"{local_server.url}/api"}
    fields.setdefault(name, "x")  # a parameter this grant ignores still counts
    value = fields[name]
    url = local_server.url + "/oauth/token"
    assert http.post(url, data=fields).status_code == 200  # the same request, each parameter once
    others = {k: v for k, v in fields.items() if k != name}
    members = ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in [*fields.items(), (name, value)])
    for response in (
        http.post(url, data=[*fields.items(), (name, value)]),
        http.post(url, data=others, params=[(name, value), (name, value)]),
        http.post(url, data=fields, params={name: value}),
        http.post(url, json=fields, params={name: value}),
        http.post(url, data="{" + members + "}", headers={"Content-Type": "application/json"}),
    ):
        assert_oauth_error(response, 400, "invalid_request")
        assert "more than once" in response.json()["error_description"]


def test_code_exchange_with_a_repeated_parameter_burns_nothing(local_server, http):
    code, verifier = get_code(http, local_server)
    client = client_of(local_server)
    fields = [("grant_type", "authorization_code"), ("code", code), ("code_verifier", verifier),
              ("client_id", client.client_id), ("redirect_uri", redirect_uri(local_server))]
    for name, value in fields:
        response = http.post(local_server.url + "/oauth/token", data=[*fields, (name, value)])
        assert_oauth_error(response, 400, "invalid_request")
    assert exchange(http, local_server, code, verifier).status_code == 200  # refused before the code was looked up


def test_authorize_parameters_sent_twice_are_refused(local_server, http):
    """RFC 6749 §3.1: refused with a 400 here, never redirected (which redirect_uri would it be?)."""
    params = code_request(local_server)
    for name in ("response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge"):
        response = http.get(local_server.url + "/authorize", params=[*params.items(), (name, params[name])],
                            allow_redirects=False)
        assert_oauth_error(response, 400, "invalid_request")
        assert "Location" not in response.headers


def test_two_client_authentication_methods_are_refused(local_server, http):
    """RFC 6749 §2.3: HTTP Basic and client_secret in the request, at once, is one method too many."""
    client = client_of(local_server)
    url = local_server.url + "/oauth/token"
    basic = (client.client_id, client.client_secret)
    both = [
        http.post(url, data={"grant_type": "client_credentials", "client_secret": client.client_secret}, auth=basic),
        http.post(url, data={"grant_type": "client_credentials", "client_id": client.client_id,
                             "client_secret": client.client_secret}, auth=basic),
        http.post(url, json={"grant_type": "client_credentials", "client_secret": client.client_secret}, auth=basic),
        http.post(url, data={"grant_type": "client_credentials"}, params={"client_secret": client.client_secret},
                  auth=basic),
    ]
    for response in both:
        assert_oauth_error(response, 400, "invalid_request")
        assert "one client authentication method" in response.json()["error_description"]
    # one method at a time works; client_id beside HTTP Basic is not a second method
    assert http.post(url, data={"grant_type": "client_credentials"}, auth=basic).status_code == 200
    assert http.post(url, data={"grant_type": "client_credentials", "client_id": client.client_id},
                     auth=basic).status_code == 200
    assert http.post(url, data={"grant_type": "client_credentials", "client_id": client.client_id,
                                "client_secret": client.client_secret}).status_code == 200


def test_a_client_secret_in_the_url_is_refused(local_server, http):
    """RFC 6749 §2.3.1: client credentials never go in the request URI, even alone and right."""
    client = client_of(local_server)
    url = local_server.url + "/oauth/token"
    secret = {"client_id": client.client_id, "client_secret": client.client_secret}
    for response in (
        http.post(url, data={"grant_type": "client_credentials"}, params=secret),
        http.post(url, json={"grant_type": "client_credentials", "client_id": client.client_id},
                  params={"client_secret": client.client_secret}),
        http.post(url + "?client_secret=", data={"grant_type": "client_credentials", "client_id": client.client_id}),
        http.get(local_server.url + "/authorize", params={**code_request(local_server), "client_secret": "x"},
                 allow_redirects=False),
    ):
        assert_oauth_error(response, 400, "invalid_request")
        assert response.json()["error_description"] == ("The client_secret must not be sent in the URL: send it in "
                                                         "the request body, or use HTTP Basic authentication.")
        assert "Location" not in response.headers
    assert http.post(url, data={"grant_type": "client_credentials", **secret}).status_code == 200  # in the body
    assert http.post(url, params={"client_id": client.client_id}, data={"grant_type": "client_credentials"},
                     auth=(client.client_id, client.client_secret)).status_code == 200  # client_id alone may be


#: The peer of the real-socket half: a private address on the loopback device of a network namespace of the test's
#: own, so not a loopback address, though no packet leaves the namespace.
REMOTE_PEER = "10.200.0.1"


def ask_from_each_peer(instance: str) -> None:
    """Run by ``unshare --net``, in a network namespace of its own: gives REMOTE_PEER to its loopback device, serves
    the local-mode app on 127.0.0.1 as `make run` does, and asks it the same requests from 127.0.0.1 and from
    REMOTE_PEER (only the peer address differs); prints {peer: [[status, error], ...]} as JSON."""
    for command in (["ip", "link", "set", "lo", "up"], ["ip", "address", "add", f"{REMOTE_PEER}/24", "dev", "lo"]):
        subprocess.run(command, check=True)

    def build(port):
        return create_app({"PORT": str(port)}, instance_path=instance)

    answers = {}
    with live_on_own_port(build) as server:
        client = client_of(server)
        token = urlencode({"grant_type": "client_credentials", "client_id": client.client_id,
                           "client_secret": client.client_secret})
        requests = [("POST", "/oauth/token", token), ("GET", "/authorize?" + urlencode(code_request(server)), None),
                    ("GET", "/.well-known/jwks.json", None)]
        for peer in ("127.0.0.1", REMOTE_PEER):
            answers[peer] = []
            for method, path, body in requests:
                connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10,
                                                        source_address=(peer, 0))
                headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                error = json.loads(response.read()).get("error") if response.status >= 400 else None
                answers[peer].append([response.status, error])
                connection.close()
    print(json.dumps(answers))


def test_remote_clients_are_refused(make_local_app, instance):
    # through the WSGI stack, as a remote peer
    client = make_local_app().test_client()
    response = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                           environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert response.status_code == 403 and response.json["error"] == "access_denied"
    assert client.get("/authorize", environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 403
    assert client.get("/.well-known/jwks.json", environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 200
    # and over a real socket, from a non-loopback address to the loopback one the server listens on
    unshare = require_tool("unshare", install="Debian's util-linux")
    require_tool("ip", install="Debian's iproute2")
    probe = subprocess.run([unshare, "--net", "true"], capture_output=True, text=True, timeout=10)
    if probe.returncode != 0:
        missing(f"network namespaces are not permitted here (unshare --net: {probe.stderr.strip()})")
    script = f"import sys; from {__name__} import ask_from_each_peer; ask_from_each_peer(sys.argv[1])"
    result = subprocess.run([unshare, "--net", "--", sys.executable, "-c", script, str(instance)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout.splitlines()[-1])
    assert answers == {"127.0.0.1": [[200, None], [302, None], [200, None]],
                       REMOTE_PEER: [[403, "access_denied"], [403, "access_denied"], [200, None]]}


def test_only_this_apis_audience(local_server, http):
    client = client_of(local_server)
    fields = {"grant_type": "client_credentials", "client_id": client.client_id, "client_secret": client.client_secret}
    url = local_server.url + "/oauth/token"
    assert_oauth_error(http.post(url, json={**fields, "audience": "https://other.example/api"}), 400, "invalid_request")
    response = authorize(http, local_server, **code_request(local_server, audience="https://other.example/api"))
    assert_oauth_error(response, 400, "invalid_request")
    assert http.post(url, json={**fields, "audience": f"{local_server.url}/api"}).status_code == 200


def test_token_with_basic_credentials_that_are_not_utf8(local_server, http):
    credentials = base64.b64encode(b"\xff\xfe:\xff").decode()
    response = http.post(local_server.url + "/oauth/token", data={"grant_type": "client_credentials"},
                         headers={"Authorization": f"Basic {credentials}"})
    assert_oauth_error(response, 401, "invalid_client")
