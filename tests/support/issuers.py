"""Fake issuers on loopback: an OIDC provider (discovery and JWKS, with switches for outages and slowness),
and a bare socket for what an HTTP server will not do."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from dataclasses import dataclass, field

from pytest_httpserver import HTTPServer
from werkzeug.wrappers import Request, Response


class LoopbackServer(HTTPServer):
    """pytest-httpserver's server, on a loopback port of its own, that stops within a hundredth of a second
    (its loop's default half second is waited out by every test that stops one)."""

    def __init__(self, **options):
        super().__init__(host="127.0.0.1", port=0, **options)

    def thread_target(self) -> None:
        self.server.serve_forever(poll_interval=0.01)


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
            self.server = LoopbackServer(threaded=True)
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
