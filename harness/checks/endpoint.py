"""An endpoint to check, and the per-case deadline every network wait is bounded by.

A checker is handed an :class:`Endpoint`: where the server is, and a :class:`Deadline`, the
case's whole time budget (``--case-timeout``, 30 s by default). Every wait a checker makes
is the smaller of its own limit (a connect timeout, a "no byte moved for 5 s" stall limit)
and what is left of the budget; once the budget is spent, every further network operation
fails at once. That is what keeps a hostile target bounded: a server that never answers
costs one stall limit per case, and a property test that keeps finding slow examples cannot
multiply the wait by its example count (a hypothesis run replays and shrinks failing
examples; each would otherwise wait out its own timeout).

A TLS endpoint (``tls`` set: a client ``ssl.SSLContext``, and the ``server_name`` to verify)
returns from :meth:`Endpoint.connect` a :class:`~harness.checks.tls_connection.TlsClientConnection`
whose handshake is already complete: it has the socket surface the checkers use, so every
stream check runs unchanged over TLS. A handshake that fails or does not finish is the
target's, like a refused connect.

Connection failures are the target's: refused is "unreachable", a connect that never
completes is "timeout", a reset during the handshake is "reset" — all
:class:`~harness.verdicts.ConformanceFailure`. Errors of our own machine (no ephemeral
port left, EMFILE) are not conformance failures and propagate as ERROR.
"""

from __future__ import annotations

import dataclasses
import errno
import socket
import ssl
import struct
import time
from dataclasses import dataclass, field
from typing import Callable, Union

from harness.checks.pace import PaceLog, spent_budget_failure
from harness.checks.tls_connection import TlsClientConnection, tls_handshake
from harness.verdicts import ConformanceFailure, describe_reset, describe_timeout, describe_unreachable

# A loopback connect completes in microseconds (the kernel queues it in the backlog even if
# the server never calls accept); 5 s is only reached by a filtered or wedged port.
CONNECT_TIMEOUT_S = 5.0

# What Endpoint.connect returns: a socket, or a TLS connection with the same surface.
Connection = Union[socket.socket, TlsClientConnection]

# socket error numbers that mean "nobody is there", reported as unreachable.
_UNREACHABLE_ERRNOS = {errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH}


class Deadline:
    """A time budget, started on construction, that every network wait is capped by.

    Args:
        budget_s: the budget in seconds (must be positive).
        clock: a monotonic clock (a fake one in unit tests).

    Attributes:
        pace: the case's exchanges, recorded by the conversation loop, read when the budget
            is spent to tell a slow target from a dripping one (:mod:`harness.checks.pace`).
    """

    def __init__(self, budget_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        if budget_s <= 0:
            raise ValueError(f"a deadline needs a positive budget, got {budget_s}")
        self.budget_s = budget_s
        self._clock = clock
        self._started = clock()
        self.pace = PaceLog()

    def elapsed(self) -> float:
        """Seconds since the deadline started."""
        return self._clock() - self._started

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self.budget_s - self.elapsed())

    @property
    def spent(self) -> bool:
        return self.remaining() <= 0.0

    def cap(self, limit_s: float) -> float:
        """``min(limit_s, remaining())``: how long one wait may last."""
        return max(0.0, min(limit_s, self.remaining()))

    def spent_description(self) -> str:
        """The ``why`` of a timeout caused by the budget running out."""
        return f"the case's budget of {self.budget_s:g} s (--case-timeout) was spent"

    def spent_failure(self, expected: str, actual: str) -> ConformanceFailure:
        """The failure a spent budget amounts to, given the case's pace: FAILED for a drip or
        no complete reply, :class:`~harness.verdicts.TargetTooSlow` for a slow, correct target."""
        return spent_budget_failure(expected, actual, self.budget_s, self.elapsed(), self.pace)

    def __repr__(self) -> str:
        return f"Deadline(budget_s={self.budget_s:g}, remaining={self.remaining():.3f})"


def format_host_port(host: str, port: int) -> str:
    """``127.0.0.1:7`` or ``[::1]:7``."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True)
class Endpoint:
    """A server to check: where it listens, and the case's deadline.

    Attributes:
        host: a loopback address or ``localhost``.
        port: its TCP port.
        deadline: the case's budget; shared by every connection the checker opens.
        tls: a client TLS context to speak TLS with, or None for plain TCP.
        server_name: the name the server's certificate is verified for (default: ``host``).
    """

    host: str
    port: int
    deadline: Deadline = field(compare=False)
    tls: ssl.SSLContext | None = field(default=None, compare=False)
    server_name: str | None = None

    @property
    def address_text(self) -> str:
        return format_host_port(self.host, self.port)

    @property
    def tls_server_name(self) -> str:
        """The name the certificate must be valid for."""
        return self.server_name or self.host

    def connect(self, *, nodelay: bool = True, timeout: float = CONNECT_TIMEOUT_S) -> Connection:
        """Open a TCP connection, make it non-blocking and, on a TLS endpoint, run the handshake.

        Args:
            nodelay: set TCP_NODELAY, so that each ``send`` leaves as its own segment
                (checks of split sends depend on it).
            timeout: the connect limit, further capped by the deadline.

        Returns:
            A connected, non-blocking socket; on a TLS endpoint, a
            :class:`~harness.checks.tls_connection.TlsClientConnection` past its handshake.

        Raises:
            ConformanceFailure: refused or unreachable, no handshake (TCP or TLS) in time,
                reset, a failed TLS handshake, or the case's budget already spent.

        Resource handling: the caller owns the connection and must close it.
        """
        expected = f"a TCP connection to {self.address_text} accepted"
        if self.deadline.spent:
            raise self.deadline.spent_failure(
                expected,
                describe_timeout(self.deadline.budget_s, 0, why=self.deadline.spent_description()),
            )
        wait = self.deadline.cap(timeout)
        try:
            sock = socket.create_connection((self.host, self.port), timeout=wait)
        except ConnectionRefusedError:
            raise ConformanceFailure(expected, describe_unreachable(self.address_text)) from None
        except TimeoutError:
            raise ConformanceFailure(
                expected, describe_timeout(wait, 0, why="the TCP handshake did not complete")
            ) from None
        except ConnectionResetError:
            raise ConformanceFailure(expected, describe_reset(0) + " during the handshake") from None
        except OSError as exc:
            if exc.errno in _UNREACHABLE_ERRNOS:
                reason = (exc.strerror or str(exc)).lower()
                raise ConformanceFailure(expected, describe_unreachable(self.address_text, reason)) from None
            raise
        try:
            if nodelay:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        if self.tls is None:
            return sock
        try:
            return tls_handshake(
                sock,
                self.tls,
                self.tls_server_name,
                timeout=self.deadline.cap(timeout),
                address_text=self.address_text,
            )
        except ConformanceFailure as failure:
            if not self.deadline.spent:
                raise
            raise self.deadline.spent_failure(
                failure.expected, f"{failure.actual}; {self.deadline.spent_description()}"
            ) from None

    def connect_plain(self, *, nodelay: bool = True, timeout: float = CONNECT_TIMEOUT_S) -> socket.socket:
        """A plain TCP connection even to a TLS endpoint (a client that does not speak TLS)."""
        return dataclasses.replace(self, tls=None).connect(nodelay=nodelay, timeout=timeout)  # type: ignore[return-value]


def abort_connection(sock: Connection) -> None:
    """Close ``sock`` with a reset (RST) instead of an orderly FIN.

    SO_LINGER on with a zero timeout makes ``close`` discard unsent data and send RST:
    the rudest way a client can leave, which a server must survive.

    Resource handling: ``sock`` is closed on return.
    """
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass  # already reset by the peer: closing is all that is left
    finally:
        sock.close()


def half_close(sock: Connection) -> None:
    """Shut down the sending side (FIN; over TLS, close_notify then FIN) and keep reading.

    An error here means the peer already reset the connection; it is not raised, because the
    reads that follow observe the reset and report it.
    """
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass
