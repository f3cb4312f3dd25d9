"""Protected-resource metadata (RFC 9728) over real HTTP: an agent that knows only the API's URL (and its own
client credentials) finds everything else, the document's fields in each mode, the challenges that point to
it, and where the resource identifier comes from (PUBLIC_URL, or the request's trusted host)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
import requests
from requests_oauth2client import BearerToken, OAuth2Client, oauth2_discovery_document_url

from app import ConfigError
from security.resource_metadata import EXAMPLE_METADATA_URL
from tests.support import live, live_on_own_port
from tests.support.oauth import client_of

WELL_KNOWN = "/.well-known/oauth-protected-resource"
RESOURCE_METADATA = re.compile(r'resource_metadata="([^"]*)"')


def resource_metadata_urls(response) -> list[str]:
    """Every ``resource_metadata`` of the answer's challenge, one per scheme it names."""
    return RESOURCE_METADATA.findall(response.headers["WWW-Authenticate"])


def test_an_agent_finds_everything_from_the_api_url_alone(make_local_app):
    """What an agent does (the MCP authorization flow): call, read the challenge, read the resource's metadata,
    discover its authorization server, get a token for that resource, call again."""
    with live_on_own_port(make_local_app) as server:
        api_url = server.url + "/api/private-scoped"
        client_id, client_secret = client_of(server).client_id, client_of(server).client_secret
        with requests.Session() as agent:
            refused = agent.get(api_url, timeout=10)
            assert refused.status_code == 401
            [where, *others] = resource_metadata_urls(refused)
            assert set(others) <= {where}  # the same on every scheme named

            resource = agent.get(where, timeout=10).json()
            assert resource["resource"] == server.url  # RFC 9728 §3.3: the identifier the location was made from
            assert where == resource["resource"] + WELL_KNOWN
            assert "read:messages" in resource["scopes_supported"]
            [issuer] = resource["authorization_servers"]

            oauth = OAuth2Client.from_discovery_endpoint(oauth2_discovery_document_url(issuer), issuer=issuer,
                                                         client_id=client_id, client_secret=client_secret,
                                                         testing=True, session=agent)
            token = oauth.client_credentials(scope="read:messages", resource=resource["resource"])
            assert isinstance(token, BearerToken)

            answered = agent.get(api_url, auth=token, timeout=10)
            assert answered.status_code == 200, answered.text


def test_the_document_names_issuers_scopes_and_how_to_send_tokens(make_app, provider, scopes, http):
    with live(make_app()) as server:
        response = http.get(server.url + WELL_KNOWN)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Cache-Control"] == "no-store"  # it names the request's host: no shared cache keeps it
    assert response.json() == {
        "resource": server.url,
        "authorization_servers": [provider.issuer],
        "scopes_supported": list(scopes),
        "bearer_methods_supported": ["header"],
        "dpop_signing_alg_values_supported": ["ES256", "PS256", "EdDSA", "RS256"],
        "dpop_bound_access_tokens_required": False,
        "resource_name": "Messages API",
        "resource_documentation": server.url + "/docs",
    }


@pytest.mark.parametrize(("mode", "dpop_fields"), [
    ("off", {}),
    ("required", {"dpop_signing_alg_values_supported": ["ES256"], "dpop_bound_access_tokens_required": True}),
])
def test_the_dpop_fields_follow_auth_dpop(make_app, http, mode, dpop_fields):
    with live(make_app(AUTH_DPOP=mode, AUTH_DPOP_ALGORITHMS="ES256")) as server:
        document = http.get(server.url + WELL_KNOWN).json()
    assert {k: v for k, v in document.items() if k.startswith("dpop_")} == dpop_fields


def test_several_issuers_are_all_listed(make_app, provider, http, other_server):
    other = f"http://127.0.0.1:{other_server.port}/"
    with live(make_app(AUTH_ISSUER=f"{provider.issuer},{other}")) as server:
        document = http.get(server.url + WELL_KNOWN).json()
    assert document["authorization_servers"] == [provider.issuer, other]


@pytest.mark.parametrize("mode", ["off", "allowed", "required"])
def test_every_challenge_names_the_metadata_on_each_scheme(make_app, tokens, http, mode):
    with live(make_app(AUTH_DPOP=mode)) as server:
        expected = server.url + WELL_KNOWN
        schemes = 2 if mode == "allowed" else 1
        for headers, status in [({}, 401), ({"Authorization": "Basic eDp5"}, 401),
                                ({"Authorization": f"Bearer {tokens.make(exp=1)}"}, 401),
                                ({"Authorization": f"Bearer {tokens.make(scope='openid')}"}, 403)]:
            response = http.get(server.url + "/api/private-scoped", headers=headers)
            if mode == "required" and status == 403:
                status = 401  # a Bearer token is no credential there
            assert response.status_code == status, response.text
            assert resource_metadata_urls(response) == [expected] * schemes, response.headers["WWW-Authenticate"]


def test_public_url_is_the_identifier_and_its_path_the_inserted_location(make_app, http):
    with live(make_app(PUBLIC_URL="https://api.example.org/messages-api/")) as server:
        refused = http.get(server.url + "/api/private")
        inserted = http.get(server.url + WELL_KNOWN + "/messages-api")
        bare = http.get(server.url + WELL_KNOWN)
        elsewhere = http.get(server.url + WELL_KNOWN + "/another-api")
    assert resource_metadata_urls(refused)[0] == "https://api.example.org/.well-known/oauth-protected-resource/messages-api"
    for response in (inserted, bare):
        assert response.status_code == 200
        assert response.json()["resource"] == "https://api.example.org/messages-api"
        assert response.json()["resource_documentation"] == "https://api.example.org/messages-api/docs"
        assert response.headers["Cache-Control"] == "public, max-age=300"  # the same for every request
    assert elsewhere.status_code == 404
    assert elsewhere.json()["error"] == "not_found"


def test_a_forwarded_host_counts_only_from_a_trusted_proxy(make_app, http):
    forwarded = {"X-Forwarded-Host": "api.example.net", "X-Forwarded-Proto": "https"}
    with live(make_app(TRUSTED_PROXIES="1", TRUSTED_PROXY_HEADERS="host")) as trusting:
        believed = http.get(trusting.url + WELL_KNOWN, headers=forwarded).json()
        refused = http.get(trusting.url + "/api/private", headers=forwarded)
    with live(make_app()) as direct:
        ignored = http.get(direct.url + WELL_KNOWN, headers=forwarded).json()
    assert believed["resource"] == "https://api.example.net"
    assert resource_metadata_urls(refused)[0] == "https://api.example.net" + WELL_KNOWN
    assert ignored["resource"] == direct.url


def test_a_host_of_another_form_is_never_repeated(make_app):
    """With TRUSTED_HOSTS unset any Host is answered; one that could break out of the quoted URL is not used."""
    with live(make_app()) as server:
        environ_host = f"127.0.0.1:{server.port}"
        response = requests.get(server.url + "/api/private", headers={"Host": 'evil"x'}, timeout=10)
    assert response.status_code == 401
    [url, *_] = resource_metadata_urls(response)
    assert urlsplit(url).netloc == environ_host


def test_the_documents_show_the_metadata_url_of_the_request(make_app, http):
    """As the refusals name it at a loopback host or with PUBLIC_URL; another host, even a trusted proxy's, is
    never written into a document (the example's stays)."""
    with live(make_app()) as server, live(make_app(PUBLIC_URL="https://api.example.org/v1")) as public, \
            live(make_app(TRUSTED_PROXIES="1", TRUSTED_PROXY_HEADERS="host")) as proxied:
        for document in ("/swagger.json", "/openapi.json"):
            text = http.get(server.url + document).text
            assert EXAMPLE_METADATA_URL not in text
            assert f'resource_metadata=\\"{server.url}{WELL_KNOWN}\\"' in text
            public_text = http.get(public.url + document).text
            assert f'resource_metadata=\\"https://api.example.org{WELL_KNOWN}/v1\\"' in public_text
            forwarded = http.get(proxied.url + document, headers={"X-Forwarded-Host": "api.example.net"}).text
            assert "api.example.net" not in forwarded
            assert f'resource_metadata=\\"{EXAMPLE_METADATA_URL}\\"' in forwarded


def test_the_local_issuer_mints_only_for_this_api(local_server, http):
    client = client_of(local_server)
    credentials = {"grant_type": "client_credentials", "client_id": client.client_id,
                   "client_secret": client.client_secret, "scope": "read:messages"}
    url = local_server.url + "/oauth/token"
    port = urlsplit(local_server.url).port
    for resource in (local_server.url, f"http://localhost:{port}/", local_server.app.config["SETTINGS"].auth.audience):
        assert http.post(url, data={**credentials, "resource": resource}).status_code == 200, resource
    for resource in ("https://api.example.com", f"http://127.0.0.1:{port}/other", f"http://127.0.0.1:{port + 1}"):
        refused = http.post(url, data={**credentials, "resource": resource})
        assert refused.status_code == 400
        assert refused.json() == {"error": "invalid_target", "error_description":
                                  f"This issuer only issues tokens for this API: {local_server.url}."}


def test_the_local_issuer_is_found_under_both_well_known_names(local_server, http):
    oauth = http.get(local_server.url + "/.well-known/oauth-authorization-server").json()
    assert oauth == http.get(local_server.url + "/.well-known/openid-configuration").json()
    assert oauth["issuer"] == local_server.url + "/"


@pytest.mark.parametrize("value", ["http://api.example.com", "api.example.com", "https://api.example.com/?x=1",
                                   "https://api.example.com/a/../b"])
def test_a_bad_public_url_stops_start_up_naming_it(make_app, value):
    with pytest.raises(ConfigError, match="PUBLIC_URL"):
        make_app(PUBLIC_URL=value)

