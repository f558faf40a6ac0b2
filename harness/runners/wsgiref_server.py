"""``wsgiref``: the chapter's ``make_server``, carrying any WSGI application.

The chapter serves its REST interface with ``wsgiref.simple_server.make_server(...)`` and
``serve_forever()``. This runner is that server (``WSGIServer`` and ``WSGIRequestHandler``,
unchanged in what they do on the wire) so that the suites can judge it like a third-party
server: it answers with HTTP/1.0 framing, serves one client at a time, and sends whatever
body the application returns, HEAD included. Its verdicts are findings, not assumptions.

What is ours is only the lifecycle every runner shares (harness.runners.socketserver_base):
the pre-bound listener, a stop that works from a signal handler, and a per-connection
timeout (the idle timeout) so that a silent client cannot hold the one-at-a-time server,
or its stop, forever; request logging goes to the debug log instead of stderr.
"""

from __future__ import annotations

import socket
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from harness.runners.base import log
from harness.runners.socketserver_base import SocketServerRunner


class _TrackedRequestHandler(WSGIRequestHandler):
    """wsgiref's handler, with its socket tracked (so a stop can wake it) and quiet logs."""

    server: Any

    def setup(self) -> None:
        runner = self.server.runner
        self.timeout = runner.options.idle_timeout  # StreamRequestHandler sets it on the socket
        runner.connections.add(self.request)
        super().setup()

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.runner.connections.discard(self.request)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("wsgiref: " + format, *args)


class WsgirefRunner(SocketServerRunner):
    """wsgiref's WSGIServer: one request at a time, in the accepting thread.

    The factory handed to this runner makes a WSGI application, not a protocol.
    """

    server_class = WSGIServer
    handler_class = _TrackedRequestHandler

    def configure(self, server: Any) -> None:
        host, port = self.listener.getsockname()[:2]
        server.server_name = socket.getfqdn(host)
        server.server_port = port
        server.setup_environ()
        server.set_app(self.protocol_factory())
