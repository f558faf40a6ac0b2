"""The socketserver family (``single``, ``threading``, ``forking``): one stoppable driver.

The same driver carries TCP (TCPServer and its mixins, a handler per connection) and UDP
(UDPServer and its mixins, a handler per datagram): only the server class and the handler
differ, which is socketserver's own split.

The chapter serves with ``serv.serve_forever()``. We keep socketserver's server classes and
their request/handler structure (that is what these runners measure) but not
``serve_forever`` itself, because it cannot be stopped from a signal handler:
``shutdown()`` must be called from another thread and waits for the loop, which deadlocks
when called from the loop's own thread, and it polls every 0.5 s. Instead :meth:`serve`
runs socketserver's own per-request step (``_handle_request_noblock``: accept, verify,
process_request, which is where the mixins thread or fork) from a selector that also
watches a wake-up socket, so a stop takes effect at once, in the main thread, with no extra
thread to reap. ``service_actions()`` (ForkingMixIn reaps children there) runs on every pass,
as in ``serve_forever``.

The listening socket comes from ``open_listener``; the server is built with
``bind_and_activate=False`` and handed that socket, so every runner binds alike.
"""

from __future__ import annotations

import selectors
import socket
import socketserver
from typing import Any, ClassVar

from harness.runners.base import Runner
from harness.runners.blocking import ConnectionTracker
from harness.runners.datagram import DATAGRAM_BUFFER_BYTES, answer_datagram

# How often the loop wakes with nothing to do, so ForkingMixIn reaps exited children even
# when no connection arrives (serve_forever's poll_interval).
SERVICE_ACTIONS_INTERVAL_S = 0.5


class _ProtocolHandler(socketserver.BaseRequestHandler):
    """Hands the accepted socket to the shared blocking driver; knows no protocol."""

    server: "_WirecheckServerMixin"

    def handle(self) -> None:
        runner = self.server.runner
        runner.before_connection()
        runner.connections.serve(self.request, runner.protocol_factory(), runner.options.idle_timeout, runner.traits)


class _DatagramHandler(socketserver.BaseRequestHandler):
    """Answers one datagram (``self.request`` is socketserver's ``(data, socket)`` pair)."""

    server: "_WirecheckServerMixin"

    def handle(self) -> None:
        runner = self.server.runner
        runner.before_connection()
        data, sock = self.request
        answer_datagram(sock, runner.datagram_protocol, data, self.client_address)


class _WirecheckServerMixin:
    """Gives the server a back-reference to its runner (the handler's only way in)."""

    runner: "SocketServerRunner"


class SocketServerRunner(Runner):
    """Base for the socketserver runners. Subclasses set ``server_class``.

    Resource handling: :meth:`serve` calls ``server_close()``, which closes the listener and,
    with the mixins' ``block_on_close``, joins handler threads or waits for child processes.
    """

    server_class: ClassVar[type[socketserver.BaseServer]]
    handler_class: ClassVar[type[socketserver.BaseRequestHandler]] = _ProtocolHandler

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        listener = self.listener
        self.connections = ConnectionTracker()
        self._stopping = False
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_writer.setblocking(False)
        server_type = type(
            f"Wirecheck{self.server_class.__name__}", (_WirecheckServerMixin, self.server_class), {}
        )
        self.server = server_type(listener.getsockname(), self.handler_class, bind_and_activate=False)
        self.server.socket.close()
        self.server.socket = listener
        self.server.runner = self
        self.configure(self.server)

    def configure(self, server: socketserver.TCPServer) -> None:
        """Hook for subclasses to set mixin knobs (max_children, daemon_threads...)."""

    def before_connection(self) -> None:
        """Hook run in the handling thread or child before a connection is served."""

    def serve(self) -> None:
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(self.listener, selectors.EVENT_READ)
                selector.register(self._wake_reader, selectors.EVENT_READ)
                while not self._stopping:
                    for key, _ in selector.select(SERVICE_ACTIONS_INTERVAL_S):
                        if key.fileobj is self.listener and not self._stopping:
                            self.handle_one_request()
                    self.server.service_actions()
        finally:
            self.connections.shutdown_all()
            self.shutdown_children()
            self.server.server_close()
            self._wake_reader.close()
            self._wake_writer.close()

    def handle_one_request(self) -> None:
        """Accept (or receive) one request and process it: where the mixins thread or fork."""
        self.server._handle_request_noblock()

    def shutdown_children(self) -> None:
        """Hook: end work running outside this process (forking), before server_close waits."""

    def request_stop(self) -> None:
        self._stopping = True
        # Wakes a handler blocked in recv in this very thread (single) or in others.
        self.connections.shutdown_all()
        try:
            self._wake_writer.send(b"\0")
        except OSError:
            pass  # the wake-up socket is full (a stop is already pending) or closed


class SocketServerDatagramRunner(SocketServerRunner):
    """Base for the socketserver UDP runners: one protocol object for the whole server."""

    handler_class = _DatagramHandler

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.datagram_protocol = self.protocol_factory()
        # UDPServer reads 8192 bytes per datagram and silently truncates the rest.
        self.server.max_packet_size = DATAGRAM_BUFFER_BYTES
