"""Driving a stream protocol over a blocking socket: shared by every blocking runner.

``raw``, ``single``, ``threading``, ``forking`` and ``prefork-threads`` differ only in who
calls :func:`serve_connection` (the accept loop itself, a new thread, a new process, a pool
thread); the read / pull / send loop and its one error boundary are written once, here, and
the connection's life is the shared table in ``harness.runners.connection``.

Theory of operation: pull every piece of output the protocol has and ``sendall`` it (a
blocking send is the back-pressure: a peer that does not read stops this thread, not our
memory); then, if the protocol is finished, end the connection as the table says; if it
wants input, ``recv``; if it paused input, wait for its waker. Output produced later by
another thread arrives through an eventfd waker, made only for protocols that ask for one:
only then does the loop wait in ``poll`` on the socket and the eventfd together; every other
protocol reads with a plain blocking ``recv``, as before. A protocol that lends buffers
(``BufferedStreamProtocol``) is read with ``recv_into`` straight into them.

The steady state is inlined. While the connection is open and the protocol neither finishes,
nor pauses input, nor has a waker, the only transitions the table could make are none at
all, so the loop talks to the protocol directly (pull and send until dry, ``recv``, deliver),
the way the core before the table did, and hands over to the general loop, which consults
the table at every step, at the first thing that is not that: the peer's EOF (fed through
the table), the protocol finishing or pausing input, or a waker being made. Per echo this
is a third of the general loop's Python calls, which matters most where each connection is a
process of its own (``forking``): every extra object a reply touches is touched in each
process's private copy of it.

Why ``sendall``: ``send`` may write only part of its argument (the chapter's bug); an echo
that drops the rest is wrong only under load, which is the worst time to find out.
"""

from __future__ import annotations

import os
import select
import socket
import threading
import time

from harness.protocols.base import ConnectionContext, RunnerTraits, StreamProtocol, Waker
from harness.runners.base import LINGER_TIMEOUT_S, RECV_BYTES, SEND_BYTES, log
from harness.runners.connection import CLOSE, HALF_CLOSE_AND_LINGER, StreamConnection



class EventfdWaker:
    """A wake-up another thread can send to a blocked connection thread.

    Resource handling: owns an eventfd; :meth:`close` closes it, after which :meth:`wake`
    does nothing (a late wake must never write to an fd number the kernel has reused).
    """

    def __init__(self) -> None:
        self.fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._lock = threading.Lock()
        self._closed = False

    def wake(self) -> None:
        with self._lock:
            if not self._closed:
                os.eventfd_write(self.fd, 1)

    def clear(self) -> None:
        try:
            os.eventfd_read(self.fd)
        except BlockingIOError:
            pass  # no wake pending

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                os.close(self.fd)


def serve_connection(
    conn: socket.socket, protocol: StreamProtocol, idle_timeout: float, traits: RunnerTraits
) -> None:
    """Run one connection to completion, then close it.

    The peer going away (reset, broken pipe) or falling silent past ``idle_timeout`` ends
    the connection quietly: that is the peer's doing, logged at debug level and never
    allowed to reach the accept loop.

    Args:
        conn: a connected socket; this function closes it.
        protocol: a fresh protocol object for this connection.
        idle_timeout: seconds any single recv, send or wait for a wake may take.
        traits: the runner's traits, for the protocol's connection context.

    Resource handling: ``conn`` (and a waker, if the protocol asked for one) is closed on
    every path out, and the protocol's ``connection_lost`` is called exactly once.
    """
    connection = StreamConnection(protocol)
    waker: EventfdWaker | None = None

    def make_waker() -> Waker:
        nonlocal waker
        if waker is None:
            waker = EventfdWaker()
        return waker.wake

    try:
        conn.settimeout(idle_timeout)
        connection.start(
            ConnectionContext(conn.getpeername(), conn.getsockname(), traits, make_waker=make_waker)
        )
        if not connection.buffered:
            # The open connection's steady exchange, inlined (see the module docstring): it
            # returns at the first thing that is not "send what there is, read, deliver".
            protocol_pull, protocol_deliver = protocol.pull_output, protocol.data_received
            recv, sendall = conn.recv, conn.sendall
            while waker is None:
                chunk = protocol_pull(SEND_BYTES)
                while chunk:
                    sendall(chunk)
                    chunk = protocol_pull(SEND_BYTES)
                if protocol.wants_close or not protocol.wants_input:
                    break  # finishing or pausing: the table decides what follows
                data = recv(RECV_BYTES)
                if not data:
                    connection.received(data)  # the peer's EOF: a transition of the table
                    break
                protocol_deliver(data)
        linger_deadline = 0.0
        while not connection.closed:
            while chunk := connection.next_output(SEND_BYTES):
                conn.sendall(chunk)
            ending = connection.output_drained()
            if ending is HALF_CLOSE_AND_LINGER:
                conn.shutdown(socket.SHUT_WR)
                linger_deadline = time.monotonic() + LINGER_TIMEOUT_S
            elif ending is CLOSE:
                break
            if connection.lingering:
                conn.settimeout(max(0.0, linger_deadline - time.monotonic()))
            if connection.wants_read():
                if waker is not None and not _readable_before_wake(conn, waker, idle_timeout):
                    continue  # woken: pull again before reading
                if connection.buffered:  # straight into the protocol's memory
                    connection.received_into(conn.recv_into(connection.receive_buffer(RECV_BYTES)))
                else:
                    connection.received(conn.recv(RECV_BYTES))
            elif waker is not None:
                if not _wait_readable(waker.fd, idle_timeout):
                    raise TimeoutError("no output from the protocol within the idle timeout")
                waker.clear()
            elif connection.wedged(output_pending=False, has_waker=False):
                log.warning("protocol %s paused input with nothing to send: closing", type(protocol).__name__)
                break
    except OSError as exc:  # includes TimeoutError, ConnectionResetError, BrokenPipeError
        log.debug("connection ended by peer or timeout: %r", exc)
    finally:
        connection.abort()
        conn.close()
        if waker is not None:
            waker.close()


def _readable_before_wake(conn: socket.socket, waker: EventfdWaker, timeout: float) -> bool:
    """Wait for the socket or the waker; True when the socket is readable (or errored).

    Raises:
        TimeoutError: neither within ``timeout``.
    """
    poller = select.poll()
    poller.register(conn, select.POLLIN)
    poller.register(waker.fd, select.POLLIN)
    ready = dict(poller.poll(timeout * 1000))
    if not ready:
        raise TimeoutError("idle timeout")
    if waker.fd in ready:
        waker.clear()
        return False
    return True


def _wait_readable(fd: int, timeout: float) -> bool:
    readable, _, _ = select.select([fd], [], [], timeout)
    return bool(readable)


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
        self._shut_down = False

    def add(self, conn: socket.socket) -> None:
        """Track ``conn``; after :meth:`shutdown_all`, shut it down at once instead.

        A connection accepted just as the stop runs reaches here after the stop took its
        list: tracked but never shut down, its thread would sit in ``recv`` for the whole
        idle timeout and the stop would outlast its grace period.
        """
        with self._lock:
            self._live.add(conn)
            if self._shut_down:
                _shut_down_quietly(conn)

    def discard(self, conn: socket.socket) -> None:
        with self._lock:
            self._live.discard(conn)

    def serve(
        self, conn: socket.socket, protocol: StreamProtocol, idle_timeout: float, traits: RunnerTraits
    ) -> None:
        """:func:`serve_connection`, with ``conn`` tracked while it is served."""
        self.add(conn)
        try:
            serve_connection(conn, protocol, idle_timeout, traits)
        finally:
            self.discard(conn)

    def shutdown_all(self) -> None:
        """Shut down every live connection, and every one added from now on."""
        with self._lock:
            self._shut_down = True
            live = list(self._live)
        for conn in live:
            _shut_down_quietly(conn)


def _shut_down_quietly(conn: socket.socket) -> None:
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed by its owner
