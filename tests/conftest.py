"""Fixtures: a fake provider with real keys on loopback, a token builder, the app built against them, and
databases (migrated once per session: a test gets a copy)."""

from __future__ import annotations

import shutil

import pytest
import requests

from app import create_app
from local_issuer.signing_key import load_or_create_key, load_or_create_secret
from namespaces import NAMESPACES
from namespaces.messages import MessageStore
from storage import metadata, migrate
from storage.engine import SQLITE_FILE
from swagger import api_scopes
from tests.support.browser import SCREENSHOT
from tests.support.issuers import LoopbackServer, Provider, SocketIssuer
from tests.support.live_server import live, live_on_own_port
from tests.support.postgres import running_postgres
from tests.support.redis_server import redis_server
from tests.support.tokens import AUDIENCE, Tokens, rsa_key


@pytest.fixture(scope="session")
def signing_key():
    return rsa_key("key-1")


@pytest.fixture(scope="session")
def other_key():
    """A second key of the same provider, for rotation."""
    return rsa_key("key-2")


@pytest.fixture(scope="session")
def attacker_key():
    return rsa_key("key-1")  # same kid as the real key: only the key material differs


@pytest.fixture(scope="session")
def httpserver_listen_address():
    return ("127.0.0.1", 0)


@pytest.fixture
def provider(httpserver, signing_key):
    """pytest-httpserver's loopback server (one per session, cleared after each test) as the provider."""
    return Provider(server=httpserver, keys=[signing_key]).start()


@pytest.fixture
def other_server():
    """A second loopback server, e.g. an attacker's."""
    server = LoopbackServer()
    server.start()
    try:
        yield server
    finally:
        server.clear()
        server.stop()


@pytest.fixture
def hanging_issuer():
    """An issuer that accepts connections and never answers, counting them."""
    issuer = SocketIssuer()
    try:
        yield issuer
    finally:
        issuer.close()


@pytest.fixture
def tokens(provider, signing_key) -> Tokens:
    return Tokens(provider.issuer, signing_key)


@pytest.fixture(scope="module")
def redis_url():
    """One real Redis (Debian's redis-server on a loopback port) for a module's tests, each using keys of its own."""
    with redis_server() as (url, _):
        yield url


@pytest.fixture(scope="session")
def namespaces():
    """The (namespace, prefix) pairs the apps under test serve; a test module may add its own."""
    return NAMESPACES


@pytest.fixture
def scopes(namespaces) -> dict[str, str]:
    """The API's scopes (name -> description), as its routes declare them."""
    return api_scopes(namespace for namespace, _ in namespaces)


@pytest.fixture
def make_app(provider, namespaces, tmp_path, migrated_sqlite):
    """Build the app for the provider; keyword arguments override settings (as env variable names). Its
    instance folder, and so its default SQLite database (a copy of the migrated one), is the test's own."""

    def build(**overrides):
        config = {"AUTH_ISSUER": provider.issuer, "AUTH0_AUDIENCE": AUDIENCE, "AUTH_JWKS_TIMEOUT": "1"}
        config.update({k: str(v) for k, v in overrides.items()})
        database = tmp_path / "instance" / SQLITE_FILE
        if not database.exists():
            database.parent.mkdir(exist_ok=True)
            shutil.copyfile(migrated_sqlite, database)
        return create_app(config, instance_path=tmp_path / "instance", namespaces=namespaces)

    return build


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def server(app):
    with live(app) as running:
        yield running


@pytest.fixture
def http():
    with requests.Session() as session:
        yield session


@pytest.fixture(scope="session")
def seeded_instance(tmp_path_factory, migrated_sqlite):
    """One local-issuer key and secret for the session (RSA key generation is the slow part), and the migrated
    database."""
    path = tmp_path_factory.mktemp("seed")
    load_or_create_key(path)
    load_or_create_secret(path)
    shutil.copyfile(migrated_sqlite, path / SQLITE_FILE)
    return path


@pytest.fixture
def instance(tmp_path, seeded_instance):
    """An instance folder of the test's own, holding a copy of the session's key, secret and database."""
    path = tmp_path / "instance"
    shutil.copytree(seeded_instance, path)
    return path


@pytest.fixture
def make_local_app(instance, namespaces):
    """Build the app in local mode (no provider); keyword arguments are env variables."""

    def build(port=3010, **overrides):
        config = {"PORT": str(port), **{k: str(v) for k, v in overrides.items()}}
        return create_app(config, instance_path=instance, namespaces=namespaces)

    return build


@pytest.fixture
def local_server(make_local_app):
    """A local-mode app on loopback, whose issuer URL names the port it really listens on."""
    with live_on_own_port(make_local_app) as running:
        yield running


@pytest.fixture(scope="module")
def module_instance(tmp_path_factory, seeded_instance):
    """An instance folder for the apps a whole module shares (its tests must leave nothing behind that another
    would see), holding a copy of the session's key, secret and database."""
    instance = tmp_path_factory.mktemp("module") / "instance"
    shutil.copytree(seeded_instance, instance)
    return instance


@pytest.fixture(scope="module")
def module_local_server(module_instance, namespaces):
    """One local-mode server (nothing configured, as `make run` serves it) shared by a whole module."""

    def build(port):
        return create_app({"PORT": str(port)}, instance_path=module_instance, namespaces=namespaces)

    with live_on_own_port(build) as server:
        yield server


def pytest_collection_modifyitems(items):
    """Every test in tests/serving/ is a serving one (pytest.ini says what that is)."""
    for item in items:
        if item.nodeid.startswith("tests/serving/"):
            item.add_marker(pytest.mark.serving)


SAVED_SCREENSHOTS: list[str] = []


def pytest_runtest_logreport(report):
    """Each browser test's screenshots come with its report, from whichever xdist worker ran it."""
    if report.when == "call":
        SAVED_SCREENSHOTS.extend(value for name, value in report.user_properties if name == SCREENSHOT)


def pytest_terminal_summary(terminalreporter):
    if SAVED_SCREENSHOTS:
        terminalreporter.write_sep("-", "screenshots of the docs page")
        for path in SAVED_SCREENSHOTS:
            terminalreporter.write_line(path)


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL server of the session's own (skipped without PostgreSQL, except under CI=true)."""
    with running_postgres() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """An empty database, once a SQLite file and once a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'messages.db'}"
    return request.getfixturevalue("postgres").new_database()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory):
    """A SQLite file migrated once for the session (each xdist worker has its own), for tests to copy."""
    path = tmp_path_factory.mktemp("migrated") / SQLITE_FILE
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def migrated_postgres(postgres):
    """A database of the session's PostgreSQL server, migrated once, emptied for each test that takes it."""
    url = postgres.new_database()
    migrate(url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def migrated_database(request, tmp_path, migrated_sqlite):
    """A migrated empty database, once a SQLite file and once on PostgreSQL; its URL."""
    if request.param == "sqlite":
        shutil.copyfile(migrated_sqlite, tmp_path / SQLITE_FILE)
        return f"sqlite:///{tmp_path / SQLITE_FILE}"
    url = request.getfixturevalue("migrated_postgres")
    request.getfixturevalue("postgres").empty(url, [table.name for table in metadata.sorted_tables])
    return url


@pytest.fixture
def store(migrated_database):
    """A MessageStore on a migrated empty database."""
    opened = MessageStore.open(migrated_database)
    yield opened
    opened.close()
