"""Serve a trivial test protocol on any runner: ``python -m tests.runner_host RUNNER [--udp]``.

Runners are tested with a protocol that is not a real service, as the house style asks, so
that a runner bug cannot hide behind echo's forgiving identity. The protocol greets on
connect (``connection_made`` output must be sent before anything is read), upper-cases
what it reads, and says goodbye at EOF (output produced by ``eof_received`` must be
flushed before the close).
"""

from __future__ import annotations

import argparse
import threading

from harness.runners.base import RunnerOptions
from harness.serving import serve_until_signalled
from harness.protocols.base import Chunk, ConnectionContext, OutputQueue
from harness.protocols.echo import EchoProtocol
from harness.services import Service, ServiceKind

GREETING = b"hello\n"
FAREWELL = b"bye\n"


class ShoutingProtocol:
    def __init__(self) -> None:
        self._output = OutputQueue()
        self._closing = False

    @property
    def wants_input(self) -> bool:
        return self._output.pending_bytes < 1 << 20

    @property
    def wants_close(self) -> bool:
        return self._closing

    def connection_made(self, context: ConnectionContext) -> None:
        self._output.append(GREETING)

    def data_received(self, data: bytes) -> None:
        self._output.append(data.upper())

    def eof_received(self) -> None:
        self._closing = True
        self._output.append(FAREWELL)

    def pull_output(self, max_bytes: int) -> Chunk:
        return self._output.pull(max_bytes)

    def connection_lost(self) -> None:
        pass


# What BufferedShoutingProtocol answers for input that reached it through data_received.
FALLBACK_MARK = b"<data_received>"


class BufferedShoutingProtocol(ShoutingProtocol):
    """Stream test protocol that lends its own buffer (``BufferedStreamProtocol``).

    The buffer is 7 bytes, so a message spans several reads and a runner that ignored the
    lent size would overrun it; input that arrives through ``data_received`` instead (a runner
    that does not honour the buffered path) is answered with :data:`FALLBACK_MARK`, so the
    path taken is visible in the reply.
    """

    LEND_BYTES = 7

    def __init__(self) -> None:
        super().__init__()
        self._lent = bytearray(self.LEND_BYTES)

    def get_buffer(self, size_hint: int) -> memoryview:
        return memoryview(self._lent)

    def buffer_updated(self, nbytes: int) -> None:
        self._output.append(bytes(self._lent[:nbytes]).upper())

    def data_received(self, data: bytes) -> None:
        self._output.append(FALLBACK_MARK)


class DoubleReplyProtocol:
    """Datagram test protocol: two replies per request, the reversed bytes then the length.

    Two replies show a runner sends every reply, in order; the reversal shows it sends the
    protocol's bytes, not the request's; the empty request gets an empty first reply."""

    def datagram_received(self, data: bytes) -> list[bytes]:
        return [data[::-1], b"%d" % len(data)]


DOUBLE_REPLY = Service(
    "double-reply-udp", ServiceKind.DATAGRAM, lambda config: DoubleReplyProtocol(), "tests/runner_host.py", "test only"
)

class HangUpProtocol(ShoutingProtocol):
    """Stream test protocol that speaks first and is done at once (like daytime): the
    runner must flush the farewell and close without answering the client's input with RST."""

    wants_close = True

    def connection_made(self, context: ConnectionContext) -> None:
        self._output.append(FAREWELL)

    def data_received(self, data: bytes) -> None:
        pass


# How long the later-answering protocol's worker takes to answer.
LATER_DELAY_S = 0.2


class LaterAnswerProtocol:
    """Stream test protocol that answers each line 200 ms later, from another thread.

    Each complete line is handed to a timer thread, which upper-cases it and wakes the
    runner: the runner's thread never computes an answer. With ``pause_while_pending`` the
    protocol stops reading while a line is being answered (as h11 does between requests), so a
    runner must wait for the waker alone; without it the runner must wait for input and wakes
    at once. Answers come out in line order either way.
    """

    def __init__(self, pause_while_pending: bool) -> None:
        self._pause_while_pending = pause_while_pending
        self._lock = threading.Lock()
        self._answers = OutputQueue()  # filled by timer threads, under _lock
        self._pending_lines: list[bytes] = []
        self._buffer = bytearray()
        self._in_flight = 0
        self._peer_done = False
        self._wake = None

    @property
    def wants_input(self) -> bool:
        return not (self._pause_while_pending and (self._in_flight or self._pending_lines))

    @property
    def wants_close(self) -> bool:
        with self._lock:
            return self._peer_done and not self._in_flight and not self._pending_lines and not self._answers

    def connection_made(self, context: ConnectionContext) -> None:
        self._wake = context.make_waker()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while (end := self._buffer.find(b"\n")) >= 0:
            self._pending_lines.append(bytes(self._buffer[: end + 1]))
            del self._buffer[: end + 1]
        self._start_next()

    def eof_received(self) -> None:
        self._peer_done = True

    def _start_next(self) -> None:
        if self._in_flight or not self._pending_lines:
            return
        line = self._pending_lines.pop(0)
        self._in_flight = 1
        timer = threading.Timer(LATER_DELAY_S, self._answer, args=(line,))
        timer.daemon = True
        timer.start()

    def _answer(self, line: bytes) -> None:  # on the timer thread
        with self._lock:
            self._answers.append(line.upper())
            self._in_flight = 0
        self._wake()

    def pull_output(self, max_bytes: int) -> Chunk:
        with self._lock:
            chunk = self._answers.pull(max_bytes)
            idle = not self._in_flight
        if idle:
            self._start_next()  # back on the runner's thread: the next line may start
        return chunk

    def connection_lost(self) -> None:
        pass


LATER = Service(
    "later-tcp", ServiceKind.BYTE_STREAM, lambda config: LaterAnswerProtocol(True), "tests/runner_host.py", "test only"
)
LATER_READING = Service(
    "later-reading-tcp",
    ServiceKind.BYTE_STREAM,
    lambda config: LaterAnswerProtocol(False),
    "tests/runner_host.py",
    "test only",
)

ECHO = Service("echo", ServiceKind.BYTE_STREAM, lambda config: EchoProtocol(), "tests/runner_host.py", "test only")

HANG_UP = Service("hang-up-tcp", ServiceKind.BYTE_STREAM, lambda config: HangUpProtocol(), "tests/runner_host.py", "test only")

BUFFERED_SHOUTING = Service(
    "buffered-shouting-tcp",
    ServiceKind.BYTE_STREAM,
    lambda config: BufferedShoutingProtocol(),
    "tests/runner_host.py",
    "test only",
)

SHOUTING = Service(
    "shouting-tcp", ServiceKind.BYTE_STREAM, lambda config: ShoutingProtocol(), "tests/runner_host.py", "test only"
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("runner")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--idle-timeout", type=float, default=30.0)
    parser.add_argument("--udp", action="store_true", help="serve the datagram test protocol")
    parser.add_argument("--hang-up", action="store_true", help="serve the speak-then-close protocol")
    parser.add_argument("--later", action="store_true", help="answer each line 200 ms later, input paused")
    parser.add_argument("--later-reading", action="store_true", help="answer each line 200 ms later, reading on")
    parser.add_argument("--echo", action="store_true", help="serve RFC 862 echo (the back-pressure tests)")
    parser.add_argument("--buffered", action="store_true", help="serve the shouting protocol that lends buffers")
    args = parser.parse_args()
    chosen = [
        service
        for flag, service in (
            (args.udp, DOUBLE_REPLY),
            (args.hang_up, HANG_UP),
            (args.later, LATER),
            (args.later_reading, LATER_READING),
            (args.echo, ECHO),
            (args.buffered, BUFFERED_SHOUTING),
        )
        if flag
    ]
    serve_until_signalled(
        chosen[0] if chosen else SHOUTING,
        args.runner,
        options=RunnerOptions(workers=args.workers, idle_timeout=args.idle_timeout),
    )


if __name__ == "__main__":
    main()
