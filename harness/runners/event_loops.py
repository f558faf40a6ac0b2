"""``select`` and ``selectors``: the chapter's event-driven I/O, made complete.

The chapter's design is kept: every socket is wrapped in an :class:`EventHandler` that says
whether it ``wants_to_receive`` / ``wants_to_send`` and reacts in ``handle_receive`` /
``handle_send``; a loop asks every handler, waits for readiness, and dispatches. What the
chapter leaves out, and a real server needs, is here:

- Every socket is non-blocking and writes are buffered per connection, so one slow reader
  never blocks the loop (the chapter's handlers would call a blocking ``send``).
- A protocol that lends buffers (``BufferedStreamProtocol``) is read with ``recv_into``
  straight into them.
- Back-pressure: output is pulled from the protocol only as the socket drains, and a
  connection is read only while its protocol ``wants_input``, so a client that sends without
  reading cannot make us buffer without bound; reading resumes once the protocol has room.
- Output produced later by another thread arrives through ``EventLoop.wake_handler``: the
  handler is queued and the loop woken through its socketpair, then it pulls again.
- Half-close and lingering close follow the one state table in
  ``harness.runners.connection``.
- Idle connections are closed after the idle timeout; a stop (signal) wakes the loop at once
  through a socketpair.

:class:`SelectLoop` is the chapter's ``event_loop`` (``select.select`` on lists rebuilt each
pass: O(connections) per pass, and no fd >= FD_SETSIZE (1024) can be watched, so such
connections are refused). :class:`SelectorLoop` registers interest with
``selectors.DefaultSelector`` (epoll on Linux) and updates it only when it changes.

Datagram services use the same loops with one :class:`DatagramHandler`: it reads a bounded
batch of datagrams per readiness event and queues the replies, sending them when the socket
is writable; a full send buffer drops nothing, it only delays.
"""

from __future__ import annotations

import collections
import select
import selectors
import socket
import time
from typing import Any, Callable, ClassVar

from harness.protocols.base import Chunk, ConnectionContext, DatagramProtocol, RunnerTraits, StreamProtocol, Waker
from harness.runners.base import LINGER_TIMEOUT_S, RECV_BYTES, SEND_BYTES, Runner, WakeQueue, log
from harness.runners.connection import CLOSE, HALF_CLOSE_AND_LINGER, NOTHING, Ending, StreamConnection

from harness.runners.datagram import DATAGRAM_BUFFER_BYTES

# select() cannot watch descriptors at or above FD_SETSIZE, which glibc fixes at 1024.
FD_SETSIZE = 1024

# How often the loop wakes with no I/O to close idle connections.
SWEEP_INTERVAL_S = 1.0

# Replies queued before a datagram socket stops reading (back-pressure, in datagrams).
MAX_QUEUED_REPLIES = 4096

# Connections accepted per readiness event, so that a burst of connects cannot starve
# established connections of a turn.
ACCEPTS_PER_WAKEUP = 64


class EventHandler:
    """The chapter's plug-in for an event loop; every method has a do-nothing default."""

    def fileno(self) -> int:
        raise NotImplementedError("an EventHandler must say which fd it watches")

    def wants_to_receive(self) -> bool:
        return False

    def handle_receive(self) -> None:
        pass

    def wants_to_send(self) -> bool:
        return False

    def handle_send(self) -> None:
        pass

    def handle_wake(self) -> None:
        pass

    def close(self) -> None:
        pass


class EventLoop:
    """Holds the handlers and runs passes until stopped; subclasses do the waiting."""

    def __init__(self, idle_timeout: float) -> None:
        self.handlers: dict[int, EventHandler] = {}
        self.idle_timeout = idle_timeout
        self.stopping = False
        # Handlers woken from other threads, one wake byte per batch.
        self._woken: WakeQueue[EventHandler] = WakeQueue(self.wake)
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)
        self.add(_WakeHandler(self._wake_reader))

    def add(self, handler: EventHandler) -> None:
        self.handlers[handler.fileno()] = handler

    def remove(self, handler: EventHandler) -> None:
        self.handlers.pop(handler.fileno(), None)

    def is_live(self, handler: EventHandler) -> bool:
        """True while ``handler`` is registered: a closed handler's fd may already be reused."""
        return self.handlers.get(handler.fileno()) is handler

    def wake(self) -> None:
        """Make the current or next wait return now. Signal-safe."""
        try:
            self._wake_writer.send(b"\0")
        except OSError:
            pass  # buffer full: a wake-up is already pending

    def stop(self) -> None:
        self.stopping = True
        self.wake()

    def wake_handler(self, handler: "EventHandler") -> None:
        """From any thread: run ``handler.handle_wake()`` in the loop's thread, soon (a wake
        byte only when none is pending: :class:`harness.runners.base.WakeQueue`)."""
        self._woken.put(handler)

    def interest_changed(self, handler: "EventHandler") -> None:
        """A handler's wants changed outside a dispatch (after a wake). Default: nothing,
        since select() rebuilds its lists every pass."""

    def run(self) -> None:
        """Dispatch events until :meth:`stop`; then close every handler."""
        last_sweep = time.monotonic()
        try:
            while not self.stopping:
                self.wait_and_dispatch(SWEEP_INTERVAL_S)
                for handler in self._woken.take_all():
                    if self.is_live(handler):
                        handler.handle_wake()
                        self.interest_changed(handler)
                now = time.monotonic()
                if now - last_sweep >= SWEEP_INTERVAL_S:
                    last_sweep = now
                    for handler in list(self.handlers.values()):
                        if isinstance(handler, ConnectionHandler) and handler.expired(now, self.idle_timeout):
                            handler.close()
        finally:
            for handler in list(self.handlers.values()):
                handler.close()
            self._wake_reader.close()
            self._wake_writer.close()

    def wait_and_dispatch(self, timeout: float) -> None:
        raise NotImplementedError


class SelectLoop(EventLoop):
    """The chapter's ``event_loop``: rebuild the want-lists, ``select()``, dispatch."""

    max_fd: ClassVar[int | None] = FD_SETSIZE

    def wait_and_dispatch(self, timeout: float) -> None:
        handlers = list(self.handlers.values())
        wants_recv = [h for h in handlers if h.wants_to_receive()]
        wants_send = [h for h in handlers if h.wants_to_send()]
        can_recv, can_send, _ = select.select(wants_recv, wants_send, [], timeout)
        for handler in can_recv:
            if self.is_live(handler):  # not closed by an earlier handler this pass
                handler.handle_receive()
        for handler in can_send:
            if self.is_live(handler):
                handler.handle_send()


class SelectorLoop(EventLoop):
    """The same handlers on ``selectors.DefaultSelector``; interest updated only on change."""

    max_fd: ClassVar[int | None] = None

    def __init__(self, idle_timeout: float) -> None:
        self._selector = selectors.DefaultSelector()
        self._interest: dict[int, int] = {}
        super().__init__(idle_timeout)

    def add(self, handler: EventHandler) -> None:
        super().add(handler)
        self._interest[handler.fileno()] = 0
        self._update_interest(handler)

    def remove(self, handler: EventHandler) -> None:
        fd = handler.fileno()
        if self._interest.pop(fd, 0):
            self._selector.unregister(fd)
        super().remove(handler)

    def interest_changed(self, handler: EventHandler) -> None:
        self._update_interest(handler)

    def _update_interest(self, handler: EventHandler) -> None:
        fd = handler.fileno()
        if not self.is_live(handler):
            return
        mask = (selectors.EVENT_READ if handler.wants_to_receive() else 0) | (
            selectors.EVENT_WRITE if handler.wants_to_send() else 0
        )
        old = self._interest[fd]
        if mask == old:
            return
        if not old:
            self._selector.register(fd, mask, handler)
        elif not mask:
            self._selector.unregister(fd)
        else:
            self._selector.modify(fd, mask, handler)
        self._interest[fd] = mask

    def wait_and_dispatch(self, timeout: float) -> None:
        for key, events in self._selector.select(timeout):
            handler = key.data
            if events & selectors.EVENT_READ and self.is_live(handler):
                handler.handle_receive()
            if events & selectors.EVENT_WRITE and self.is_live(handler):
                handler.handle_send()
            self._update_interest(handler)

    def run(self) -> None:
        try:
            super().run()
        finally:
            self._selector.close()


# Wake bytes taken per pass: more than any realistic number of wakes between two passes.
WAKE_BYTES_PER_PASS = 65536


class _WakeHandler(EventHandler):
    def __init__(self, reader: socket.socket) -> None:
        self._reader = reader
        self._fd = reader.fileno()

    def fileno(self) -> int:
        return self._fd

    def wants_to_receive(self) -> bool:
        return True

    def handle_receive(self) -> None:
        # One read, not a loop until EAGAIN: a wake per request is common (a response from
        # the gateway's worker pool), and the loop's second recv only learned, through an
        # exception, that the first had taken everything. Should more than this many wakes be
        # pending, the socket stays readable and the next pass takes the rest.
        try:
            self._reader.recv(WAKE_BYTES_PER_PASS)
        except BlockingIOError:
            pass


class ListenerHandler(EventHandler):
    """Accepts connections and adds a :class:`ConnectionHandler` for each."""

    def __init__(
        self,
        listener: socket.socket,
        loop: EventLoop,
        protocol_factory: Callable[[], StreamProtocol],
        traits: RunnerTraits,
    ) -> None:
        listener.setblocking(False)
        self._listener = listener
        self._fd = listener.fileno()
        self._loop = loop
        self._protocol_factory = protocol_factory
        self._traits = traits

    def fileno(self) -> int:
        return self._fd

    def wants_to_receive(self) -> bool:
        return not self._loop.stopping

    def handle_receive(self) -> None:
        for _ in range(ACCEPTS_PER_WAKEUP):
            try:
                conn, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return  # another process or pass took it (prefork-processes shares the socket)
            except OSError as exc:
                log.warning("accept failed: %r", exc)  # EMFILE and the like: not fatal
                return
            if self._loop.max_fd is not None and conn.fileno() >= self._loop.max_fd:
                log.warning("refusing connection: fd %d is past select()'s limit", conn.fileno())
                conn.close()
                continue
            handler = ConnectionHandler(conn, self._protocol_factory(), self._loop)
            self._loop.add(handler)
            handler.start(self._traits)

    def close(self) -> None:
        self._loop.remove(self)
        self._listener.close()


class ConnectionHandler(EventHandler):
    """One connection: non-blocking reads into the protocol, output pulled as the socket drains.

    At most one pulled piece is held here (``_unsent``, the part the kernel did not take);
    everything else stays in the protocol until the socket can take it, and the protocol's
    ``wants_input`` pauses reading, so a client that sends without reading costs the server
    the protocol's own bound, not an ever-growing buffer.

    While the connection is open, input is handed straight to the protocol, and a flush that
    leaves it open and reading asks the state table nothing: in that steady state the table has
    no transition to make, and skipping its calls is a measurable share of a small echo.

    Resource handling: owns ``conn``; :meth:`close` closes it and removes this handler from
    the loop. Every OSError from the peer (reset, broken pipe) ends here, quietly.
    """

    def __init__(self, conn: socket.socket, protocol: StreamProtocol, loop: EventLoop) -> None:
        conn.setblocking(False)
        # Output produced later (an application in the worker pool) can leave in two small
        # sends; with Nagle on, the second waits for the peer's delayed ACK (~40 ms). asyncio
        # sets TCP_NODELAY on its transports for the same reason.
        try:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # not a TCP socket (a test's socketpair)
            pass
        self._conn = conn
        self._fd = conn.fileno()
        self._connection = StreamConnection(protocol)
        self._loop = loop
        self._unsent: Chunk | None = None
        self._has_waker = False
        self._last_activity = time.monotonic()
        self._linger_until: float | None = None  # set once lingering before close

    def fileno(self) -> int:
        return self._fd

    def expired(self, now: float, idle_timeout: float) -> bool:
        """Idle past the timeout, or lingering past the linger bound."""
        if self._linger_until is not None:
            return now >= self._linger_until
        return now - self._last_activity > idle_timeout

    def start(self, traits: RunnerTraits) -> None:
        try:
            context = ConnectionContext(
                self._conn.getpeername(), self._conn.getsockname(), traits, make_waker=self._make_waker
            )
        except OSError as exc:  # the peer reset before we looked
            self._end(self._connection.abort(exc))
            return
        self._connection.start(context)
        self._flush()

    def _make_waker(self) -> Waker:
        self._has_waker = True
        loop, handler = self._loop, self
        return lambda: loop.wake_handler(handler)

    def wants_to_receive(self) -> bool:
        return self._connection.wants_read()

    def wants_to_send(self) -> bool:
        return self._unsent is not None

    def handle_receive(self) -> None:
        connection = self._connection
        try:
            if connection.buffered:  # straight into the protocol's memory
                ending = connection.received_into(self._conn.recv_into(connection.receive_buffer(RECV_BYTES)))
            else:
                data = self._conn.recv(RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._end(connection.abort(exc))
            return
        self._last_activity = time.monotonic()
        if not connection.buffered:
            if data and connection.is_open:  # the open connection's steady state: no transition
                connection.protocol.data_received(data)
                self._flush()
                return
            ending = connection.received(data)
        if ending is not NOTHING:
            self._end(ending)
        self._flush()

    def handle_send(self) -> None:
        self._flush()

    def handle_wake(self) -> None:
        self._flush()

    def _flush(self) -> None:
        """Send what the protocol has until the kernel's buffer is full or the protocol is dry."""
        connection = self._connection
        while not connection.closed:
            if self._unsent is None:
                chunk = connection.next_output(SEND_BYTES)
                if not chunk:
                    break
                self._unsent = chunk
            try:
                sent = self._conn.send(self._unsent)
            except (BlockingIOError, InterruptedError):
                return  # wait for writability
            except OSError as exc:
                self._end(connection.abort(exc))
                return
            self._last_activity = time.monotonic()
            if sent < len(self._unsent):
                self._unsent = memoryview(self._unsent)[sent:]
                return
            self._unsent = None
        if connection.closed:
            return
        protocol = connection.protocol
        if connection.is_open and protocol.wants_input and not protocol.wants_close:
            return  # still open, still reading: nothing for the table to decide, nothing wedged
        ending = connection.output_drained()
        if ending is not NOTHING:
            self._end(ending)
        if not self._has_waker and connection.wedged(output_pending=False, has_waker=False):
            log.warning("protocol paused input with nothing to send: closing")
            self._end(connection.abort())

    def _end(self, ending: Ending) -> None:
        """Carry out what the connection's state table asked for."""
        if ending is HALF_CLOSE_AND_LINGER:
            try:
                self._conn.shutdown(socket.SHUT_WR)
            except OSError as exc:  # the peer is already gone
                self._end(self._connection.abort(exc))
                return
            self._linger_until = time.monotonic() + LINGER_TIMEOUT_S
        elif ending is CLOSE:
            self.close()

    def close(self) -> None:
        """Close now (also the idle sweep's and the stop's way out)."""
        self._connection.abort()
        if self._loop.is_live(self):
            self._loop.remove(self)
            self._conn.close()


class DatagramHandler(EventHandler):
    """A datagram socket: read a batch, queue the replies, send them when writable."""

    def __init__(self, sock: socket.socket, protocol: DatagramProtocol) -> None:
        sock.setblocking(False)
        self._sock = sock
        self._fd = sock.fileno()
        self._protocol = protocol
        self._replies: collections.deque[tuple[bytes, Any]] = collections.deque()

    def fileno(self) -> int:
        return self._fd

    def wants_to_receive(self) -> bool:
        return len(self._replies) < MAX_QUEUED_REPLIES

    def wants_to_send(self) -> bool:
        return bool(self._replies)

    def handle_receive(self) -> None:
        for _ in range(ACCEPTS_PER_WAKEUP):  # a bounded batch, so sends get their turn
            try:
                data, address = self._sock.recvfrom(DATAGRAM_BUFFER_BYTES)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:  # ECONNREFUSED from an ICMP error for an earlier reply
                log.debug("recvfrom: %r", exc)
                continue
            self._replies.extend((reply, address) for reply in self._protocol.datagram_received(data))
        self.handle_send()

    def handle_send(self) -> None:
        while self._replies:
            reply, address = self._replies[0]
            try:
                self._sock.sendto(reply, address)
            except (BlockingIOError, InterruptedError):
                return  # the send buffer is full: wait for writability
            except OSError as exc:
                log.debug("reply to %s not sent: %r", address, exc)
            self._replies.popleft()

    def close(self) -> None:
        self._sock.close()


class EventLoopRunner(Runner):
    """Serve from one event loop in the main thread: a listener (TCP) or the socket (UDP).

    One loop carries both kinds: only the handler watching the bound socket differs (an
    accepting :class:`ListenerHandler`, or a :class:`DatagramHandler` with the server-wide
    protocol object).
    """

    loop_class: ClassVar[type[EventLoop]]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.loop = self.loop_class(self.options.idle_timeout)
        self.loop.add(self.bound_socket_handler())

    def bound_socket_handler(self) -> EventHandler:
        return ListenerHandler(self.listener, self.loop, self.protocol_factory, self.traits)

    def serve(self) -> None:
        self.loop.run()  # closes the bound socket with every other handler

    def request_stop(self) -> None:
        self.loop.stop()


class _DatagramEventLoopRunner(EventLoopRunner):
    def bound_socket_handler(self) -> EventHandler:
        return DatagramHandler(self.listener, self.protocol_factory())


class SelectRunner(EventLoopRunner):
    """The chapter's EventHandler objects in a ``select.select()`` loop."""

    loop_class = SelectLoop


class SelectorsRunner(EventLoopRunner):
    """The same handlers on ``selectors.DefaultSelector`` (epoll on Linux)."""

    loop_class = SelectorLoop


class SelectDatagramRunner(_DatagramEventLoopRunner):
    """A datagram socket in the chapter's ``select.select()`` loop."""

    loop_class = SelectLoop


class SelectorsDatagramRunner(_DatagramEventLoopRunner):
    """A datagram socket on ``selectors.DefaultSelector``."""

    loop_class = SelectorLoop
