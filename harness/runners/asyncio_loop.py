"""``asyncio`` and ``uvloop``: the protocol carried by an ``asyncio.Protocol``.

asyncio's transport/protocol layer is itself sans-IO-shaped, so the adapter is thin: bytes
from ``data_received`` go to the wirecheck protocol, its output is pulled into
``transport.write``; a protocol that lends buffers is carried by an
``asyncio.BufferedProtocol`` whose ``get_buffer`` is the protocol's
(:class:`_BufferedAsyncioAdapter`). What the adapter adds: back-pressure (output is pulled
only while the transport is not write-paused, and reading follows the protocol's ``wants_input``),
half-close (``eof_received`` returns True to keep the write side open until the protocol's
last bytes are flushed), the lingering close of the shared state table
(``harness.runners.connection``: ``write_eof``, then input discarded until the peer's EOF or
``LINGER_TIMEOUT_S``), later output through ``call_soon_threadsafe`` (a batch of wakes per
call, :func:`wake_queue_for`), and an idle timeout per connection.

For datagrams, ``asyncio.DatagramProtocol`` maps one-to-one onto the sans-IO datagram
protocol: ``datagram_received`` answers with ``transport.sendto``; asyncio buffers a reply the
kernel cannot take at once. One exception: asyncio's ``DatagramTransport.sendto`` silently
drops an empty datagram on Python < 3.13 ("if not data: return"), and RFC 862 echoes the
empty datagram too, so an empty reply is sent on the socket itself (an empty datagram
cannot meet a full send buffer in a way worth queueing; if it does, it is logged and lost).

``uvloop`` is the same code on libuv's loop (``uvloop.new_event_loop``); it is an optional
dependency, so this module imports it only when that runner is asked for.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from typing import Callable

from harness.protocols.base import ConnectionContext, DatagramProtocol, RunnerTraits, StreamProtocol, Waker, is_buffered
from harness.runners.base import LINGER_TIMEOUT_S, RECV_BYTES, SEND_BYTES, STOP_GRACE_S, Runner, WakeQueue, log
from harness.runners.connection import CLOSE, HALF_CLOSE_AND_LINGER, NOTHING, Ending, StreamConnection
from harness.runners.datagram import DatagramRunner



def wake_queue_for(loop: asyncio.AbstractEventLoop) -> WakeQueue["_ConnectionAdapter"]:
    """The loop's queue of adapters woken from other threads: one ``call_soon_threadsafe``
    per batch (each call makes a Handle and, on asyncio's own loop, a ``send`` to its
    self-pipe; uvloop coalesces that write, not the Handle), then each adapter flushed."""

    def flush_woken() -> None:
        for adapter in wakes.take_all():
            adapter._flush()

    def signal_loop() -> None:
        try:
            loop.call_soon_threadsafe(flush_woken)
        except RuntimeError:
            pass  # the loop is closed: the server has stopped

    wakes: WakeQueue[_ConnectionAdapter] = WakeQueue(signal_loop)
    return wakes


class _ConnectionAdapter(asyncio.BaseProtocol):
    """One connection: asyncio's callbacks mapped onto a wirecheck StreamProtocol.

    Carried as one of two concrete classes, because a transport reads into buffers only for a
    protocol that is an ``asyncio.BufferedProtocol`` and (uvloop's test) not an
    ``asyncio.Protocol``: :class:`_AsyncioAdapter` for ``data_received``,
    :class:`_BufferedAsyncioAdapter` for protocols that lend buffers.

    Output is pulled while the transport is not write-paused (asyncio calls
    ``pause_writing`` past its high-water mark and ``resume_writing`` once drained); reading
    follows the protocol's ``wants_input`` through ``pause_reading`` / ``resume_reading``.
    """

    def __init__(
        self,
        protocol: StreamProtocol,
        idle_timeout: float,
        traits: RunnerTraits,
        live: set["_ConnectionAdapter"],
        wakes: WakeQueue["_ConnectionAdapter"],
    ) -> None:
        self._connection = StreamConnection(protocol)
        self._wakes = wakes
        self._idle_timeout = idle_timeout
        self._traits = traits
        self._live = live
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._last_activity = time.monotonic()  # of the last read; the idle timer reads it
        self._write_paused = False
        self._reading = True
        self._has_waker = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = transport  # type: ignore[assignment]
        self._live.add(self)
        self._last_activity = time.monotonic()
        self._reset_timer(self._idle_timeout, self._idle_check)
        context = ConnectionContext(
            transport.get_extra_info("peername"),
            transport.get_extra_info("sockname"),
            self._traits,
            make_waker=self._make_waker,
        )
        self._connection.start(context)
        self._flush()

    def _make_waker(self) -> Waker:
        self._has_waker = True
        wakes, adapter = self._wakes, self
        return lambda: wakes.put(adapter)

    def data_received(self, data: bytes) -> None:
        # Written out rather than shared with buffer_updated: a helper call per read is a
        # measurable share of a small echo's cost on this path.
        connection = self._connection
        if not connection.lingering:
            self._last_activity = time.monotonic()
        ending = connection.received(data)
        if ending is not NOTHING:
            self._end(ending)
        self._flush()

    def eof_received(self) -> bool:
        self._end(self._connection.received(b""))
        self._flush()
        return not self._connection.closed  # True keeps the transport open for our last bytes

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self._connection.abort(exc)
        if self._timer is not None:
            self._timer.cancel()
        self._live.discard(self)

    def close(self) -> None:
        """The server is stopping: end this connection (flushing what the transport holds)."""
        self._connection.abort()
        if self._transport is not None:
            self._transport.close()

    def _flush(self) -> None:
        transport, connection = self._transport, self._connection
        if transport is None or transport.is_closing():
            return
        while not self._write_paused and not connection.closed:
            chunk = connection.next_output(SEND_BYTES)
            if not chunk:
                ending = connection.output_drained()
                if ending is not NOTHING:
                    self._end(ending)
                break
            transport.write(chunk)
        if connection.closed or transport.is_closing():
            return
        wants_read = connection.wants_read()
        if wants_read != self._reading:
            self._reading = wants_read
            (transport.resume_reading if wants_read else transport.pause_reading)()
        if not wants_read and connection.wedged(output_pending=self._write_paused, has_waker=self._has_waker):
            log.warning("protocol paused input with nothing to send: closing")
            self._end(connection.abort())

    def _end(self, ending: Ending) -> None:
        """Carry out what the connection's state table asked for."""
        assert self._transport is not None
        if ending is CLOSE:
            self._transport.close()  # flushes what is buffered, then closes
        elif ending is HALF_CLOSE_AND_LINGER:
            if not self._transport.can_write_eof():
                self._end(self._connection.abort())
                return
            self._transport.write_eof()  # FIN once the buffer is flushed; keep reading to drain
            self._reset_timer(LINGER_TIMEOUT_S, self._transport.close)

    def _abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def _idle_check(self) -> None:
        """The idle timer fired: abort if nothing arrived since, else wait out the rest.

        One timer per connection, re-armed only when it fires, instead of one cancelled and
        made again per message (a TimerHandle and a heap entry each): a read only notes the
        time.
        """
        idle_for = time.monotonic() - self._last_activity
        if idle_for >= self._idle_timeout:
            self._abort()
        else:
            self._reset_timer(self._idle_timeout - idle_for, self._idle_check)

    def _reset_timer(self, delay: float, callback: Callable[[], object]) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(delay, callback)


class _AsyncioAdapter(_ConnectionAdapter, asyncio.Protocol):
    """The adapter for a protocol fed ``bytes`` (``data_received``)."""


class _BufferedAsyncioAdapter(_ConnectionAdapter, asyncio.BufferedProtocol):
    """The adapter for a protocol that lends buffers: the transport reads into them.

    Being an ``asyncio.BufferedProtocol`` is what makes asyncio's (and uvloop's) transport call
    ``get_buffer`` / ``buffer_updated`` instead of making a ``bytes`` per read.

    Such a protocol reuses its memory for later input once a pulled chunk is sent (base.py's
    contract: the runner sends or copies a chunk before pulling again). asyncio's selector
    transport copies what the socket did not take; uvloop's keeps a reference to it (measured:
    bytes changed after ``write`` went out changed). So this adapter sets the transport's write
    limits to zero: any byte left unsent pauses pulling (``pause_writing``) until the transport
    has sent everything (``resume_writing``), and no chunk is still referenced when the next
    pull lets the protocol reuse its memory.
    """

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.set_write_buffer_limits(high=0)  # type: ignore[attr-defined]
        super().connection_made(transport)

    def get_buffer(self, sizehint: int) -> memoryview:
        # asyncio's selector transport passes -1 (no preference), uvloop libuv's suggestion.
        return self._connection.receive_buffer(sizehint if sizehint > 0 else RECV_BYTES)

    def buffer_updated(self, nbytes: int) -> None:
        if not self._connection.lingering:
            self._last_activity = time.monotonic()
        ending = self._connection.received_into(nbytes)
        if ending is not NOTHING:
            self._end(ending)
        self._flush()


def adapter_for(
    protocol: StreamProtocol,
    idle_timeout: float,
    traits: RunnerTraits,
    live: set[_ConnectionAdapter],
    wakes: WakeQueue[_ConnectionAdapter],
) -> _ConnectionAdapter:
    """The adapter that carries ``protocol``: a buffered one when it lends buffers."""
    adapter_class = _BufferedAsyncioAdapter if is_buffered(protocol) else _AsyncioAdapter
    return adapter_class(protocol, idle_timeout, traits, live, wakes)


class _DatagramAdapter(asyncio.DatagramProtocol):
    """asyncio's datagram callbacks mapped onto a wirecheck DatagramProtocol."""

    def __init__(self, protocol: DatagramProtocol, sock: socket.socket) -> None:
        self._protocol = protocol
        self._sock = sock
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        assert self._transport is not None
        for reply in self._protocol.datagram_received(data):
            if reply:
                self._transport.sendto(reply, addr)
                continue
            try:
                self._sock.sendto(reply, addr)  # see the module docstring: asyncio drops b""
            except OSError as exc:
                log.debug("empty reply to %s not sent: %r", addr, exc)

    def error_received(self, exc: Exception) -> None:
        # ECONNREFUSED from an ICMP error for an earlier reply: that client is gone.
        log.debug("datagram error: %r", exc)


class _AsyncioLoopOwner:
    """Runs ``_serve_until_stopped`` on a fresh loop (asyncio's or uvloop's) until a stop."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._loop = self.new_event_loop()
        self._stop_requested = asyncio.Event()

    @staticmethod
    def new_event_loop() -> asyncio.AbstractEventLoop:
        return asyncio.new_event_loop()

    def serve(self) -> None:
        try:
            self._loop.run_until_complete(self._serve())
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        # The loop's own signal handling wakes it safely; the CLI's handlers are replaced.
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._stop_requested.set)
        try:
            await self._serve_until_stopped(loop)
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)

    async def _serve_until_stopped(self, loop: asyncio.AbstractEventLoop) -> None:
        raise NotImplementedError

    def request_stop(self) -> None:
        self._loop.call_soon_threadsafe(self._stop_requested.set)


class AsyncioRunner(_AsyncioLoopOwner, Runner):
    """An asyncio server on the default event loop, started from the pre-bound socket."""

    async def _serve_until_stopped(self, loop: asyncio.AbstractEventLoop) -> None:
        live: set[_ConnectionAdapter] = set()
        wakes = wake_queue_for(loop)
        factory: Callable[[], _ConnectionAdapter] = lambda: adapter_for(
            self.protocol_factory(), self.options.idle_timeout, self.traits, live, wakes
        )
        server = await loop.create_server(factory, sock=self.listener)
        try:
            await self._stop_requested.wait()
        finally:
            server.close()
            for adapter in list(live):
                adapter.close()
            try:
                await asyncio.wait_for(server.wait_closed(), STOP_GRACE_S)
            except asyncio.TimeoutError:
                log.warning("connections still open %.0f s after stop", STOP_GRACE_S)


class AsyncioDatagramRunner(_AsyncioLoopOwner, DatagramRunner):
    """An asyncio datagram endpoint on the pre-bound UDP socket."""

    async def _serve_until_stopped(self, loop: asyncio.AbstractEventLoop) -> None:
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _DatagramAdapter(self.protocol, self.listener), sock=self.listener
        )
        try:
            await self._stop_requested.wait()
        finally:
            transport.close()


def _new_uvloop() -> asyncio.AbstractEventLoop:
    import uvloop  # optional dependency; RUNNERS names it so a missing one reads clearly

    return uvloop.new_event_loop()


class UvloopRunner(AsyncioRunner):
    """The asyncio runner on uvloop's libuv-based event loop."""

    new_event_loop = staticmethod(_new_uvloop)


class UvloopDatagramRunner(AsyncioDatagramRunner):
    """The asyncio datagram runner on uvloop."""

    new_event_loop = staticmethod(_new_uvloop)
