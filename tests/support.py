"""Real parts for the tests: a fake OIDC provider on loopback, RSA keys, a token builder, a live server."""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

import pytest
from joserfc.jwk import ECKey, RSAKey
from joserfc.jws import JWSRegistry
from pytest_httpserver import HTTPServer
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

AUDIENCE = "https://messages.test/api"
ROOT = Path(__file__).resolve().parent.parent


def b64url(data: bytes | str | dict) -> str:
    if isinstance(data, dict):
        data = json.dumps(data)
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def rsa_key(kid: str | None = None, size: int = 2048) -> RSAKey:
    return RSAKey.generate_key(size, parameters={"kid": kid or uuid.uuid4().hex, "use": "sig", "alg": "RS256"})


def ec_key(kid: str | None = None) -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": kid or uuid.uuid4().hex, "use": "sig", "alg": "ES256"})


@dataclass
class Provider:
    """An OIDC provider on loopback: discovery and JWKS, with switches for outages and slowness.

    The tests hand it pytest-httpserver's server and call ``start()``; without a server (the benchmarks:
    ``Provider([key])``) it runs a threaded one of its own, already started, until ``close()``.
    """

    keys: list = field(default_factory=list)
    server: HTTPServer | None = None
    down: bool = False
    delay: float = 0.0
    discovery: bool = True
    jwks_fetches: int = 0
    discovery_fetches: int = 0
    raw_jwks: dict | None = None  # serve this document instead of `keys`
    jwks_uri: str | None = None  # announce this jwks_uri in discovery instead of our own

    def __post_init__(self):
        self._own_server = self.server is None
        if self._own_server:
            logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request amid the figures
            self.server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
            self.server.start()
            self.start()

    def close(self) -> None:
        """Stop the server this provider started itself."""
        if self._own_server:
            self.server.clear()
            self.server.stop()

    @property
    def issuer(self) -> str:
        return self.server.url_for("/")

    @property
    def jwks_url(self) -> str:
        return self.server.url_for("/keys/jwks.json")

    def start(self) -> "Provider":
        self.server.expect_request("/.well-known/openid-configuration").respond_with_handler(self._discovery)
        self.server.expect_request("/keys/jwks.json").respond_with_handler(self._jwks)
        self.server.expect_request("/.well-known/jwks.json").respond_with_handler(self._jwks)
        return self

    def _discovery(self, request: Request) -> Response:
        self.discovery_fetches += 1
        if self.down:
            return Response("down", status=503)
        if not self.discovery:
            return Response("not found", status=404)
        document = {"issuer": self.issuer, "jwks_uri": self.jwks_uri or self.jwks_url,
                    "authorization_endpoint": self.server.url_for("/authorize"),
                    "token_endpoint": self.server.url_for("/oauth/token")}
        return Response(json.dumps(document), content_type="application/json")

    def _jwks(self, request: Request) -> Response:
        self.jwks_fetches += 1
        if self.delay:
            time.sleep(self.delay)
        if self.down:
            return Response("down", status=503)
        document = self.raw_jwks or {"keys": [key.as_dict(private=False) for key in self.keys]}
        return Response(json.dumps(document), content_type="application/json")


class Tokens:
    """Builds access tokens for one provider; every field can be overridden or removed (None)."""

    def __init__(self, issuer: str, key, audience: str = AUDIENCE):
        self.issuer = issuer
        self.key = key
        self.audience = audience

    def claims(self, **overrides) -> dict:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": "auth0|user-1",
            "aud": [self.audience, "https://tenant.example/userinfo"],
            "iat": now,
            "exp": now + 3600,
            "azp": "client-1",
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def header(self, key=None, **overrides) -> dict:
        key = key or self.key
        header = {"alg": key.get("alg") or "RS256", "typ": "JWT", "kid": key.kid}
        header.update(overrides)
        return {k: v for k, v in header.items() if v is not None}

    def make(self, key=None, header: dict | None = None, *, jkt: str | None = None, **claims) -> str:
        """``jkt``: bind the token to the DPoP key with this RFC 7638 thumbprint (``cnf.jkt``)."""
        key = key or self.key
        if jkt is not None:
            claims["cnf"] = {"jkt": jkt}
        return sign(self.header(key, **(header or {})), self.claims(**claims), key)

    def raw(self, header: dict, payload: str, key=None) -> str:
        """Signs an arbitrary payload text with a real key (for malformed-but-signed tokens)."""
        key = key or self.key
        return sign({"alg": key.get("alg") or "RS256", **header}, payload, key)


def sign(header: dict, payload: dict | str, key, alg: str | None = None) -> str:
    """A compact JWS over exactly these bytes, whatever the header says (libraries refuse odd headers)."""
    alg = alg or (header.get("alg") if isinstance(header.get("alg"), str) else None) or key.get("alg") or "RS256"
    signing_input = f"{b64url(header)}.{b64url(payload)}"
    signer = JWSRegistry.algorithms.get(alg) or JWSRegistry.algorithms[key.get("alg") or "RS256"]
    signature = signer.sign(signing_input.encode(), key)
    return f"{signing_input}.{b64url(signature)}"


@dataclass(frozen=True)
class Operation:
    """One operation of a served Swagger 2.0 document, and the auth it requires."""

    path: str
    method: str
    spec: dict
    path_parameters: tuple[dict, ...] = ()  # the parameters its path declares for every method

    @property
    def public(self) -> bool:
        return self.spec.get("security") == []

    @property
    def scope_options(self) -> list[list[str]]:
        """The scope sets any one of which opens it: one per OAuth2 alternative (``[[]]``: any valid token)."""
        options = []
        for alternative in self.spec.get("security", []):
            for scopes in alternative.values():
                if scopes and sorted(scopes) not in options:
                    options.append(sorted(scopes))
        return options or [[]]

    @property
    def scopes(self) -> list[str]:
        """Every scope its OAuth2 alternatives name: a token with all of them gets in, whatever the options."""
        return sorted({scope for option in self.scope_options for scope in option})

    @property
    def parameters(self) -> list[dict]:
        return [*self.path_parameters, *self.spec.get("parameters", [])]

    @property
    def success(self) -> str:
        """The status of its success answer (its first 2xx)."""
        return next(status for status in self.spec["responses"] if status.startswith("2"))

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.path}"


def opened_as_they_are(operation: Operation, scopes: set[str]) -> bool:
    """Whether a token with ``scopes`` gets the operation's success answer with nothing else to send (no
    required parameter or body): the routes a transport test can call as they are."""
    opens = operation.public or any(set(option) <= scopes for option in operation.scope_options)
    return opens and not any(p.get("required") for p in operation.parameters)


def operations(document: dict) -> list[Operation]:
    """Every operation the document describes: the routes under test come from here, never from a list."""
    return [Operation(path, method, operation, tuple(item.get("parameters", [])))
            for path, item in document["paths"].items()
            for method, operation in item.items() if method != "parameters"]


class SocketIssuer:
    """An issuer on a bare loopback socket, for what an HTTP library will not do: it answers every
    connection with ``reply`` (line by line, ``trickle`` seconds apart), or, with no ``reply``, accepts
    and never answers (a hanging issuer). ``connections`` counts the connections accepted."""

    def __init__(self, reply: bytes | None = None, trickle: float = 0.0):
        self.reply, self.trickle = reply, trickle
        self.connections = 0
        self._held: list[socket.socket] = []  # a hanging issuer's open connections
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            if self.reply is None:
                self._held.append(connection)
                continue
            with connection:
                connection.recv(4096)
                for line in self.reply.split(b"\n"):
                    try:
                        connection.sendall(line + b"\n")
                    except OSError:
                        break
                    time.sleep(self.trickle)

    def close(self) -> None:
        self.sock.close()
        for connection in self._held:
            connection.close()


class ManualClock:
    """A clock (seconds) that moves only when told to, for time-based rules tested without waiting."""

    def __init__(self, now: float | None = None):
        self.now = int(time.time()) if now is None else now

    def __call__(self):
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def run_together(count: int, work, timeout: float = 60) -> list:
    """Run ``work(i)`` for i in range(count), each in a thread of its own, all released at once (to race
    them); each one's result, or the exception it raised (for the test to assert on)."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(i):
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    return results


def eventually(condition, seconds: float = 5) -> bool:
    """Whether ``condition()`` becomes true within ``seconds`` (for work done by background threads)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.025)
    return False


def bearer_get(server, http, token: str, route: str = "/api/private"):
    """GET ``route`` of a live server with ``Authorization: Bearer <token>``."""
    return http.get(server.url + route, headers={"Authorization": f"Bearer {token}"})


def require_tool(*names: str, install: str) -> str:
    """The path of the first of these commands found on PATH; without any, ``missing`` says how to get one."""
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    missing(f"{names[0]} is not installed ({install})")


def missing(reason: str) -> NoReturn:
    """A tool or service the test needs is not there: skip the test saying why, except under CI=true, which
    must run every test, where that is a failure."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI=true requires the tests that need it to run")
    pytest.skip(reason)


DOCS_SETTINGS = re.compile(r'<script type="application/json" id="docs-settings">(.*?)</script>', re.DOTALL)


def docs_settings(html: str) -> dict:
    """What the docs page hands Swagger UI: the JSON data block of swagger/templates/swagger-ui.html."""
    return json.loads(DOCS_SETTINGS.search(html).group(1))


def raw_get(url: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    """A GET through http.client, which sends header values that requests refuses (e.g. a single space)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.putrequest("GET", parts.path or "/", skip_host=any(n.lower() == "host" for n in headers))
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


class LiveServer:
    """The app served over real HTTP on a loopback port, in a thread."""

    def __init__(self, app, host: str = "127.0.0.1"):
        self.app = app
        self.server = make_server(host, 0, app, threaded=True)
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> "LiveServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@contextlib.contextmanager
def live(app):
    with LiveServer(app) as server:
        yield server


@contextlib.contextmanager
def live_on_own_port(build, host: str = "127.0.0.1"):
    """Serve ``build(port)``: for apps whose settings must name their own port (the local issuer)."""
    server = LiveServer(None, host=host)
    server.app = server.server.app = build(server.port)
    with server:
        yield server


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def repository_copy(dest: Path, instance: Path | None = None) -> Path:
    """The app's code and gunicorn.conf.py copied to ``dest`` (with ``instance`` as its instance/): a server
    run from there reads no developer's .env and writes nothing into the repository."""
    shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(
        ".*", "__pycache__", "instance", "build", "tests", "bench", "openapi", "test-artifacts"))
    if instance is not None:
        shutil.copytree(instance, dest / "instance")
    return dest


class ServerProcess:
    """``command`` (e.g. `make run`'s or `make serve`'s) started on loopback ``port``, with ``env`` and PORT over
    the environment minus any AUTH*/GUNICORN*/DATABASE* variable of the caller's own; stdout and stderr go to
    files in ``logs``."""

    def __init__(self, command: list[str], *, port: int, env: dict[str, str | None], cwd: Path, logs: Path):
        self.command, self.port, self.url = command, port, f"http://127.0.0.1:{port}"
        self.stderr_path = logs / "stderr.log"
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH", "GUNICORN", "DATABASE"))}
        with open(logs / "stdout.log", "wb") as out, open(self.stderr_path, "wb") as err:
            environment = {k: v for k, v in {**inherited, **env}.items() if v is not None}  # None: unset
            self.process = subprocess.Popen(command, cwd=cwd, env={**environment, "PORT": str(port)},
                                            stdout=out, stderr=err)

    def wait_until_serving(self, ready=lambda: True, seconds: float = 20) -> None:
        """Until /healthz answers and ``ready()`` holds; an AssertionError with the server's stderr if it never does."""
        def ended_or_serving() -> bool:
            return self.process.poll() is not None or (_answers(self.url + "/healthz") and ready())

        # one /healthz request once up (tests count the access-log lines a server writes)
        if not eventually(ended_or_serving, seconds) or self.process.poll() is not None:
            raise AssertionError(f"{self.command[0]} did not start: " + self.stderr_path.read_text())

    def stop(self, stop: signal.Signals = signal.SIGTERM, seconds: float = 40) -> int:
        """Send ``stop`` unless it has ended already; its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(stop)
        return self.process.wait(timeout=seconds)


@contextlib.contextmanager
def server_process(command: list[str], *, port: int, env: dict[str, str | None], cwd: Path, logs: Path,
                   stop: signal.Signals = signal.SIGTERM, status: int = 0):
    """A ServerProcess, yielding its URL once /healthz answers; on exit it gets ``stop`` and must end with
    ``status`` (0: a graceful stop)."""
    server = ServerProcess(command, port=port, env=env, cwd=cwd, logs=logs)
    try:
        server.wait_until_serving()
        yield server.url
    finally:
        code = server.stop(stop)
        assert code == status, f"exit status {code}: " + server.stderr_path.read_text()


def _answers(url: str) -> bool:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request("GET", parts.path)
        return connection.getresponse().status == 200
    except OSError:  # not listening yet
        return False
    finally:
        connection.close()
