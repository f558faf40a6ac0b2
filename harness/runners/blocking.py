"""Driving a stream protocol over a blocking socket: shared by every blocking runner.

``raw``, ``single``, ``threading``, ``forking`` and ``prefork-threads`` differ only in who
calls :func:`serve_connection` (the accept loop itself, a new thread, a new process, a pool
thread); the read/protocol/sendall loop and its one error boundary are written once, here.

Why ``sendall``: ``send`` may write only part of its argument (the chapter's bug); an echo
that drops the rest is wrong only under load, which is the worst time to find out.
"""

from __future__ import annotations

import socket
import threading
import time

from harness.protocols.base import StreamProtocol
from harness.runners.base import LINGER_MAX_BYTES, LINGER_TIMEOUT_S, RECV_BYTES, log


def serve_connection(conn: socket.socket, protocol: StreamProtocol, idle_timeout: float) -> None:
    """Run one connection to completion, then close it.

    The peer going away (reset, broken pipe) or falling silent past ``idle_timeout`` ends
    the connection quietly: that is the peer's doing, logged at debug level and never
    allowed to reach the accept loop.

    Args:
        conn: a connected socket; this function closes it.
        protocol: a fresh protocol object for this connection.
        idle_timeout: seconds any single recv or send may wait.

    Resource handling: ``conn`` is closed on every path out.
    """
    peer_done = False
    try:
        conn.settimeout(idle_timeout)
        greeting = protocol.connection_made()
        if greeting:
            conn.sendall(greeting)
        while not protocol.wants_close:
            data = conn.recv(RECV_BYTES)
            peer_done = not data
            reply = protocol.data_received(data) if data else protocol.eof_received()
            if reply:
                conn.sendall(reply)
        if not peer_done:
            linger_before_close(conn)
    except OSError as exc:  # includes TimeoutError, ConnectionResetError, BrokenPipeError
        log.debug("connection ended by peer or timeout: %r", exc)
    finally:
        conn.close()


def linger_before_close(conn: socket.socket) -> None:
    """Half-close, then read and discard until the peer's EOF or the linger bound.

    Closing a socket with unread input sends RST, and an RST can destroy the reply the peer
    has not read yet. See ``LINGER_TIMEOUT_S``.

    Raises:
        OSError: the peer reset or the linger timed out; the caller closes regardless.
    """
    conn.shutdown(socket.SHUT_WR)
    deadline = time.monotonic() + LINGER_TIMEOUT_S
    discarded = 0
    while discarded < LINGER_MAX_BYTES and (left := deadline - time.monotonic()) > 0:
        conn.settimeout(left)
        chunk = conn.recv(RECV_BYTES)
        if not chunk:
            return
        discarded += len(chunk)


class ConnectionTracker:
    """The set of live connections, so that a stop can wake every blocked ``recv``.

    Shutting a socket down (not closing it: its owner thread still holds the fd) makes a
    blocked ``recv`` return b"" at once, so handler threads finish instead of waiting out
    the idle timeout.

    The lock is re-entrant because :meth:`shutdown_all` may run in a signal handler, which
    Python runs in the main thread between two bytecodes, possibly while that same thread
    holds the lock in :meth:`add` (``single`` and ``raw`` serve in the main thread).
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._live: set[socket.socket] = set()

    def add(self, conn: socket.socket) -> None:
        with self._lock:
            self._live.add(conn)

    def discard(self, conn: socket.socket) -> None:
        with self._lock:
            self._live.discard(conn)

    def serve(self, conn: socket.socket, protocol: StreamProtocol, idle_timeout: float) -> None:
        """:func:`serve_connection`, with ``conn`` tracked while it is served."""
        self.add(conn)
        try:
            serve_connection(conn, protocol, idle_timeout)
        finally:
            self.discard(conn)

    def shutdown_all(self) -> None:
        with self._lock:
            live = list(self._live)
        for conn in live:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by its owner
