"""A fake runner for sans-IO protocol tests: feed input, pull everything the protocol has.

Fakes over mocks (house style): :class:`Drive` is a runner with no socket. It starts the
protocol with a loopback :class:`ConnectionContext`, and each call returns what a runner
would send at that point, pulled in pieces of ``max_bytes`` so that protocols are also
tested with a socket that takes little at a time. With ``buffered=True`` it feeds a protocol
that lends buffers as a ``recv_into`` runner does: each piece of input is copied into the buffer
``get_buffer`` lends, as much as fits, then reported with ``buffer_updated``.
"""

from __future__ import annotations

import threading

from harness.protocols.base import ConnectionContext, RunnerTraits, StreamProtocol

TEST_TRAITS = RunnerTraits("test-driver")


def loopback_context(**facts) -> ConnectionContext:
    """A context for a loopback connection on the fake runner."""
    facts.setdefault("peer", ("127.0.0.1", 40000))
    facts.setdefault("local", ("127.0.0.1", 7))
    facts.setdefault("runner", TEST_TRAITS)
    return ConnectionContext(**facts)


class Drive:
    """Drive one stream protocol as a runner would, minus the socket.

    Attributes:
        woken: set each time the protocol's waker is called (from any thread).
    """

    def __init__(self, protocol: StreamProtocol, *, max_bytes: int = 65536, buffered: bool = False) -> None:
        self.protocol = protocol
        self.max_bytes = max_bytes
        self.buffered = buffered
        self.woken = threading.Event()

    def _make_waker(self):
        return self.woken.set

    def start(self, **facts) -> bytes:
        self.protocol.connection_made(loopback_context(make_waker=self._make_waker, **facts))
        return self.pull_all()

    def feed(self, data: bytes) -> bytes:
        if not self.buffered:
            self.protocol.data_received(data)
            return self.pull_all()
        out = bytearray()
        view = memoryview(data)
        while view:
            assert self.protocol.wants_input, "input fed while the protocol pauses it"
            buffer = self.protocol.get_buffer(self.max_bytes)  # type: ignore[attr-defined]
            assert len(buffer) > 0, "get_buffer lent an empty buffer"
            count = min(len(buffer), len(view))
            buffer[:count] = view[:count]
            self.protocol.buffer_updated(count)  # type: ignore[attr-defined]
            view = view[count:]
            out += self.pull_all()  # as a runner does between reads: what it can send, it sends
        return bytes(out)

    def eof(self) -> bytes:
        self.protocol.eof_received()
        return self.pull_all()

    def pull_all(self) -> bytes:
        out = bytearray()
        while chunk := self.protocol.pull_output(self.max_bytes):
            assert len(chunk) <= self.max_bytes, "pull_output returned more than asked"
            out += chunk
        return bytes(out)
