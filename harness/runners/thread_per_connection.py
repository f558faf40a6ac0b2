"""``threading``: ``socketserver.ThreadingTCPServer``, a new thread per connection.

Blocking I/O in each thread overlaps with the others; the GIL serialises the (tiny)
protocol work. The chapter's warning holds: nothing bounds the number of threads, so a
flood of connections is a flood of threads. ``block_on_close`` stays on, so
``server_close()`` joins every handler thread; a stop first shuts down every live
connection so that the joins do not wait out the idle timeout.
"""

from __future__ import annotations

import socketserver
from typing import ClassVar

from harness.runners.socketserver_base import SocketServerRunner


class ThreadingRunner(SocketServerRunner):
    """socketserver.ThreadingTCPServer: one thread per connection, joined at stop."""

    name: ClassVar[str] = "threading"
    server_class = socketserver.ThreadingTCPServer

    def configure(self, server: socketserver.TCPServer) -> None:
        server.daemon_threads = False  # joined in server_close, so none outlives the runner
        server.block_on_close = True
