"""Requesters: one checked round trip at a time, the interface every load generator drives.

A load generator must check every reply (an echo must come back byte-exact, a time must be a
time), and it must do so with the same code as the reference clients, or it measures a
cheaper client than the one the suites trust. So the generators (locust's users in
loadtests/, the plain threaded client in harness/loadgen/threaded_client.py) know no
protocol: each drives a *requester*, made by the factory that the service's load profile
names (``LoadProfile.requester`` in harness/services.py), and each requester is a thin
loop around its protocol's one client (harness/clients/echo.py, harness/clients/timekeeping.py).

A requester owns one connection (a TCP connection or a connected UDP socket) from its
construction to :meth:`Requester.close`. Each :meth:`Requester.request` sends the protocol's
next request, waits for the whole reply and checks it; any failure raises one of
:data:`REQUEST_FAILURES`, after which the connection is out of step and the caller closes it
and makes a new requester. A generator with its own watchdog (locust's users) sets
``RequestOptions.reply_timeout_s`` to None and calls :meth:`Requester.interrupt` from another
greenlet when a wait is overdue; the plain threaded client lets the socket time out.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any, Callable, Protocol

# As the locust users' --request-timeout default (harness/loadgen/plugin.py): loopback
# answers in microseconds; a reply not back in 2 s is not coming.
DEFAULT_REQUEST_TIMEOUT_S = 2.0

# As the locust users' --payload-bytes default.
DEFAULT_PAYLOAD_BYTES = 64


class RoundTripError(Exception):
    """The reply did not come back as the protocol requires; the message says what did."""


# What a failed request raises: a socket error (reset, refused, timeout) or a wrong reply.
REQUEST_FAILURES: tuple[type[BaseException], ...] = (OSError, RoundTripError)


@dataclass(frozen=True)
class RequestOptions:
    """How a requester sends and waits.

    Attributes:
        payload_bytes: the size of a request whose size the protocol leaves free (echo).
        connect_timeout_s: bound on a TCP connect.
        reply_timeout_s: bound on each reply, or None when the caller bounds the wait
            itself and ends it with :meth:`Requester.interrupt`.
    """

    payload_bytes: int = DEFAULT_PAYLOAD_BYTES
    connect_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S
    reply_timeout_s: float | None = DEFAULT_REQUEST_TIMEOUT_S


class Requester(Protocol):
    """One connection, one checked request at a time."""

    def request(self) -> int:
        """Send the next request, wait for its whole reply, check it.

        Returns:
            The reply's length in bytes.

        Raises:
            OSError, RoundTripError: the request failed (see :data:`REQUEST_FAILURES`).
        """

    def interrupt(self) -> None:
        """End a wait in :meth:`request` from another thread or greenlet (it then raises)."""

    def close(self) -> None:
        """Release the connection."""


# A service's requester factory: (host, port) and the options to a connected requester.
# Raises OSError when it cannot connect.
RequesterFactory = Callable[[tuple[str, int], RequestOptions], Requester]


class ConnectionRequester:
    """The part every requester shares: a numbered sequence of requests over one connection.

    Subclasses set ``self.connection`` (anything with ``interrupt()`` and ``close()``) and
    implement :meth:`request`, using :meth:`next_sequence` to number their payloads.
    """

    connection: Any

    def __init__(self, options: RequestOptions) -> None:
        self.options = options
        self.sequence = 0

    def next_sequence(self) -> int:
        self.sequence += 1
        return self.sequence

    def request(self) -> int:
        raise NotImplementedError

    def interrupt(self) -> None:
        self.connection.interrupt()

    def close(self) -> None:
        self.connection.close()


def interrupt_socket(sock: socket.socket) -> None:
    """End a ``recv`` blocked on ``sock`` in another thread or greenlet: it returns b"".

    ``shutdown`` wakes the blocked call where ``close`` would not (the descriptor stays
    open until the owner closes it). Never raises: the socket may already be gone.
    """
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class KeepAliveHttpRequester:
    """Base of the HTTP services' requesters: one keep-alive HTTP/1.1 connection (http.client).

    Subclasses implement :meth:`request` over ``self.connection``.

    Raises:
        OSError: from the constructor, when the connect fails.

    Resource handling: the connection is opened here and released by :meth:`close`;
    :meth:`interrupt` shuts its socket down, so a read blocked in another greenlet or thread
    returns at once (and the request raises).
    """

    def __init__(self, address: tuple[str, int], options: RequestOptions) -> None:
        import http.client

        host, port = address
        self.connection = http.client.HTTPConnection(host, port, timeout=options.connect_timeout_s)
        self.connection.connect()
        self.connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connection.sock.settimeout(options.reply_timeout_s)

    def interrupt(self) -> None:
        sock = self.connection.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self.connection.close()
