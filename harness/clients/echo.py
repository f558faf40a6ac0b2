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

This is the one echo client: the load generators drive it through the requesters at the end
of this module (:func:`stream_echo_requester`, :func:`line_echo_requester`,
:func:`datagram_echo_requester`, named by the echo services' load profiles), so a locust user,
the plain threaded client and a script check an echo with the same code.
"""

from __future__ import annotations

import socket
import time
from typing import Callable

from harness.checks.endpoint import Deadline, format_host_port
from harness.checks.stream import Conversation, Ending, converse
from harness.clients.datagram import DatagramConnection
from harness.clients.requesters import ConnectionRequester, RequestOptions, RoundTripError, interrupt_socket
from harness.loadgen.payloads import numbered_payload
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


def open_connection(host: str, port: int, timeout: float | None) -> socket.socket:
    """Connect over TCP without a name lookup when ``host`` is an address literal.

    ``socket.create_connection`` always calls ``getaddrinfo``, which gevent runs on a small
    thread pool: 1000 locust users connecting at once then queue behind it for up to a
    second, and that delay would be reported as the server's. ``connect`` on a literal skips
    the lookup.

    Raises:
        OSError: the connect failed (refused, timed out...).
    """
    if host.lower() == "localhost":
        return socket.create_connection((host, port), timeout=timeout)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


class EchoError(RoundTripError):
    """The server did not echo the payload back; the message says what happened instead."""


class EchoMismatchError(EchoError, AssertionError):
    """Bytes came back that differ from those sent, or more than were sent (the peer broke
    RFC 862)."""


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
        timeout: seconds the connect and each round trip may take.
        wait_for_interrupt: wait for each reply without a timeout, until it comes or
            :meth:`interrupt` is called (for a caller with its own watchdog: locust's users).
        preamble: what an authenticated service's client does on the new connection before
            the first echo (a challenge answered), with :meth:`send`, :meth:`receive_exactly`
            and :meth:`echo`; every wait in it is bounded by ``timeout`` even with
            ``wait_for_interrupt`` (no watchdog is watching a connection not yet made).

    Raises:
        EchoUnreachableError: connection refused.
        EchoTimeoutError: the TCP handshake or the preamble did not complete in time.
        RoundTripError: what ``preamble`` raised (the connection is then closed).

    Resource handling: the connection is open from construction until :meth:`close` (or the
    end of a ``with`` block); after an :class:`EchoError` the stream is out of step, so
    the caller should close it and connect anew.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        wait_for_interrupt: bool = False,
        preamble: Callable[["EchoConnection"], None] | None = None,
    ) -> None:
        self.address = format_host_port(host, port)
        self.timeout = timeout
        try:
            self._sock = open_connection(host, port, timeout)
        except ConnectionRefusedError:
            raise EchoUnreachableError(describe_unreachable(self.address)) from None
        except TimeoutError:
            raise EchoTimeoutError(
                describe_timeout(timeout, 0, why="the TCP handshake did not complete")
            ) from None
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buffer = bytearray()
        if preamble is not None:
            self._reply_timeout: float | None = timeout
            self._sock.settimeout(timeout)
            try:
                preamble(self)
            except BaseException:
                self._sock.close()
                raise
        self._reply_timeout = None if wait_for_interrupt else timeout
        self._sock.settimeout(self._reply_timeout)

    def send(self, data: bytes) -> None:
        """Write all of ``data`` (a preamble's message).

        Raises:
            EchoResetError: the server reset the connection.
            EchoTimeoutError: the server did not take it within the timeout.
        """
        try:
            self._sock.sendall(data)
        except TimeoutError:
            raise EchoTimeoutError(describe_timeout(self.timeout, 0, why="the server took none of our message")) from None
        except (ConnectionResetError, BrokenPipeError):
            raise EchoResetError(describe_reset(0)) from None

    def receive_exactly(self, count: int) -> bytes:
        """Read exactly ``count`` bytes (a preamble's message from the server).

        Raises:
            EchoClosedError, EchoResetError, EchoTimeoutError: fewer came; the message says
                how many, and how the stream ended.
        """
        data = bytearray()
        try:
            while len(data) < count:
                chunk = self._sock.recv(count - len(data))
                if not chunk:
                    raise EchoClosedError(describe_close(len(data), count))
                data += chunk
        except TimeoutError:
            raise EchoTimeoutError(describe_timeout(self.timeout, len(data), count)) from None
        except ConnectionResetError:
            raise EchoResetError(describe_reset(len(data), count)) from None
        return bytes(data)

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
            self._echo_blocking(payload)
        else:
            self._echo_concurrently(payload)
        return time.perf_counter() - started

    def _echo_blocking(self, payload: bytes) -> None:
        # The socket keeps the connection's timeout between round trips; it is narrowed only
        # when a reply arrives in pieces (one syscall less per small echo, which is what load
        # tests measure most).
        sock = self._sock
        size = len(payload)
        if len(self._buffer) < size:
            self._buffer = bytearray(size)
        view = memoryview(self._buffer)
        received = 0
        deadline = None if self._reply_timeout is None else time.monotonic() + self._reply_timeout
        try:
            sock.sendall(payload)
            while received < size:
                count = sock.recv_into(view[received:size])
                if count == 0:
                    raise EchoClosedError(describe_close(received, size))
                if view[received : received + count] != payload[received : received + count]:
                    raise EchoMismatchError(describe_data(payload, bytes(view[: received + count])))
                received += count
                if received < size and deadline is not None:
                    sock.settimeout(max(deadline - time.monotonic(), 1e-6))
        except TimeoutError:
            raise EchoTimeoutError(describe_timeout(self.timeout, received, size)) from None
        except (ConnectionResetError, BrokenPipeError):
            raise EchoResetError(describe_reset(received, size)) from None
        finally:
            if received and sock.gettimeout() != self._reply_timeout:
                sock.settimeout(self._reply_timeout)

    def _echo_concurrently(self, payload: bytes) -> None:
        self._sock.setblocking(False)
        try:
            conversation = Conversation(self._sock, [payload], payload)
            converse([conversation], Deadline(self.timeout), stall_timeout=self.timeout)
        finally:
            self._sock.settimeout(self._reply_timeout)
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

    def interrupt(self) -> None:
        """End a round trip blocked in another thread or greenlet: its read sees the end of
        the stream (the caller's watchdog then reports a timeout)."""
        interrupt_socket(self._sock)

    def abort(self) -> None:
        """Close at once, without waiting for the server's FIN (a load generator's close)."""
        self._sock.close()

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


def check_echo_datagram(request: bytes, reply: bytes) -> None:
    """RFC 862 over UDP: "Once a datagram is received, the data from it is sent back".

    Raises:
        EchoMismatchError: the reply differs from the request.
    """
    if reply != request:
        raise EchoMismatchError(describe_data(request, reply))


# --- requesters for the load generators (harness/clients/requesters.py) ---------------------


def requester_connection(
    address: tuple[str, int], options: RequestOptions, preamble: Callable[[EchoConnection], None] | None = None
) -> EchoConnection:
    """An :class:`EchoConnection` bounded as a requester's ``options`` say: by the reply
    timeout, or (when the caller's watchdog bounds replies) by the connect timeout until the
    connection and its ``preamble`` are done."""
    return EchoConnection(
        *address,
        timeout=options.connect_timeout_s if options.reply_timeout_s is None else options.reply_timeout_s,
        wait_for_interrupt=options.reply_timeout_s is None,
        preamble=preamble,
    )


class StreamEchoRequester(ConnectionRequester):
    """Numbered payloads (one LF-terminated line each with ``line``) echoed over one TCP
    connection, every byte checked.

    Args:
        preamble: an authenticated echo's handshake, run once the connection is made (see
            :class:`EchoConnection`).
        frame: wraps each payload in the service's framing (a length header); the reply must
            be the whole framed request again.
    """

    def __init__(
        self,
        address: tuple[str, int],
        options: RequestOptions,
        *,
        line: bool = False,
        preamble: Callable[[EchoConnection], None] | None = None,
        frame: Callable[[bytes], bytes] | None = None,
    ) -> None:
        super().__init__(options)
        self.line = line
        self.frame = frame
        self.connection = requester_connection(address, options, preamble)

    def request(self) -> int:
        payload = numbered_payload(self.next_sequence(), self.options.payload_bytes, line=self.line)
        if self.frame is not None:
            payload = self.frame(payload)
        self.connection.echo(payload)
        return len(payload)

    def close(self) -> None:
        self.connection.abort()


class DatagramEchoRequester(ConnectionRequester):
    """Numbered payloads echoed over one connected UDP socket, every reply checked."""

    def __init__(self, address: tuple[str, int], options: RequestOptions) -> None:
        super().__init__(options)
        self.connection = DatagramConnection(address, timeout=options.reply_timeout_s)

    def request(self) -> int:
        payload = numbered_payload(self.next_sequence(), self.options.payload_bytes)
        reply = self.connection.exchange(payload)
        check_echo_datagram(payload, reply)
        return len(reply)


def stream_echo_requester(address: tuple[str, int], options: RequestOptions) -> StreamEchoRequester:
    """RFC 862 over TCP."""
    return StreamEchoRequester(address, options)


def line_echo_requester(address: tuple[str, int], options: RequestOptions) -> StreamEchoRequester:
    """The chapter's line echo: each request one LF-terminated line."""
    return StreamEchoRequester(address, options, line=True)


def datagram_echo_requester(address: tuple[str, int], options: RequestOptions) -> DatagramEchoRequester:
    """RFC 862 over UDP."""
    return DatagramEchoRequester(address, options)
