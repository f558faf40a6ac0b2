"""One request datagram, one reply, with the retries UDP needs and a clear error without.

UDP may drop a request or a reply, so a client that waits once and gives up reports a
healthy server as dead, and one that waits forever hangs on a dead one (the chapter's
``s.recvfrom(8192)`` does the latter). :func:`request_datagram` sends, waits a bounded
time, resends up to ``attempts`` times, and then says exactly what it tried.

The client socket is connected to the server's address: the kernel then delivers only
datagrams from that address and port, which is how a client knows a reply is an answer and
not stray traffic (and why a server must answer from the socket the request reached).
"""

from __future__ import annotations

import select
import socket
from typing import Any, Iterable

from harness.clients.requesters import interrupt_socket

# Loopback answers in microseconds; a second is generous per try, three tries ride out a
# dropped datagram without making a dead server slow to report.
DEFAULT_TIMEOUT_S = 1.0
DEFAULT_ATTEMPTS = 3

# Larger than any UDP payload (65,507 bytes over IPv4), so nothing is silently truncated.
RECEIVE_BUFFER_BYTES = 65536 + 1


class NoAnswerError(TimeoutError):
    """No reply arrived from the server after every attempt."""


def ask(
    sock: socket.socket, payload: bytes, address: Any, waits: Iterable[float]
) -> tuple[bytes, Any] | None:
    """Send ``payload`` once per entry of ``waits``, waiting that long for a reply each time.

    The one retry loop of every datagram client here, the suites' checkers included (they
    pass waits capped by the case's deadline, drawn lazily, one per try).

    Args:
        sock: a UDP socket, connected (``address`` None) or not.
        payload: the request.
        address: where to send it; None on a connected socket.
        waits: seconds to wait after each send; a wait of 0 or less ends the tries.

    Returns:
        ``(reply, source address)`` of the first datagram received, or None if none came.

    Raises:
        ConnectionRefusedError: on a connected socket, an ICMP "port unreachable" came back.
    """
    for wait in waits:
        if wait <= 0:
            break
        if address is None:
            sock.send(payload)
        else:
            sock.sendto(payload, address)
        readable, _, _ = select.select([sock], [], [], wait)
        if readable:
            try:
                return sock.recvfrom(RECEIVE_BUFFER_BYTES)
            except (BlockingIOError, InterruptedError):
                continue
    return None


def request_datagram(
    host: str,
    port: int,
    payload: bytes = b"",
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    attempts: int = DEFAULT_ATTEMPTS,
) -> bytes:
    """Send ``payload`` to ``host:port`` and return the first reply.

    Args:
        host: the server's address.
        port: its UDP port.
        payload: the request (RFC 867/868 ignore its content; echo returns it).
        timeout: seconds to wait for a reply after each send.
        attempts: sends before giving up (at least 1).

    Returns:
        The reply datagram.

    Raises:
        NoAnswerError: no reply after ``attempts`` sends; the message says how long was waited.
        ConnectionRefusedError: the host said nobody listens on that port (ICMP port
            unreachable, reported by the kernel on a connected socket).
    """
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.connect((host, port))
        answer = ask(sock, payload, None, [timeout] * attempts)
    if answer is not None:
        return answer[0]
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    raise NoAnswerError(
        f"no reply from {where} (udp) after {attempts} request(s), {timeout:g} s each"
    )


class DatagramConnection:
    """One connected UDP socket for a sequence of request/reply exchanges, without retries.

    For load generators, which must count a lost datagram rather than hide it behind a
    retry (:func:`request_datagram` is the retrying client). Connected, so the kernel
    delivers only datagrams from the server's address and port.

    Args:
        address: the server's ``(host, port)``.
        timeout: bound on each wait for a reply, or None to wait until :meth:`interrupt`.

    Resource handling: owns its socket from construction until :meth:`close`; after a lost
    reply, close it and open a new one (a new source port), so that the late reply cannot be
    taken for the answer to the next request.
    """

    def __init__(self, address: tuple[str, int], *, timeout: float | None) -> None:
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self._sock.settimeout(timeout)
            self._sock.connect(address)
        except BaseException:
            self._sock.close()
            raise

    def exchange(self, payload: bytes) -> bytes:
        """Send ``payload``, return the first datagram that comes back.

        Raises:
            TimeoutError: nothing came back within the timeout.
            ConnectionRefusedError: ICMP port unreachable came back.
        """
        self._sock.send(payload)
        return self._sock.recv(RECEIVE_BUFFER_BYTES)

    def interrupt(self) -> None:
        """End a wait in :meth:`exchange` from another thread or greenlet (it returns b"")."""
        interrupt_socket(self._sock)

    def close(self) -> None:
        self._sock.close()
