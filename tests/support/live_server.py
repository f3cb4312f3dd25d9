"""The app served over real HTTP in a thread of the test's own process, on a free loopback port."""

from __future__ import annotations

import contextlib
import threading

from werkzeug.serving import make_server


class LiveServer:
    """The app served over real HTTP on a loopback port, in a thread."""

    def __init__(self, app, host: str = "127.0.0.1"):
        self.app = app
        self.server = make_server(host, 0, app, threaded=True)
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        # Its loop looks for the stop request this often: every test that serves an app waits that long at the end.
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)

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
def live_with_store(app, store_key: str):
    """``live(app)``, then the app's store (``app.extensions[store_key]``) closed, its database left free."""
    try:
        with live(app) as server:
            yield server
    finally:
        app.extensions[store_key].close()


@contextlib.contextmanager
def live_on_own_port(build, host: str = "127.0.0.1"):
    """Serve ``build(port)``: for apps whose settings must name their own port (the local issuer)."""
    server = LiveServer(None, host=host)
    server.app = server.server.app = build(server.port)
    with server:
        yield server

