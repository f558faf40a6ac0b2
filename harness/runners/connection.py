"""A connection's life as one state table, and the glue every stream driver shares.

Three drivers carry stream protocols (a blocking thread, the select/selectors loops, asyncio
transports); what differs between them is how they wait, not what a connection is. The
life of a connection is therefore written once, here, as a table in the manner of h11's
``_state.py``; each driver performs the I/O the table asks for and reports what happened.

States::

    OPEN ──peer EOF──▶ PEER_DONE ──protocol finished──▶ CLOSED
      │                                                   ▲
      └──protocol finished──▶ LINGERING ──peer EOF / linger over──┘

    any state ──abort (reset, idle timeout, stop, protocol error)──▶ CLOSED

``protocol finished`` means ``wants_close`` is true and ``pull_output`` has nothing more.
Finishing while the peer is still sending is the lingering close: the server half-closes
(FIN), then reads and discards until the peer's EOF, for at most ``LINGER_TIMEOUT_S`` and
``LINGER_MAX_BYTES``, because closing a socket with unread input makes the kernel send RST,
and an RST can destroy a reply the peer has not read yet (Apache's lingering close).

:class:`StreamConnection` joins the table to a protocol: it feeds input, pulls output,
answers "should I read now?", and tells the driver what to do once output is drained
(:class:`Ending`). It never touches a socket, so the table is unit-tested without one.

Input into buffers. When the protocol offers the buffered path
(``harness.protocols.base.BufferedStreamProtocol``), ``buffered`` is true and a driver that can
read into memory asks :meth:`StreamConnection.receive_buffer` for where to read and reports
the count to :meth:`StreamConnection.received_into` (0 for EOF), instead of ``received``. The
buffer is the protocol's own while it wants input; in every other case (lingering, input
paused, a protocol with no buffers of its own) it is a scratch buffer of the connection's,
whose bytes are discarded (lingering) or handed to ``data_received`` (the one copy the
fallback costs), so a driver never needs to ask which path it is on.
"""

from __future__ import annotations

import enum
from harness.protocols.base import Chunk, ConnectionContext, StreamProtocol, is_buffered
from harness.runners.base import LINGER_MAX_BYTES, RECV_BYTES, log


class ConnectionState(enum.Enum):
    OPEN = "open"
    PEER_DONE = "peer done"
    LINGERING = "lingering"
    CLOSED = "closed"


class ConnectionEvent(enum.Enum):
    PEER_EOF = "peer EOF"
    PROTOCOL_FINISHED = "protocol finished"
    LINGER_OVER = "linger over"
    ABORT = "abort"


class Ending(enum.Enum):
    """What a driver does when a transition asks for I/O."""

    NOTHING = "nothing"
    HALF_CLOSE_AND_LINGER = "half-close, then discard input until EOF or the linger bound"
    CLOSE = "close"


# The members as module constants, for the hot paths here and in the drivers: an Enum member
# looked up on its class costs a metaclass attribute lookup (~80 ns on 3.11), several times
# per message otherwise.
NOTHING, HALF_CLOSE_AND_LINGER, CLOSE = Ending.NOTHING, Ending.HALF_CLOSE_AND_LINGER, Ending.CLOSE

_S, _E = ConnectionState, ConnectionEvent

# (state, event) -> (next state, what the driver must do). A pair not in the table is a
# no-op: e.g. a second EOF, or ABORT of a connection already CLOSED.
TRANSITIONS: dict[tuple[ConnectionState, ConnectionEvent], tuple[ConnectionState, Ending]] = {
    (_S.OPEN, _E.PEER_EOF): (_S.PEER_DONE, Ending.NOTHING),
    (_S.OPEN, _E.PROTOCOL_FINISHED): (_S.LINGERING, Ending.HALF_CLOSE_AND_LINGER),
    (_S.OPEN, _E.ABORT): (_S.CLOSED, Ending.CLOSE),
    (_S.PEER_DONE, _E.PROTOCOL_FINISHED): (_S.CLOSED, Ending.CLOSE),
    (_S.PEER_DONE, _E.ABORT): (_S.CLOSED, Ending.CLOSE),
    (_S.LINGERING, _E.PEER_EOF): (_S.CLOSED, Ending.CLOSE),
    (_S.LINGERING, _E.LINGER_OVER): (_S.CLOSED, Ending.CLOSE),
    (_S.LINGERING, _E.ABORT): (_S.CLOSED, Ending.CLOSE),
}

# Whether input is read in a state at all (the protocol may still pause it in OPEN); in
# LINGERING it is read only to be thrown away.
READS_IN_STATE = {_S.OPEN: True, _S.PEER_DONE: False, _S.LINGERING: True, _S.CLOSED: False}


def _nothing_to_send(max_bytes: int) -> Chunk:
    return b""


class StreamConnection:
    """A protocol and its connection's state: the sans-IO half of every stream driver.

    Args:
        protocol: a fresh protocol object for this connection.

    The driver calls :meth:`start`, then :meth:`received` with each ``recv`` result (``b""``
    for EOF), ``next_output(max_bytes)`` when it can send (the protocol's next piece, or ``b""``;
    an attribute, not a method: see the ``state`` setter), and :meth:`output_drained` when it has
    sent everything it pulled and ``next_output`` gave nothing; each of the last three may
    return an :class:`Ending` the driver must carry out.
    """

    def __init__(self, protocol: StreamProtocol) -> None:
        self.protocol = protocol
        self.state = ConnectionState.OPEN
        self._discarded = 0
        self._lost_reported = False
        # The buffered input path: offered by the protocol, or not (decided once).
        self.buffered = is_buffered(protocol)
        self._scratch: memoryview | None = None  # made on first need
        self._lent_by_protocol = False  # whose memory the last receive_buffer was

    # What drivers ask on every request is derived from the state once per transition, into
    # plain attributes: a property or an Enum-keyed dict lookup per question costs a Python
    # call each, several per request on the hot path.

    @property
    def state(self) -> ConnectionState:
        return self._state

    @state.setter
    def state(self, state: ConnectionState) -> None:
        self._state = state
        self.closed = state is ConnectionState.CLOSED
        self.lingering = state is ConnectionState.LINGERING
        self._open = self.is_open = state is ConnectionState.OPEN
        self._reads = READS_IN_STATE[state]
        self._producing = state is ConnectionState.OPEN or state is ConnectionState.PEER_DONE
        # The pull a driver makes twice per request (the second only learns there is nothing
        # more) goes straight to the protocol while it may produce: the connection adds no call
        # of its own to it. Outside those states there is nothing to pull.
        self.next_output = self.protocol.pull_output if self._producing else _nothing_to_send

    # --- the table -------------------------------------------------------------------

    def handle(self, event: ConnectionEvent) -> Ending:
        """Apply ``event``; return what the driver must do."""
        next_state, ending = TRANSITIONS.get((self.state, event), (self.state, NOTHING))
        self.state = next_state
        if next_state is ConnectionState.CLOSED:
            self._report_lost()
        return ending

    # --- what a driver asks ----------------------------------------------------------

    def start(self, context: ConnectionContext) -> None:
        self.protocol.connection_made(context)

    def wants_read(self) -> bool:
        """Read now? False while the protocol pauses input or the state reads nothing."""
        return self.lingering or (self._reads and self.protocol.wants_input)

    def received(self, data: bytes) -> Ending:
        """One ``recv`` result, ``b""`` meaning the peer's EOF."""
        if data and self._open:  # the common case first
            self.protocol.data_received(data)
            return NOTHING
        if self.lingering:
            self._discarded += len(data)
            if not data:
                return self.handle(ConnectionEvent.PEER_EOF)
            if self._discarded >= LINGER_MAX_BYTES:
                return self.handle(ConnectionEvent.LINGER_OVER)
            return NOTHING
        if self.state is not ConnectionState.OPEN:
            return NOTHING
        if data:
            self.protocol.data_received(data)
            return NOTHING
        ending = self.handle(ConnectionEvent.PEER_EOF)
        self.protocol.eof_received()
        return ending

    def receive_buffer(self, size_hint: int = RECV_BYTES) -> memoryview:
        """Where the driver's next read goes (``recv_into``); report it to :meth:`received_into`.

        The protocol's own buffer while it is open and wants input, else a scratch buffer.

        Raises:
            ValueError: the protocol lent an empty buffer (a read into it would look like EOF).
        """
        if self._open and self.buffered and self.protocol.wants_input:
            buffer = self.protocol.get_buffer(size_hint)
            if not len(buffer):
                raise ValueError(f"{type(self.protocol).__name__}.get_buffer lent an empty buffer")
            self._lent_by_protocol = True
            return buffer
        self._lent_by_protocol = False
        if self._scratch is None:
            self._scratch = memoryview(bytearray(RECV_BYTES))
        return self._scratch

    def received_into(self, nbytes: int) -> Ending:
        """The last :meth:`receive_buffer` now holds ``nbytes`` bytes; 0 means the peer's EOF."""
        if nbytes and self._lent_by_protocol:  # the common case first (lent only while OPEN)
            self.protocol.buffer_updated(nbytes)
            return NOTHING
        if not nbytes:
            return self.received(b"")
        scratch = self._scratch[:nbytes]  # type: ignore[index]
        # Lingering input is only counted; anything else is the fallback's one copy.
        return self.received(scratch if self.lingering else bytes(scratch))

    def output_drained(self) -> Ending:
        """Everything pulled so far is sent and the protocol has nothing now: done yet?"""
        if self._producing and self.protocol.wants_close:
            return self.handle(ConnectionEvent.PROTOCOL_FINISHED)
        return NOTHING

    def abort(self, reason: object = None) -> Ending:
        """The peer reset, the idle or linger timer fired, or the server is stopping."""
        if reason is not None:
            log.debug("connection aborted: %r", reason)
        return self.handle(ConnectionEvent.ABORT)

    def wedged(self, *, output_pending: bool, has_waker: bool) -> bool:
        """True when nothing can ever move: not reading, nothing to send, no wake to expect.

        A protocol that pauses input while owing no output and holding no waker has wedged
        its connection; drivers treat that as a protocol error and close rather than wait.
        """
        return (
            self._producing
            and not self.wants_read()
            and not output_pending
            and not has_waker
        )

    def _report_lost(self) -> None:
        if self._lost_reported:
            return
        self._lost_reported = True
        try:
            self.protocol.connection_lost()
        except Exception:  # the protocol's cleanup failing must not take the runner down
            log.exception("protocol cleanup failed")
