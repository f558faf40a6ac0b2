"""``raw``: the chapter's plain socket server, one client at a time, no socketserver.

``socket() / bind() / listen() / accept()`` then serve the client to completion, then accept
the next. This is the simplest correct server and the baseline the others are measured
against: with two clients, the second waits (in the listen backlog) until the first leaves.

For datagrams it is the chapter's UDP time server: ``recvfrom``, answer, repeat. A stop
shuts the socket down, which on Linux wakes a blocked ``recvfrom`` even on an unconnected
UDP socket (the kernel's own comment calls it a hack to wake listeners), so there is no
polling timeout.
"""

from __future__ import annotations

import socket

from harness.runners.accept_loop import StoppableListener
from harness.runners.base import Runner, log
from harness.runners.blocking import ConnectionTracker
from harness.runners.datagram import DATAGRAM_BUFFER_BYTES, DatagramRunner, answer_datagram


class RawRunner(Runner):
    """Accept, serve to completion, repeat; all in the main thread."""

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
        self._connections.serve(conn, self.protocol_factory(), self.options.idle_timeout, self.traits)

    def request_stop(self) -> None:
        self._accepting.stop()
        self._connections.shutdown_all()


class RawDatagramRunner(DatagramRunner):
    """``recvfrom`` a datagram, answer it, repeat; all in the main thread."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._stopping = False

    def serve(self) -> None:
        try:
            while not self._stopping:
                try:
                    data, address = self.listener.recvfrom(DATAGRAM_BUFFER_BYTES)
                except OSError as exc:
                    if not self._stopping:
                        log.warning("recvfrom failed: %r", exc)
                    continue
                if self._stopping:
                    break
                answer_datagram(self.listener, self.protocol, data, address)
        finally:
            self.listener.close()

    def request_stop(self) -> None:
        self._stopping = True
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # ENOTCONN on an unconnected socket, yet the waiting recvfrom is woken
