"""Echo, as RFC 862 defines it, and the chapter's line echo.

RFC 862 (TCP based Echo Service): "Once a connection is established any data received is
sent back. This continues until the calling user terminates the connection." The RFC says
nothing of half-close; we read "terminates" as the peer's FIN: everything received before it
is echoed, then the server closes (see suites/echo_tcp/SPEC.md).

The line echo is the chapter's ``for line in self.rfile: self.wfile.write(line)`` made
bounded: a line is echoed once its LF arrives, a last partial line is echoed at EOF, and a
line longer than :data:`MAX_LINE_BYTES` is echoed in pieces of that size so that one client
cannot make the server hold an unbounded line (``rfile`` iteration would). The normative text
is suites/line_echo_tcp/SPEC.md.
"""

from __future__ import annotations

from harness.protocols.base import Chunk, ConnectionContext, OutputQueue

# Large enough for any sane line, small enough that 1000 connections each sending an
# endless line cost the server at most 64 MB.
MAX_LINE_BYTES = 65536

# Input is paused while this much echo is unsent: a client that sends without reading then
# fills its own socket buffers, not our memory (1 MiB: a few dozen recv()s in flight).
HIGH_WATER_BYTES = 1 << 20

LINE_TERMINATOR = b"\n"


class EchoProtocol:
    """RFC 862 echo: every byte received is sent back unchanged, in order."""

    def __init__(self) -> None:
        self._output = OutputQueue()
        self._peer_done = False
        # The runner pulls twice per echo (the second pull finds nothing) and delivers once:
        # straight to the queue, with no call of this class's in between.
        self.pull_output = self._output.pull
        self.data_received = self._output.append

    @property
    def wants_input(self) -> bool:
        return self._output.pending_bytes < HIGH_WATER_BYTES

    @property
    def wants_close(self) -> bool:
        # Nothing is buffered but the unsent echo, so after the peer's EOF we are done.
        return self._peer_done

    def connection_made(self, context: ConnectionContext) -> None:
        pass

    def data_received(self, data: bytes) -> None:
        # RFC 862: "any data received is sent back."
        self._output.append(data)

    def eof_received(self) -> None:
        self._peer_done = True

    def pull_output(self, max_bytes: int) -> Chunk:
        return self._output.pull(max_bytes)

    def connection_lost(self) -> None:
        pass


class LineEchoProtocol:
    """Echo complete lines; the last partial line at EOF; over-long lines in bounded pieces."""

    def __init__(self, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        if max_line_bytes < 1:
            raise ValueError(f"max_line_bytes must be positive, got {max_line_bytes}")
        self._max_line_bytes = max_line_bytes
        self._pending = bytearray()
        self._output = OutputQueue()
        self._peer_done = False

    @property
    def wants_input(self) -> bool:
        return self._output.pending_bytes < HIGH_WATER_BYTES

    @property
    def wants_close(self) -> bool:
        return self._peer_done

    def connection_made(self, context: ConnectionContext) -> None:
        pass

    def data_received(self, data: bytes) -> None:
        self._pending += data
        last_terminator = self._pending.rfind(LINE_TERMINATOR)
        cut = last_terminator + 1  # 0 when no complete line has arrived yet
        if len(self._pending) - cut >= self._max_line_bytes:
            # The unterminated tail reached the bound: echo whole pieces of it now.
            tail = len(self._pending) - cut
            cut += tail - tail % self._max_line_bytes
        if cut:
            self._output.append(bytes(self._pending[:cut]))
            del self._pending[:cut]

    def eof_received(self) -> None:
        # SPEC: "a last line without its LF is echoed when the client closes its side."
        self._output.append(bytes(self._pending))
        self._pending.clear()
        self._peer_done = True

    def pull_output(self, max_bytes: int) -> Chunk:
        return self._output.pull(max_bytes)

    def connection_lost(self) -> None:
        pass


class EchoDatagramProtocol:
    """RFC 862 over UDP: "When a datagram is received, the data from it is sent back in an
    answering datagram." One datagram in, the same bytes out, the empty one included."""

    def datagram_received(self, data: bytes) -> list[bytes]:
        return [data]
