"""An endpoint to check, and the per-case deadline every network wait is bounded by.

A checker is handed an :class:`Endpoint`: where the server is, and a :class:`Deadline`, the
case's whole time budget (``--case-timeout``, 30 s by default). Every wait a checker makes
is the smaller of its own limit (a connect timeout, a "no byte moved for 5 s" stall limit)
and what is left of the budget; once the budget is spent, every further network operation
fails at once. That is what keeps a hostile target bounded: a server that never answers
costs one stall limit per case, and a property test that keeps finding slow examples cannot
multiply the wait by its example count (a hypothesis run replays and shrinks failing
examples; each would otherwise wait out its own timeout).

Connection failures are the target's: refused is "unreachable", a connect that never
completes is "timeout", a reset during the handshake is "reset" — all
:class:`~harness.verdicts.ConformanceFailure`. Errors of our own machine (no ephemeral
port left, EMFILE) are not conformance failures and propagate as ERROR.
"""

from __future__ import annotations

import errno
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Callable

from harness.verdicts import ConformanceFailure, describe_reset, describe_timeout, describe_unreachable

# A loopback connect completes in microseconds (the kernel queues it in the backlog even if
# the server never calls accept); 5 s is only reached by a filtered or wedged port.
CONNECT_TIMEOUT_S = 5.0

# socket error numbers that mean "nobody is there", reported as unreachable.
_UNREACHABLE_ERRNOS = {errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH}


class Deadline:
    """A time budget, started on construction, that every network wait is capped by.

    Args:
        budget_s: the budget in seconds (must be positive).
        clock: a monotonic clock (a fake one in unit tests).
    """

    def __init__(self, budget_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        if budget_s <= 0:
            raise ValueError(f"a deadline needs a positive budget, got {budget_s}")
        self.budget_s = budget_s
        self._clock = clock
        self._started = clock()

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
    """

    host: str
    port: int
    deadline: Deadline = field(compare=False)

    @property
    def address_text(self) -> str:
        return format_host_port(self.host, self.port)

    def connect(self, *, nodelay: bool = True, timeout: float = CONNECT_TIMEOUT_S) -> socket.socket:
        """Open a TCP connection, then make it non-blocking.

        Args:
            nodelay: set TCP_NODELAY, so that each ``send`` leaves as its own segment
                (checks of split sends depend on it).
            timeout: the connect limit, further capped by the deadline.

        Returns:
            A connected, non-blocking socket.

        Raises:
            ConformanceFailure: refused or unreachable, no handshake in time, reset, or the
                case's budget already spent.

        Resource handling: the caller owns the socket and must close it.
        """
        expected = f"a TCP connection to {self.address_text} accepted"
        if self.deadline.spent:
            raise ConformanceFailure(
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
        return sock


def abort_connection(sock: socket.socket) -> None:
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
