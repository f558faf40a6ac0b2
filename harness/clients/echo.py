"""A TCP echo client (RFC 862): send a payload, get exactly it back, within a deadline.

The chapter's client is ``s.send(b'hello')`` then ``s.recv(8192)``. Both calls are wrong in
general: ``send`` may write only part of its argument, and TCP is a byte stream, not a
message service, so one ``recv`` may return part of the echo (or, against a dead server,
block forever). A correct client loops until every byte is written and every byte has come
back, under a deadline. And for a payload larger than the socket buffers, writing everything
before reading deadlocks against a correct server (it blocks writing the echo we are not
reading, so it stops reading what we write): large payloads are written and read at once,
by the same non-blocking loop the conformance checks use (``harness.checks.stream``).

:class:`EchoConnection` keeps one connection for many round trips (what the load tests do:
persistent connections, one echo per request); :func:`echo_once` is the one-shot form.
Every failure is an :class:`EchoError` whose message uses the suites' wording for what was
observed (data with a hexdump, orderly close, reset, timeout, unreachable), and whose
subclass says which, so a load test can count timeouts apart from wrong replies.
"""

from __future__ import annotations

import socket
import time

from harness.checks.endpoint import Deadline, format_host_port
from harness.checks.stream import Conversation, Ending, converse
from harness.verdicts import (
    describe_close,
    describe_data,
    describe_reset,
    describe_timeout,
    describe_unreachable,
)

# Generous for loopback, where an echo takes microseconds; a load test measuring a server
# at its limit may want more.
DEFAULT_TIMEOUT_S = 5.0

# Payloads up to this size fit in both directions' loopback socket buffers, so a blocking
# sendall-then-recv round trip cannot deadlock; larger ones go through the concurrent loop.
# (The blocking path costs two syscalls per small echo: what load tests measure most.)
BLOCKING_ROUND_TRIP_MAX_BYTES = 65536

RECV_BYTES = 65536


class EchoError(Exception):
    """The server did not echo the payload back; the message says what happened instead."""


class EchoMismatchError(EchoError):
    """Bytes came back that differ from those sent, or more than were sent."""


class EchoClosedError(EchoError):
    """The server closed the connection (EOF) before the whole echo came back."""


class EchoResetError(EchoError):
    """The server reset the connection."""


class EchoTimeoutError(EchoError, TimeoutError):
    """The whole echo did not come back within the timeout."""


class EchoUnreachableError(EchoError, ConnectionRefusedError):
    """Nobody listens at the address (connection refused)."""


class EchoConnection:
    """One TCP connection to an echo server, for any number of round trips.

    Args:
        host: the server's address (loopback, in this project).
        port: its TCP port.
        timeout: seconds each round trip (and the connect) may take.

    Raises:
        EchoUnreachableError: connection refused.
        EchoTimeoutError: the handshake did not complete in time.

    Resource handling: the connection is open from construction until :meth:`close` (or the
    end of a ``with`` block); after an :class:`EchoError` the stream is out of step, so
    the caller should close it and connect anew.
    """

    def __init__(self, host: str, port: int, *, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.address = format_host_port(host, port)
        self.timeout = timeout
        try:
            self._sock = socket.create_connection((host, port), timeout=timeout)
        except ConnectionRefusedError:
            raise EchoUnreachableError(describe_unreachable(self.address)) from None
        except TimeoutError:
            raise EchoTimeoutError(
                describe_timeout(timeout, 0, why="the TCP handshake did not complete")
            ) from None
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def echo(self, payload: bytes) -> float:
        """Send ``payload`` and wait until exactly it has come back.

        Returns:
            The round-trip time in seconds (from the first byte written to the last read).

        Raises:
            EchoMismatchError, EchoClosedError, EchoResetError, EchoTimeoutError: the echo
                did not come back intact; the message says what did.
        """
        started = time.perf_counter()
        if len(payload) <= BLOCKING_ROUND_TRIP_MAX_BYTES:
            self._echo_blocking(payload, time.monotonic() + self.timeout)
        else:
            self._echo_concurrently(payload)
        return time.perf_counter() - started

    def _echo_blocking(self, payload: bytes, deadline: float) -> None:
        sock = self._sock
        received = bytearray()
        try:
            sock.settimeout(self.timeout)
            sock.sendall(payload)
            while len(received) < len(payload):
                sock.settimeout(max(deadline - time.monotonic(), 1e-6))
                data = sock.recv(min(RECV_BYTES, len(payload) - len(received)))
                if not data:
                    raise EchoClosedError(describe_close(len(received), len(payload)))
                start = len(received)
                received += data
                if payload[start : len(received)] != data:
                    raise EchoMismatchError(describe_data(payload, bytes(received)))
        except TimeoutError:
            raise EchoTimeoutError(describe_timeout(self.timeout, len(received), len(payload))) from None
        except (ConnectionResetError, BrokenPipeError):
            raise EchoResetError(describe_reset(len(received), len(payload))) from None

    def _echo_concurrently(self, payload: bytes) -> None:
        self._sock.setblocking(False)
        try:
            conversation = Conversation(self._sock, [payload], payload)
            converse([conversation], Deadline(self.timeout), stall_timeout=self.timeout)
        finally:
            self._sock.setblocking(True)
        received = bytes(conversation.received)
        if conversation.ending is Ending.COMPLETE:
            return
        if conversation.ending is Ending.MISMATCH:
            raise EchoMismatchError(describe_data(payload, received))
        if conversation.ending is Ending.EOF:
            raise EchoClosedError(describe_close(len(received), len(payload)))
        if conversation.ending is Ending.RESET:
            raise EchoResetError(describe_reset(len(received), len(payload)))
        raise EchoTimeoutError(describe_timeout(self.timeout, len(received), len(payload)))

    def close(self) -> None:
        """End the connection the way RFC 862 ends it: the client's FIN, then the server's.

        Sends FIN (``shutdown(SHUT_WR)``), waits up to the timeout for the server's EOF
        (discarding anything else), then closes. Never raises for the server's behaviour.
        """
        sock = self._sock
        try:
            sock.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + self.timeout
            while (remaining := deadline - time.monotonic()) > 0:
                sock.settimeout(remaining)
                if not sock.recv(RECV_BYTES):
                    break
        except OSError:
            pass  # reset, timeout, already closed: closing is all that is left
        finally:
            sock.close()

    def __enter__(self) -> "EchoConnection":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def echo_once(host: str, port: int, payload: bytes, *, timeout: float = DEFAULT_TIMEOUT_S) -> float:
    """Connect, echo ``payload`` once, close. Returns the round-trip time in seconds.

    Raises:
        EchoError: as :meth:`EchoConnection.echo`, or unreachable / connect timeout.
    """
    with EchoConnection(host, port, timeout=timeout) as connection:
        return connection.echo(payload)
