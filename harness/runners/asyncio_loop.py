"""``asyncio`` and ``uvloop``: the protocol carried by an ``asyncio.Protocol``.

asyncio's transport/protocol layer is itself sans-IO-shaped, so the adapter is thin: bytes
from ``data_received`` go to the wirecheck protocol, its replies to ``transport.write``.
What the adapter adds: back-pressure (the transport calls ``pause_writing`` when its buffer
passes the high-water mark; we then stop reading until ``resume_writing``), half-close
(``eof_received`` returns True to keep the write side open until the protocol's last bytes
are flushed, then closes), a lingering close when the protocol is done before the peer
(``write_eof``, input discarded until the peer's EOF or ``LINGER_TIMEOUT_S``: closing with
unread input would send RST), and an idle timeout per connection.

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
from typing import Callable, ClassVar

from harness.protocols.base import DatagramProtocol, StreamProtocol
from harness.runners.base import LINGER_TIMEOUT_S, STOP_GRACE_S, Runner, log
from harness.runners.datagram import DatagramRunner


class _AsyncioAdapter(asyncio.Protocol):
    """One connection: asyncio's callbacks mapped onto a wirecheck StreamProtocol."""

    def __init__(
        self, protocol: StreamProtocol, idle_timeout: float, live: set["_AsyncioAdapter"]
    ) -> None:
        self._protocol = protocol
        self._idle_timeout = idle_timeout
        self._live = live
        self._transport: asyncio.Transport | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self._peer_done = False
        self._closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = transport  # type: ignore[assignment]
        self._live.add(self)
        self._reset_idle_timer()
        self._write(self._protocol.connection_made())

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return  # lingering: the protocol is done, input is thrown away
        self._reset_idle_timer()
        self._write(self._protocol.data_received(data))

    def eof_received(self) -> bool:
        self._peer_done = True
        if self._closing:
            return False  # the linger is over: let the transport close
        self._write(self._protocol.eof_received())
        return True  # keep the transport open; _write closes it once the protocol is done

    def pause_writing(self) -> None:
        if self._transport is not None:
            self._transport.pause_reading()  # back-pressure: stop reading until drained

    def resume_writing(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            log.debug("connection ended by peer: %r", exc)
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        self._live.discard(self)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()  # flushes what is buffered, then closes

    def _write(self, data: bytes) -> None:
        assert self._transport is not None
        if data:
            self._transport.write(data)
        if not self._protocol.wants_close or self._closing:
            return
        self._closing = True
        if self._peer_done or not self._transport.can_write_eof():
            self._transport.close()  # flushes what is buffered, then closes
            return
        self._transport.write_eof()  # FIN once the buffer is flushed; keep reading to drain
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        self._idle_timer = asyncio.get_running_loop().call_later(LINGER_TIMEOUT_S, self._transport.close)

    def _reset_idle_timer(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        loop = asyncio.get_running_loop()
        self._idle_timer = loop.call_later(self._idle_timeout, self._idle_expired)

    def _idle_expired(self) -> None:
        if self._transport is not None:
            self._transport.abort()


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

    name: ClassVar[str] = "asyncio"
    transports: ClassVar[frozenset[str]] = frozenset({"tcp"})

    async def _serve_until_stopped(self, loop: asyncio.AbstractEventLoop) -> None:
        live: set[_AsyncioAdapter] = set()
        factory: Callable[[], _AsyncioAdapter] = lambda: _AsyncioAdapter(
            self.service.protocol_factory(), self.options.idle_timeout, live
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

    name: ClassVar[str] = "asyncio"

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

    name: ClassVar[str] = "uvloop"
    new_event_loop = staticmethod(_new_uvloop)


class UvloopDatagramRunner(AsyncioDatagramRunner):
    """The asyncio datagram runner on uvloop."""

    name: ClassVar[str] = "uvloop"
    new_event_loop = staticmethod(_new_uvloop)
