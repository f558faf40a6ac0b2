"""``raw``: the chapter's plain socket server, one client at a time, no socketserver.

``socket() / bind() / listen() / accept()`` then serve the client to completion, then accept
the next. This is the simplest correct server and the baseline the others are measured
against: with two clients, the second waits (in the listen backlog) until the first leaves.
"""

from __future__ import annotations

import socket
from typing import ClassVar

from harness.runners.accept_loop import StoppableListener
from harness.runners.base import Runner
from harness.runners.blocking import ConnectionTracker, serve_connection


class RawRunner(Runner):
    """Accept, serve to completion, repeat; all in the main thread."""

    name: ClassVar[str] = "raw"
    transports: ClassVar[frozenset[str]] = frozenset({"tcp"})

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._accepting = StoppableListener(self.listener)
        self._connections = ConnectionTracker()

    def serve(self) -> None:
        try:
            self._accepting.accept_forever(self._serve_one)
        finally:
            self.listener.close()

    def _serve_one(self, conn: socket.socket) -> None:
        self._connections.add(conn)
        try:
            serve_connection(conn, self.service.protocol_factory(), self.options.idle_timeout)
        finally:
            self._connections.discard(conn)

    def request_stop(self) -> None:
        self._accepting.stop()
        self._connections.shutdown_all()
