"""Driving one or many TCP conversations at once, bounded, and saying how each one ended.

An echo check must write and read **at the same time**: a client that ``sendall``s 16 MiB
before reading deadlocks against a correct server as soon as both directions' socket
buffers are full (the server blocks writing the echo we are not reading, so it stops
reading what we are writing). So every exchange here runs in one ``selectors`` loop over
non-blocking sockets — one conversation, or twenty concurrent clients — and the loop ends
each conversation in exactly one of a few observable ways (:class:`Ending`), which
:func:`conversation_failure` turns into the fixed "actual" wordings of
:mod:`harness.verdicts`.

Bounds: the loop stops when no byte has moved in either direction on any of its
conversations for ``stall_timeout`` (a server that is not answering), or when the case's
:class:`~harness.checks.endpoint.Deadline` is spent (a server that answers too slowly, e.g.
one byte every 100 ms). Data are compared as they arrive, so a wrong byte ends the
conversation at once, without waiting for the rest.

Pace: each conversation that expects a reply is recorded in the deadline's pace log
(:mod:`harness.checks.pace`) when the loop ends, so that a case whose budget runs out can
tell a slow, correct target (not blamed) from a dripping one (FAILED).

Each chunk of a conversation is written by its own ``send`` call (with TCP_NODELAY set by
:meth:`Endpoint.connect`, each leaves as its own segment), which is how the one-byte-at-a-time
and random-split checks control what the server's ``recv`` sees.
"""

from __future__ import annotations

import enum
import selectors
import socket
import time
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from harness.checks.endpoint import Deadline
from harness.checks.pace import Exchange
from harness.verdicts import (
    ConformanceFailure,
    describe_close,
    describe_data,
    describe_reset,
    describe_timeout,
)

# Bytes per recv(): a 16 MiB echo takes a few hundred calls.
RECV_BYTES = 262144

# No byte moved either way for this long on loopback: the server is not going to answer.
# (A loaded 2-core CI machine schedules a runnable server within milliseconds.)
STALL_TIMEOUT_S = 5.0


class Ending(str, enum.Enum):
    """How a conversation ended."""

    COMPLETE = "complete"  # exactly the expected bytes arrived (then EOF, if awaited)
    MISMATCH = "mismatch"  # bytes differing from the expected, or more than expected
    EOF = "eof"  # orderly close before the expected bytes were complete
    RESET = "reset"  # the peer reset the connection
    STALLED = "stalled"  # nothing moved for the stall timeout
    OUT_OF_TIME = "out-of-time"  # the case's budget was spent


@dataclass(eq=False)
class Conversation:
    """One connection's script: what to send, what should come back, when it is over.

    Args:
        sock: a connected non-blocking socket (owned by the caller, who closes it).
        chunks: byte strings to send, each by its own ``send`` call, in order.
        expected: what the server should send back in total; None to only observe (the
            conversation then ends at EOF, reset, or after ``stall_timeout`` of quiet).
        shut_wr: ``shutdown(SHUT_WR)`` once every chunk is sent (the client's FIN).
        read_to_eof: after the expected bytes, also require the server's EOF.
        enough: complete once this many bytes (agreeing with ``expected``) have arrived.
        label: how failures name this conversation ("client 3").
    """

    sock: socket.socket
    chunks: Sequence[bytes]
    expected: bytes | None
    shut_wr: bool = False
    read_to_eof: bool = False
    enough: int | None = None
    label: str = "client"
    received: bytearray = field(default_factory=bytearray)
    sent_bytes: int = 0
    ending: Ending | None = None
    eof_seen: bool = False
    # (seconds since the loop started, bytes received so far) at each arrival
    arrivals: list[tuple[float, int]] = field(default_factory=list)
    _chunk_index: int = 0
    _chunk_offset: int = 0
    _shut: bool = False

    @property
    def total_to_send(self) -> int:
        return sum(len(chunk) for chunk in self.chunks)

    @property
    def all_sent(self) -> bool:
        return self._chunk_index >= len(self.chunks) and (self._shut or not self.shut_wr)

    @property
    def wants_write(self) -> bool:
        return self.ending is None and not self.all_sent

    def _write(self) -> int:
        """Send (part of) the next chunk, or the FIN. Returns bytes moved."""
        if self._chunk_index >= len(self.chunks):
            if self.shut_wr and not self._shut:
                try:
                    self.sock.shutdown(socket.SHUT_WR)
                except OSError:
                    self.ending = Ending.RESET  # ENOTCONN: the peer already reset us
                self._shut = True
            return 0
        chunk = self.chunks[self._chunk_index]
        try:
            # a memoryview slice: no copy of the unsent rest of a 16 MiB chunk per send
            sent = self.sock.send(memoryview(chunk)[self._chunk_offset :]) if chunk else 0
        except BlockingIOError:
            return 0
        except (BrokenPipeError, ConnectionResetError):
            self.ending = Ending.EOF if self.eof_seen else Ending.RESET
            return 0
        self._chunk_offset += sent
        self.sent_bytes += sent
        if self._chunk_offset >= len(chunk):
            self._chunk_index += 1
            self._chunk_offset = 0
        return sent if sent else 1  # an empty chunk still counts as progress

    def _read(self, since: float) -> int:
        """Receive what is there. Returns bytes moved (1 for an EOF, which is progress)."""
        try:
            data = self.sock.recv(RECV_BYTES)
        except BlockingIOError:
            return 0
        except ConnectionResetError:
            self.ending = Ending.RESET
            return 0
        if not data:
            self.eof_seen = True
            return 1
        start = len(self.received)
        self.received += data
        self.arrivals.append((time.monotonic() - since, len(self.received)))
        if self.expected is not None and self.expected[start : start + len(data)] != data:
            self.ending = Ending.MISMATCH
        return len(data)

    def evaluate(self) -> None:
        """Decide whether the conversation is over, from what has been sent and received."""
        if self.ending is not None:
            return
        if self.expected is None:
            if self.eof_seen:
                self.ending = Ending.EOF
            return
        count = len(self.received)
        if count > len(self.expected):
            self.ending = Ending.MISMATCH
        elif self.all_sent and self.enough is not None and count >= self.enough:
            self.ending = Ending.COMPLETE
        elif self.all_sent and count == len(self.expected) and (self.eof_seen or not self.read_to_eof):
            self.ending = Ending.COMPLETE
        elif self.eof_seen:
            self.ending = Ending.EOF

    def on_ready(self, mask: int, since: float) -> int:
        moved = 0
        if mask & selectors.EVENT_WRITE and self.wants_write:
            moved += self._write()
        if mask & selectors.EVENT_READ and self.ending is None:
            moved += self._read(since)
        self.evaluate()
        return moved


def converse(
    conversations: Iterable[Conversation],
    deadline: Deadline,
    *,
    stall_timeout: float = STALL_TIMEOUT_S,
) -> float:
    """Run every conversation until each has an :class:`Ending`.

    Args:
        conversations: the scripts; their sockets must be connected and non-blocking.
        deadline: the case's budget; when spent, unfinished conversations end OUT_OF_TIME.
        stall_timeout: when no byte has moved on any conversation for this long,
            unfinished conversations end STALLED (for an observing conversation, that is
            its normal end: the quiet window passed).

    Returns:
        Seconds the loop ran.

    Resource handling: the sockets stay open; the caller closes them.
    """
    active = list(conversations)
    started = time.monotonic()
    for conversation in active:
        conversation.evaluate()
    with selectors.DefaultSelector() as selector:
        registered: dict[Conversation, int] = {}

        def register(conversation: Conversation) -> None:
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if conversation.wants_write else 0)
            if conversation.ending is not None:
                if conversation in registered:
                    selector.unregister(conversation.sock)
                    del registered[conversation]
            elif conversation not in registered:
                selector.register(conversation.sock, events, conversation)
                registered[conversation] = events
            elif registered[conversation] != events:
                selector.modify(conversation.sock, events, conversation)
                registered[conversation] = events

        for conversation in active:
            register(conversation)
        last_progress = time.monotonic()
        while registered:
            now = time.monotonic()
            quiet_left = last_progress + stall_timeout - now
            if deadline.spent or quiet_left <= 0:
                ending = Ending.OUT_OF_TIME if deadline.spent else Ending.STALLED
                for conversation in list(registered):
                    conversation.ending = ending
                    register(conversation)
                break
            for key, mask in selector.select(min(quiet_left, deadline.remaining())):
                conversation = key.data
                if conversation.on_ready(mask, started):
                    last_progress = time.monotonic()
                register(conversation)
    _record_pace(active, deadline, started)
    return time.monotonic() - started


def _record_pace(conversations: Sequence[Conversation], deadline: Deadline, started: float) -> None:
    """Add each conversation that expected a reply to the deadline's pace log."""
    for conversation in conversations:
        if conversation.expected is None:
            continue  # an observation (a quiet window, an EOF watch), not an exchange
        previous = 0
        arrivals = []
        for at, total in conversation.arrivals:
            arrivals.append((started + at, total - previous))
            previous = total
        deadline.pace.record(Exchange(started, arrivals, complete=conversation.ending is Ending.COMPLETE))


def conversation_failure(
    conversation: Conversation,
    expected_text: str,
    deadline: Deadline,
    *,
    stall_timeout: float = STALL_TIMEOUT_S,
) -> ConformanceFailure | None:
    """The conformance failure a finished conversation amounts to, or None if COMPLETE.

    Args:
        conversation: a conversation :func:`converse` has ended.
        expected_text: the "expected" wording.
        deadline: the deadline it ran under (for an OUT_OF_TIME wording).
        stall_timeout: the stall limit it ran under (for a STALLED wording).
    """
    ending = conversation.ending
    if ending is Ending.COMPLETE:
        return None
    received = bytes(conversation.received)
    expected_len = len(conversation.expected) if conversation.expected is not None else None
    if ending is Ending.MISMATCH:
        assert conversation.expected is not None
        actual = describe_data(conversation.expected, received)
    elif ending is Ending.EOF:
        actual = describe_close(len(received), expected_len)
    elif ending is Ending.RESET:
        actual = describe_reset(len(received), expected_len)
    else:
        total = conversation.total_to_send
        if conversation.sent_bytes < total:
            why = f"only {conversation.sent_bytes} of {total} bytes could be sent"
        elif expected_len is not None and len(received) == expected_len and conversation.read_to_eof:
            why = "no EOF after the last echoed byte"
        else:
            why = f"all {total} byte{'' if total == 1 else 's'} sent"
            why += " and SHUT_WR" if conversation.shut_wr else ""
        if ending is Ending.OUT_OF_TIME:
            seconds, why = deadline.budget_s, f"{why}; {deadline.spent_description()}"
        else:
            seconds, why = stall_timeout, f"{why}; nothing moved for {stall_timeout:g} s"
        actual = describe_timeout(seconds, len(received), expected_len, why=why)
    if conversation.label != "client":
        actual = f"{conversation.label}: {actual}"
    if ending is Ending.OUT_OF_TIME:
        return deadline.spent_failure(expected_text, actual)  # slow or dripping: the pace says
    return ConformanceFailure(expected_text, actual)


def require_complete(
    conversation: Conversation,
    expected_text: str,
    deadline: Deadline,
    *,
    stall_timeout: float = STALL_TIMEOUT_S,
) -> None:
    """Raise the conversation's :func:`conversation_failure`, if any."""
    failure = conversation_failure(conversation, expected_text, deadline, stall_timeout=stall_timeout)
    if failure is not None:
        raise failure


def split_at(data: bytes, offsets: Iterable[int]) -> list[bytes]:
    """Cut ``data`` at the given offsets (out-of-range and repeated ones ignored)."""
    cuts = sorted({offset for offset in offsets if 0 < offset < len(data)})
    bounds = [0, *cuts, len(data)]
    return [data[start:end] for start, end in zip(bounds, bounds[1:]) if end > start] or [data]
