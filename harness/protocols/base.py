"""The interface every sans-IO protocol object implements, and what a protocol is told.

Theory of operation. A runner owns one protocol object per connection (stream services) or
one per server (datagram services). Nothing here may block, sleep, read a clock or draw
randomness of its own: the clock and the randomness come in through
:class:`ServiceConfig`, and everything else is the runner's job. That is why the same object
can be driven by a blocking thread, a select() loop and an asyncio transport alike.

A stream protocol is driven in four directions, each of which the runner consults rather
than assumes:

- **Input is pushed**: ``data_received`` with whatever ``recv`` returned, ``eof_received``
  once the peer half-closes. A protocol may instead lend the runner its own memory
  (:class:`BufferedStreamProtocol`, after ``asyncio.BufferedProtocol``): ``get_buffer`` gives
  a writable buffer, the runner reads into it (``recv_into``; asyncio's and uvloop's buffered
  transports) and reports the count to ``buffer_updated``, so bytes go from the kernel into
  the protocol's buffer with no ``bytes`` object made per read. The offer is optional and a
  buffered protocol still implements ``data_received``: a runner or layer that cannot read
  into a buffer (the TLS layer's ciphertext side) calls that instead.
- **Input can be paused**: while ``wants_input`` is false the runner stops reading, so a
  protocol that has enough (h11 between two requests, an echo whose reply is unsent) makes
  the kernel's receive window, not our memory, absorb a client that sends without reading.
- **Output is pulled**: ``pull_output(max_bytes)`` is called when the socket can take more
  and returns the next piece (a ``bytes``, or a ``memoryview`` slice of a larger buffer), or
  ``b""`` when there is nothing to send now. A protocol may hold a generator of chunks and
  never materialise a whole response: the runner pulls only as fast as the peer reads.
- **Output can come later**: a protocol that will produce output from another thread (a
  WSGI application in a worker pool, an RPC answered by a worker) asks for a waker with
  ``context.make_waker()`` while it is being called by the runner, and calls that waker from
  any thread once output is ready; the runner then pulls again. Asking is what makes the
  runner watch for wakes, so protocols that never answer later pay nothing for it.

When ``wants_close`` is true and ``pull_output`` has nothing left, the runner ends the
connection: an orderly close if the peer is done, otherwise a half-close and a lingering
read (``harness.runners.connection``). ``connection_lost`` is called exactly once, however
the connection ends (orderly, reset, idle timeout, server stop), so a protocol can release
what it holds (close a WSGI iterable, cancel a worker's job).

The interfaces are ``typing.Protocol`` classes rather than base classes so that protocol
objects stay plain classes with no inherited behaviour to surprise a reader.
"""

from __future__ import annotations

import collections
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol, Union, runtime_checkable

# What pull_output may return: bytes, or a memoryview over a buffer the protocol keeps alive
# and unchanged until the next pull (the runner sends or copies it before pulling again: a
# buffered protocol reuses its memory for later input after that).
Chunk = Union[bytes, bytearray, memoryview]

# A socket address as the socket module gives it: (host, port) for IPv4, (host, port,
# flowinfo, scope_id) for IPv6.
Address = tuple

Waker = Callable[[], None]


@dataclass(frozen=True)
class RunnerTraits:
    """What a protocol (and PEP 3333's environ) may need to know of the runner serving it.

    Attributes:
        name: the runner's contract name (``threading``, ``uvloop``...).
        one_client_at_a_time: a second client waits until the first is done (``raw``,
            ``single``): concurrency cases are observed, not judged, on such runners.
        multithread: the protocol may be called from several threads of one process
            (PEP 3333's ``wsgi.multithread``).
        multiprocess: several processes serve the same listening socket
            (PEP 3333's ``wsgi.multiprocess``).
        event_loop: one thread serves many connections, so a protocol must not run slow
            work inline (an application runs in a worker pool and answers through a waker).
    """

    name: str
    one_client_at_a_time: bool = False
    multithread: bool = False
    multiprocess: bool = False
    event_loop: bool = False


@dataclass(frozen=True)
class TlsFacts:
    """The negotiated TLS session, for protocols that care (``wsgi.url_scheme``, SNI).

    Attributes:
        version: ``TLSv1.3`` or ``TLSv1.2``.
        cipher: the cipher suite's name.
        server_name: the SNI name the client asked for, or None.
        alpn_protocol: the ALPN protocol agreed, or None.
    """

    version: str
    cipher: str
    server_name: str | None = None
    alpn_protocol: str | None = None


def _no_waker() -> Waker:
    raise RuntimeError("this connection context cannot deliver wakes (a test context?)")


@dataclass(frozen=True)
class ConnectionContext:
    """The facts of one connection, handed to ``StreamProtocol.connection_made``.

    Attributes:
        peer: the client's address.
        local: the address the client connected to.
        runner: the serving runner's traits.
        tls: the TLS session, or None on a plaintext connection.
        make_waker: returns a thread-safe callable that makes the runner pull output again;
            call it from the runner's own callbacks (see the module docstring).
    """

    peer: Address
    local: Address
    runner: RunnerTraits
    tls: TlsFacts | None = None
    make_waker: Callable[[], Waker] = field(default=_no_waker, compare=False, repr=False)


@dataclass(frozen=True)
class ServiceConfig:
    """What a protocol factory is given: the service's options, a clock and randomness.

    Attributes:
        options: the service's options by name, parsed and defaulted (``harness.services``).
        clock: Unix time as a float (``time.time`` in a server, a fixed value in tests).
        random_bytes: ``n -> n`` unpredictable bytes (``os.urandom`` in a server), for
            challenges and nonces; a test passes a deterministic one.
    """

    options: Mapping[str, Any] = field(default_factory=dict)
    clock: Callable[[], float] = time.time
    random_bytes: Callable[[int], bytes] = os.urandom


@runtime_checkable
class StreamProtocol(Protocol):
    """One connection's worth of protocol state for a byte-stream (TCP, TLS) service."""

    @property
    def wants_input(self) -> bool:
        """False while the protocol has enough; the runner then stops reading."""
        ...

    @property
    def wants_close(self) -> bool:
        """True once the protocol will say nothing more than what ``pull_output`` still gives."""
        ...

    def connection_made(self, context: ConnectionContext) -> None:
        """Called once, first, with the connection's facts. Output it queues is pulled."""
        ...

    def data_received(self, data: bytes) -> None:
        """Feed bytes read from the peer: a non-empty chunk, split wherever the network split it."""
        ...

    def eof_received(self) -> None:
        """The peer shut down its sending side (orderly close or half-close)."""
        ...

    def pull_output(self, max_bytes: int) -> Chunk:
        """The next piece of output, at most ``max_bytes`` long, or ``b""`` for nothing now."""
        ...

    def connection_lost(self) -> None:
        """The connection is gone, for whatever reason; release what the protocol holds."""
        ...


@runtime_checkable
class BufferedStreamProtocol(StreamProtocol, Protocol):
    """A stream protocol that also takes input into buffers it lends (``recv_into``).

    The runner asks for a buffer only while ``wants_input`` is true, reads once into it, then
    calls ``buffer_updated`` with the count before anything else: one buffer, one read, one
    report. A buffer lent for a read that found nothing (it would have blocked) is forgotten,
    so ``get_buffer`` may be asked again without a report in between. The protocol owns the
    memory; the runner keeps no reference after the report. EOF still arrives as
    ``eof_received``.
    """

    def get_buffer(self, size_hint: int) -> memoryview:
        """A writable, non-empty buffer for the next read.

        Args:
            size_hint: what the runner would read (``-1`` or ``0``: no preference); the
                buffer may be smaller or larger (asyncio.BufferedProtocol's contract).
        """
        ...

    def buffer_updated(self, nbytes: int) -> None:
        """The last buffer now holds ``nbytes`` (> 0) bytes read from the peer, from its start."""
        ...


def is_buffered(protocol: object) -> bool:
    """True when ``protocol`` offers the buffered input path (both of its methods)."""
    return callable(getattr(protocol, "get_buffer", None)) and callable(getattr(protocol, "buffer_updated", None))


@runtime_checkable
class DatagramProtocol(Protocol):
    """Server-wide protocol state for a datagram (UDP) service: one datagram in, replies out."""

    def datagram_received(self, data: bytes) -> list[bytes]:
        """Map one request datagram to zero or more reply datagrams, sent back to its source."""
        ...


# Chunks are joined only while their total stays this small: the copy costs less than the
# extra send, and a large chunk (a 64 KiB recv result) is still sent without a copy.
COALESCE_LIMIT = 16 * 1024


class OutputQueue:
    """A FIFO of output chunks with a byte count: the usual body of ``pull_output``.

    Large chunks are kept as given (no concatenation, so a 64 KiB ``recv`` result is sent
    without a copy) and handed out whole when they fit ``max_bytes``, as memoryview slices when
    not; small ones in a row are joined (see :meth:`pull`).
    """

    def __init__(self) -> None:
        self._chunks: collections.deque[Chunk] = collections.deque()
        self.pending_bytes = 0

    def __bool__(self) -> bool:
        return self.pending_bytes > 0

    def append(self, chunk: Chunk) -> None:
        if chunk:
            self._chunks.append(chunk)
            self.pending_bytes += len(chunk)

    def pull(self, max_bytes: int) -> Chunk:
        """The next piece, at most ``max_bytes`` long; ``b""`` when empty.

        Small chunks in a row are joined (up to :data:`COALESCE_LIMIT` bytes and ``max_bytes``),
        so that an HTTP response's head and body leave in one send: a second small write on a
        socket with Nagle's algorithm on waits for the peer's delayed ACK, about 40 ms on Linux,
        which held every blocking runner to ~20 responses per second per connection.
        """
        chunks = self._chunks
        if not chunks:
            return b""  # the second pull of most requests: answered before anything else
        chunk = chunks[0]
        size = len(chunk)
        if len(chunks) > 1 and size + len(chunks[1]) <= min(max_bytes, COALESCE_LIMIT):
            parts = [chunks.popleft()]
            while chunks and size + len(chunks[0]) <= min(max_bytes, COALESCE_LIMIT):
                size += len(chunks[0])
                parts.append(chunks.popleft())
            self.pending_bytes -= size
            return b"".join(parts)
        if size <= max_bytes:
            chunks.popleft()
        else:
            view = memoryview(chunk)
            chunk, chunks[0] = view[:max_bytes], view[max_bytes:]
            size = max_bytes
        self.pending_bytes -= size
        return chunk
