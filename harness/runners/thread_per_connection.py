"""``threading``: ``socketserver.ThreadingTCPServer``, a new thread per connection.

Blocking I/O in each thread overlaps with the others; the GIL serialises the (tiny)
protocol work. The chapter's warning holds: nothing bounds the number of threads, so a
flood of connections is a flood of threads. ``block_on_close`` stays on, so
``server_close()`` joins every handler thread; a stop first shuts down every live
connection so that the joins do not wait out the idle timeout.

For UDP it is ``socketserver.ThreadingUDPServer``: a thread per datagram, which costs more
than answering a time request does; it is here to be measured, not recommended.
"""

from __future__ import annotations

import socketserver
from harness.runners.socketserver_base import SocketServerDatagramRunner, SocketServerRunner


class ThreadingRunner(SocketServerRunner):
    """socketserver.ThreadingTCPServer: one thread per connection, joined at stop."""

    server_class = socketserver.ThreadingTCPServer

    def configure(self, server: socketserver.TCPServer) -> None:
        server.daemon_threads = False  # joined in server_close, so none outlives the runner
        server.block_on_close = True


class ThreadingDatagramRunner(SocketServerDatagramRunner):
    """socketserver.ThreadingUDPServer: one thread per datagram, joined at stop."""

    server_class = socketserver.ThreadingUDPServer

    def configure(self, server: socketserver.BaseServer) -> None:
        server.daemon_threads = False
        server.block_on_close = True
