"""gunicorn's gevent worker (``worker_class`` in gunicorn.conf.py), fair between keep-alive connections.

Measured causes of a slow tail (bench/RESULTS.md, "Cause of the tail"), and what this worker does about each:

- gevent switches greenlets only when one has to wait. A connection whose next request is already there
  when its greenlet comes to read it never waits: one greenlet answered hundreds of requests in a row
  while the requests of the worker's other connections sat ready and unread. Here a greenlet that has
  answered resumes on the event loop's next turn: each connection with a request ready gets one answer
  per turn, in turn.
- gunicorn has a worker accept one connection per turn when workers share one listening socket, so that
  they share new connections. With a socket per worker (``reuse_port``: the kernel spreads connections
  over the workers), that only made a burst of new connections wait, each a whole turn longer than the
  one before; a worker then takes every connection waiting in its own queue at once. gunicorn opens
  that socket as the worker starts, before the app is loaded: connections sent there would wait for the
  loading, or be reset if it failed; the worker listens only once it can answer.
- The garbage collector's full passes, rare once a worker is warm, scanned every object the app made while
  loading (over 100,000), holding all of the worker's requests for 50 ms and more; those objects are now
  out of their sight.
"""

from __future__ import annotations

import gc
from functools import partial

import gevent
from gevent import socket
from gevent.server import StreamServer
from gunicorn.sock import close_sockets, create_sockets
from gunicorn.workers.ggevent import GeventWorker

#: Seconds. Any positive sleep resumes a greenlet on the loop's next turn, after the I/O ready now; a sleep
#: of 0 may resume it in this same turn, before any of that I/O (see gevent.sleep).
NEXT_TURN = 1e-6


class FairGeventWorker(GeventWorker):
    sockets: list  # gunicorn's listeners, then (with reuse_port) this worker's own; see run()

    def init_process(self):
        if self.cfg.reuse_port:
            close_sockets(self.sockets, unlink=False)  # the ones gunicorn opened at fork; see run()
            self.sockets = []
        super().init_process()  # loads the app, then run()

    def handle_request(self, listener_name, req, sock, addr):
        super().handle_request(listener_name, req, sock, addr)  # raises StopIteration when the connection ends
        gevent.sleep(NEXT_TURN)  # the next request, even one already received, waits for the others' turn

    def server_class(self, listener, *, spawn, ssl_context=None, **_pywsgi_options):
        """The server of one listening socket. gunicorn builds it with this when it is set (its hook for
        gevent's own WSGI server), else the same StreamServer with max_accept pinned to 1 whenever there
        are several workers."""
        server = StreamServer(listener, handle=partial(self.handle, listener), spawn=spawn,
                              **({"ssl_context": ssl_context} if ssl_context else {}))
        if self.cfg.workers > 1 and not self.cfg.reuse_port:
            server.max_accept = 1  # workers sharing a socket take turns at it
        return server

    def run(self):
        gc.collect()
        gc.freeze()  # what the app holds from now on is scanned; what it loaded with is not
        if self.cfg.reuse_port:  # ready: this worker's own sockets (as GeventWorker.patch wraps gunicorn's)
            self.sockets = [socket.socket(listener.FAMILY, socket.SOCK_STREAM, fileno=listener.sock.detach())
                            for listener in create_sockets(self.cfg, self.log)]
        super().run()
