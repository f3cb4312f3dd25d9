"""The embedded local issuer: key on disk, endpoints, flows, and one validation path, over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import stat

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt

from app import ConfigError, create_app
from local_issuer.signing_key import KEY_FILE, SECRET_FILE
from storage.engine import SQLITE_FILE
from tests.support.calls import Caller
from tests.support.documents import operations
from tests.support.oauth import client_of, exchange, get_code
from tests.support.tokens import b64url

SCOPED = "/api/private-scoped"


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_key_and_secret_are_created_private_and_reused(tmp_path):
    instance = tmp_path / "fresh"
    first = create_app({}, instance_path=instance)
    for name in (KEY_FILE, SECRET_FILE):
        assert stat.S_IMODE(os.stat(instance / name).st_mode) == 0o600
    issuer_files = [p.name for p in instance.iterdir() if not p.name.startswith(SQLITE_FILE)]  # not the database's
    assert sorted(issuer_files) == sorted([KEY_FILE, SECRET_FILE])  # no temporaries left
    second = create_app({}, instance_path=instance)
    one, two = first.extensions["local_issuer"], second.extensions["local_issuer"]
    assert one.key.kid == two.key.kid
    assert one.client.client_secret == two.client.client_secret


def test_kid_is_the_rfc7638_thumbprint(make_local_app, instance):
    make_local_app()
    public = serialization.load_pem_private_key((instance / KEY_FILE).read_bytes(), None).public_key().public_numbers()

    def member(number):
        return b64url(number.to_bytes((number.bit_length() + 7) // 8, "big"))

    canonical = json.dumps({"e": member(public.e), "kty": "RSA", "n": member(public.n)}, separators=(",", ":"))
    thumbprint = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
    assert make_local_app().extensions["local_issuer"].key.kid == thumbprint


@pytest.mark.parametrize("damage", ["garbage", "flipped", "truncated", "small-key"])
def test_a_tampered_key_file_stops_start_up_naming_it(make_local_app, instance, damage):
    make_local_app()
    path = instance / KEY_FILE
    pem = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"not a key\n")
    elif damage == "flipped":
        lines = pem.splitlines()
        middle = bytearray(lines[5])
        middle[10] = ord("A") if middle[10] != ord("A") else ord("B")
        lines[5] = bytes(middle)
        path.write_bytes(b"\n".join(lines) + b"\n")
    elif damage == "truncated":
        path.write_bytes(pem[: len(pem) // 2])
    else:
        small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
        path.write_bytes(small.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()))
    with pytest.raises(ConfigError) as raised:
        make_local_app()
    assert str(path) in str(raised.value)
    assert "\n" not in str(raised.value)


def test_configured_client_secret_wins(tmp_path):
    instance = tmp_path / "fresh"
    app = create_app({"LOCAL_CLIENT_ID": "my-client", "LOCAL_CLIENT_SECRET": "s3cret-s3cret-s3cret"},
                     instance_path=instance)
    client = app.extensions["local_issuer"].client
    assert (client.client_id, client.client_secret) == ("my-client", "s3cret-s3cret-s3cret")
    assert not (instance / SECRET_FILE).exists()


def test_discovery_and_public_only_jwks(local_server, http, scopes):
    issuer = f"{local_server.url}/"
    document = http.get(issuer + ".well-known/openid-configuration").json()
    assert document["issuer"] == issuer
    assert document["authorization_endpoint"] == issuer + "authorize"
    assert document["token_endpoint"] == issuer + "oauth/token"
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["scopes_supported"] == list(scopes)
    jwks = http.get(document["jwks_uri"]).json()
    (key,) = jwks["keys"]
    assert set(key) == {"kty", "n", "e", "kid", "use", "alg"}
    assert key["kid"] == local_server.app.extensions["local_issuer"].key.kid


@pytest.mark.parametrize("body", ["form", "json", "basic"])
def test_client_credentials(local_server, http, body):
    client = client_of(local_server)
    url = local_server.url + "/oauth/token"
    fields = {"grant_type": "client_credentials", "scope": "read:messages"}
    if body == "form":
        response = http.post(url, data={**fields, "client_id": client.client_id, "client_secret": client.client_secret})
    elif body == "json":
        response = http.post(url, json={**fields, "client_id": client.client_id, "client_secret": client.client_secret})
    else:
        response = http.post(url, data=fields, auth=(client.client_id, client.client_secret))
    assert response.status_code == 200, response.text
    token = response.json()
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 3600
    assert token["scope"] == "read:messages"
    assert response.headers["Cache-Control"] == "no-store"
    assert http.get(local_server.url + SCOPED, headers=bearer(token["access_token"])).status_code == 200


def test_requested_scopes_are_split_on_the_space(local_server, http):
    """As the API reads a token's scope (RFC 6749 §3.3): extra spaces separate nothing more."""
    client = client_of(local_server)
    response = http.post(local_server.url + "/oauth/token", auth=(client.client_id, client.client_secret),
                         data={"grant_type": "client_credentials", "scope": " read:messages  write:messages "})
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "read:messages write:messages"
    claims = jwt.decode(response.json()["access_token"], local_server.app.extensions["local_issuer"].key).claims
    assert claims["scope"] == "read:messages write:messages"


def test_every_declared_scope_is_granted_and_opens_its_routes(local_server, http, scopes):
    """Each scope the routes declare: the issuer mints it, and it opens exactly the routes that need it (or
    accept it among others). Whatever a route needs first (a message to read) is made with every scope."""
    client = client_of(local_server)
    issuer = local_server.app.extensions["local_issuer"]
    document = http.get(local_server.url + "/swagger.json").json()
    protected = [o for o in operations(document) if not o.public]
    for scope in scopes:
        response = http.post(local_server.url + "/oauth/token", auth=(client.client_id, client.client_secret),
                             data={"grant_type": "client_credentials", "scope": scope})
        assert response.status_code == 200, response.text
        assert response.json()["scope"] == scope
        token = response.json()["access_token"]
        subject = jwt.decode(token, issuer.key).claims["sub"]
        setup = bearer(issuer.mint(subject=subject, scopes=issuer.scopes))
        caller = Caller(document, local_server.url, http, lambda operation, setup=setup: setup)
        for operation in protected:
            answer = caller.call(operation).with_headers(**bearer(token)).send(http)
            opens = any(set(option) <= {scope} for option in operation.scope_options)
            assert answer.status_code == (int(operation.success) if opens else 403), (scope, operation, answer.text)


def test_code_with_pkce_and_one_validation_path(local_server, http):
    code, verifier = get_code(http, local_server)
    response = exchange(http, local_server, code, verifier)
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    assert http.get(local_server.url + SCOPED, headers=bearer(token)).status_code == 200
    # the API validated it through the key cache, which took the issuer's JWKS in-process
    keys = local_server.app.extensions["access_token_validator"].keys
    assert keys.kids == {local_server.app.extensions["local_issuer"].key.kid}
    assert keys.fetch_count == 1


def test_without_the_scope_the_scoped_route_is_403(local_server, http):
    code, verifier = get_code(http, local_server, scope="")
    token = exchange(http, local_server, code, verifier).json()["access_token"]
    assert http.get(local_server.url + "/api/private", headers=bearer(token)).status_code == 200
    response = http.get(local_server.url + SCOPED, headers=bearer(token))
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"


def test_tokens_survive_a_restart(make_local_app, instance):
    token = make_local_app().extensions["local_issuer"].mint(subject="someone", scopes=["read:messages"])
    restarted = make_local_app().test_client()
    assert restarted.get(SCOPED, headers=bearer(token)).status_code == 200


def test_a_token_from_another_local_key_is_refused(make_local_app, tmp_path, local_server, http):
    stranger = create_app({"PORT": str(local_server.port)}, instance_path=tmp_path / "other")
    token = stranger.extensions["local_issuer"].mint(subject="someone", scopes=["read:messages"])
    response = http.get(local_server.url + SCOPED, headers=bearer(token))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


def test_building_the_app_logs_no_warning_in_either_mode(make_local_app, make_app, caplog):
    """The local-mode note is the servers' to say (tests/serving/test_serving.py), so commands such as `make token`,
    which build the app too, print nothing but their output."""
    with caplog.at_level(logging.WARNING):
        make_local_app()
        make_app()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_provider_mode_has_no_local_issuer(server, http):
    for method, path in [("get", "/.well-known/jwks.json"), ("get", "/.well-known/openid-configuration"),
                         ("get", "/authorize"), ("post", "/oauth/token")]:
        response = http.request(method, server.url + path)
        assert response.status_code == 404, path
        assert response.json()["error"] == "not_found"
