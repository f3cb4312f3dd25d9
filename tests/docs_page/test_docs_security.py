"""What the spec and the docs page tell Swagger UI about authorizing, in each mode."""

from __future__ import annotations

import pytest

from app import create_app
from tests.support.documents import docs_settings, operations
from tests.support.live_server import live_on_own_port
from tests.support.tokens import AUDIENCE


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_local_mode_spec_and_page_follow_the_host(local_server, http, scopes, host):
    base = f"http://{host}:{local_server.port}"
    spec = http.get(base + "/swagger.json").json()
    schemes = spec["securityDefinitions"]
    assert list(schemes) == ["bearer", "dpop", "authorization_code", "client_credentials"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "apiKey", "in": "header", "name": "Authorization"}
    assert schemes["dpop"] == {**schemes["dpop"], "type": "apiKey", "in": "header", "name": "Authorization",
                               "x-auth-scheme": "DPoP"}
    assert schemes["authorization_code"]["flow"] == "accessCode"
    assert schemes["authorization_code"]["authorizationUrl"] == base + "/authorize"
    assert schemes["authorization_code"]["tokenUrl"] == base + "/oauth/token"
    assert schemes["client_credentials"]["flow"] == "application"
    assert schemes["client_credentials"]["scopes"] == schemes["authorization_code"]["scopes"] == scopes

    page = http.get(base + "/docs")
    assert page.status_code == 200
    settings = docs_settings(page.text)
    assert settings["oauth2RedirectUrl"] == "/swaggerui/oauth2-redirect.html"  # made absolute by the page
    client = local_server.app.extensions["local_issuer"].client
    oauth = settings["oauth"]
    assert oauth["usePkceWithAuthorizationCodeGrant"] is True
    assert oauth["additionalQueryStringParams"] == {"audience": f"{local_server.url}/api"}
    assert (oauth["clientId"], oauth["clientSecret"]) == (client.client_id, client.client_secret)
    assert "local development issuer" in spec["info"]["description"]


def requirement(options: list[list[str]], flows=("authorization_code", "client_credentials"),
                tokens=("bearer", "dpop")) -> list[dict]:
    """What an operation opened by any one of ``options`` (scope sets) lists: a pasted token (Bearer or
    DPoP), or any OAuth2 flow with any one of them."""
    return [{scheme: []} for scheme in tokens] + [{flow: option} for flow in flows for option in options]


def test_per_operation_security(local_server, http, scopes):
    """Each route lists the scopes it needs in every flow; together they are exactly the declared ones."""
    spec = http.get(local_server.url + "/swagger.json").json()
    needed = set()
    for operation in operations(spec):
        if not operation.public:
            assert operation.spec["security"] == requirement(operation.scope_options), operation
            needed.update(operation.scopes)
    delete = next(o for o in operations(spec) if o.spec["operationId"] == "delete_message")
    assert delete.scope_options == [["write:messages"], ["delete:messages"]]  # either one: OAuth2's "any of"
    assert needed == set(scopes)
    assert any(operation.public for operation in operations(spec))


def test_the_secret_is_not_shown_to_remote_viewers(make_local_app):
    client = make_local_app().test_client()
    page = client.get("/docs", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert "clientSecret" not in docs_settings(page.text)["oauth"]
    refused = client.get("/docs", headers={"Host": "evil.example:3010"})  # a DNS-rebound name: no page at all
    assert (refused.status_code, refused.json["error"]) == (400, "invalid_request")
    rebound = make_local_app(TRUSTED_HOSTS="127.0.0.1,localhost,evil.example").test_client()
    page = rebound.get("/docs", headers={"Host": "evil.example:3010"})  # even where that name is answered
    assert page.status_code == 200 and "clientSecret" not in docs_settings(page.text)["oauth"]
    for proxy_header in ("X-Forwarded-For", "Forwarded", "X-Real-IP", "X-Forwarded-Host"):  # relayed by a proxy
        page = client.get("/docs", headers={"Host": "127.0.0.1:3010", proxy_header: "203.0.113.9"})
        assert "clientSecret" not in docs_settings(page.text)["oauth"], proxy_header
    assert "clientSecret" in docs_settings(client.get("/docs", headers={"Host": "localhost:3010"}).text)["oauth"]


def test_auth0_mode(http, namespaces, scopes, tmp_path):
    config = {"AUTH0_DOMAIN": "tenant.eu.auth0.com", "AUTH0_AUDIENCE": AUDIENCE,
              "SWAGGER_UI_OAUTH_CLIENT_ID": "spa-123"}

    def build(port):
        return create_app({**config, "PORT": str(port)}, instance_path=tmp_path, namespaces=namespaces)

    with live_on_own_port(build) as server:
        spec = http.get(server.url + "/swagger.json").json()
        assert list(spec["securityDefinitions"]) == ["bearer", "dpop", "authorization_code"]
        code = spec["securityDefinitions"]["authorization_code"]
        assert code["authorizationUrl"] == "https://tenant.eu.auth0.com/authorize"
        assert code["tokenUrl"] == "https://tenant.eu.auth0.com/oauth/token"
        assert code["scopes"] == scopes
        for operation in operations(spec):  # no client_credentials flow: the provider's clients are its own
            if not operation.public:
                assert operation.spec["security"] == requirement(operation.scope_options, ["authorization_code"]), (
                    operation)
        settings = docs_settings(http.get(server.url + "/docs").text)
        assert settings["oauth"]["clientId"] == "spa-123"
        assert "clientSecret" not in settings["oauth"]
        assert settings["oauth"]["additionalQueryStringParams"] == {"audience": AUDIENCE}
        assert settings["oauth2RedirectUrl"] == "/swaggerui/oauth2-redirect.html"


def test_oidc_issuer_endpoints_come_from_discovery_lazily(provider, make_app, http):
    app = make_app()
    assert provider.discovery_fetches == 0  # nothing at start-up
    with live_on_own_port(lambda port: app) as server:
        for _ in range(2):
            code = http.get(server.url + "/swagger.json").json()["securityDefinitions"]["authorization_code"]
            assert code["authorizationUrl"] == provider.server.url_for("/authorize")
            assert code["tokenUrl"] == provider.server.url_for("/oauth/token")
        assert provider.discovery_fetches == 1  # cached


def test_oidc_issuer_without_discovery_falls_back_to_well_known_paths(provider, make_app, http):
    provider.down = True
    with live_on_own_port(lambda port: make_app()) as server:
        response = http.get(server.url + "/swagger.json")
        assert response.status_code == 200
        code = response.json()["securityDefinitions"]["authorization_code"]
        assert code["authorizationUrl"] == provider.issuer + "authorize"
        assert code["tokenUrl"] == provider.issuer + "oauth/token"


@pytest.mark.parametrize("mode, tokens", [("off", ["bearer"]), ("allowed", ["bearer", "dpop"]), ("required", ["dpop"])])
def test_the_token_schemes_follow_auth_dpop(make_app, http, mode, tokens):
    with live_on_own_port(lambda port: make_app(AUTH_DPOP=mode)) as server:
        swagger = http.get(server.url + "/swagger.json").json()
        openapi = http.get(server.url + "/openapi.json").json()
    assert [name for name in swagger["securityDefinitions"] if name != "authorization_code"] == tokens
    for operation in operations(swagger):
        if not operation.public:
            assert operation.spec["security"] == requirement(operation.scope_options, ["authorization_code"], tokens)
    if "dpop" in tokens:
        assert openapi["components"]["securitySchemes"]["dpop"] == {
            "type": "http", "scheme": "DPoP", "description": swagger["securityDefinitions"]["dpop"]["description"]}
        assert "DPoP <token>" in swagger["securityDefinitions"]["dpop"]["description"]
