"""What every runner is: a concurrency model that serves a protocol on a listening socket.

A runner owns accept, read, write, timeouts, cleanup and the one error boundary, and knows
nothing of protocols beyond the sans-IO interface in ``harness.protocols.base``. The
listening socket is opened by :func:`open_listener` before the runner starts, so that
``wirecheck serve`` can print READY the moment the kernel is queueing connections, and so
that every runner binds the same way (loopback by default, one backlog, one reuse policy).

Lifecycle: ``serve()`` runs in the main thread until ``request_stop()`` is called (from a
signal handler, also in the main thread, between two bytecodes of ``serve``). ``serve()``
returns only once every thread and child process it started has been reaped and every socket
it opened is closed; the listener is closed by ``serve()`` too.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import signal
import socket
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterator, TypeVar

from harness.protocols.base import RunnerTraits

log = logging.getLogger("wirecheck.runner")

# socketserver's default of 5 overflows under a burst of connects (load tests open 1000 at
# once); the kernel clamps this to net.core.somaxconn (4096 on current Linux).
LISTEN_BACKLOG = 4096

# One recv() per readiness event: large enough that 16 MiB moves in a few thousand calls,
# small enough that a thousand connections' buffers stay modest.
RECV_BYTES = 65536

# The most output pulled from a protocol at once, so a memoryview over a large body is sliced,
# not copied. 2 MiB, the array relay's largest read (protocols/arrays.py RING_READ_BYTES): a
# read sent back in one call. Measured on array-tcp, 1 GiB each way at 1 MiB writes, server on
# its own core: with 256 KiB pulls of 1 MiB reads the server spent 0.46-0.47 s of kernel CPU per
# GiB, with 1 MiB pulls 0.35-0.38 (threading and uvloop, 3 transfers each).
SEND_BYTES = 2 << 20

# A connection with no traffic for this long is closed by the server, so that an idle or
# vanished client cannot hold a thread, a process or a pool slot forever.
DEFAULT_IDLE_TIMEOUT_S = 120.0

# Lingering close: when the protocol is done before the peer is (a daytime server, which
# speaks and closes, with the client's bytes still arriving), close() with unread input
# makes the kernel send RST instead of FIN, and the client may lose the reply. So the server
# half-closes, reads and discards until the peer's EOF, for at most this long and this much
# (Apache's lingering close waits 2 s; nginx's lingering_timeout is 5 s).
LINGER_TIMEOUT_S = 2.0
LINGER_MAX_BYTES = 1 << 20

# How long serve() waits for children and threads to finish after a stop before it kills
# (processes) or abandons (daemon threads) them.
STOP_GRACE_S = 5.0


# The signals that mean "stop" to every wirecheck server.
STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT})


@contextlib.contextmanager
def stop_signals_blocked():
    """Hold SIGTERM/SIGINT pending across a ``fork()``, or keep them from threads started inside.

    Threads started inside inherit the block for good, which is the point for helper
    threads: a process-directed signal goes to whichever thread is not blocking it, and one
    taken by a helper thread does not wake a main thread asleep in a lock wait.

    Across a fork: without this, a stop arriving between ``fork()`` and the child's first line
    runs the parent's Python handler in the child, which only sets the child's copy of a flag:
    the child then ignores the stop. Blocked, the signal waits; the parent receives it when the
    block ends, the child (whose mask is inherited) once it has installed its own handlers
    and called :func:`unblock_stop_signals`.
    """
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def unblock_stop_signals() -> None:
    """In a forked child, after installing its handlers: let pending stops through."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


@dataclass(frozen=True)
class RunnerOptions:
    """Knobs common to all runners.

    Attributes:
        workers: pool size for the pre-forked runners; None lets the runner choose.
        idle_timeout: seconds a connection may be silent before the server closes it.
    """

    workers: int | None = None
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT_S


class Runner(ABC):
    """A concurrency model. Subclasses implement :meth:`serve` and :meth:`request_stop`.

    Args:
        protocol_factory: makes a fresh protocol object (one per connection for a stream
            runner, one per server for a datagram runner). It is already configured, and for
            TLS already wrapped in the TLS layer: a runner never sees a service or a key.
        listener: a bound socket (listening, for TCP) that the runner now owns.
        options: common knobs.
        traits: the runner's registry traits, handed to every protocol in its context.

    Resource handling: the runner owns ``listener`` from construction on and closes it
    before ``serve()`` returns.
    """

    def __init__(
        self,
        protocol_factory: Callable[[], Any],
        listener: socket.socket,
        options: RunnerOptions,
        traits: RunnerTraits,
    ) -> None:
        self.protocol_factory = protocol_factory
        self.listener = listener
        self.options = options
        self.traits = traits

    @abstractmethod
    def serve(self) -> None:
        """Serve until :meth:`request_stop`; reap every thread and child before returning."""

    @abstractmethod
    def request_stop(self) -> None:
        """Ask :meth:`serve` to return. Safe to call from a signal handler, more than once."""


def open_listener(host: str, port: int, transport: str) -> socket.socket:
    """Bind (and for TCP, listen on) ``host:port``.

    Args:
        host: an address literal or name; ``127.0.0.1`` is the default everywhere, because
            binding every interface (the chapter's ``''``) exposes a test server to the LAN.
        port: 0 for an ephemeral port.
        transport: ``tcp`` or ``udp``.

    Returns:
        The bound socket, blocking, with SO_REUSEADDR set for TCP (a restarted server must
        not wait out TIME_WAIT).

    Raises:
        OSError: the address is unavailable or in use.
    """
    infos = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM if transport == "tcp" else socket.SOCK_DGRAM
    )
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        if transport == "tcp":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        if transport == "tcp":
            sock.listen(LISTEN_BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock


def format_address(sock: socket.socket) -> str:
    """``host:port`` of a bound socket, with IPv6 hosts in brackets (``[::1]:7``)."""
    host, port = sock.getsockname()[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


WokenItem = TypeVar("WokenItem")


class WakeQueue(Generic[WokenItem]):
    """Items handed to an event loop from other threads, with one signal per batch.

    ``put`` (any thread) queues an item and signals the loop (a byte on its wake socket, a
    ``call_soon_threadsafe``) only when no signal is pending; the loop's ``take_all`` clears
    that flag before it takes anything. A signal per item was a system call that also handed
    the GIL back and forth, and under load several pool workers finish before the loop comes
    round. Safe without a lock: an item is queued before the flag is read and the flag is
    cleared before the queue is drained, so a ``put`` that finds the flag set is taken by a
    drain still to come; two that both find it clear both signal (one pass for nothing).
    """

    def __init__(self, signal_loop: Callable[[], None]) -> None:
        self._items: collections.deque[WokenItem] = collections.deque()  # append/popleft atomic
        self._signal_pending = False
        self._signal_loop = signal_loop

    def put(self, item: WokenItem) -> None:
        self._items.append(item)
        if not self._signal_pending:
            self._signal_pending = True
            self._signal_loop()

    def take_all(self) -> Iterator[WokenItem]:
        """On the loop's thread: every item queued, including those queued meanwhile."""
        self._signal_pending = False
        items = self._items
        while items:
            yield items.popleft()
