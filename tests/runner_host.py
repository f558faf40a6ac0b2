"""Serve a trivial test protocol on any runner: ``python -m tests.runner_host RUNNER [--udp]``.

Runners are tested with a protocol that is not a real service, as the house style asks, so
that a runner bug cannot hide behind echo's forgiving identity. The protocol greets on
connect (``connection_made`` output must be sent before anything is read), upper-cases
what it reads, and says goodbye at EOF (output produced by ``eof_received`` must be
flushed before the close).
"""

from __future__ import annotations

import argparse

from harness.runners.base import RunnerOptions
from harness.serving import serve_until_signalled
from harness.protocols.base import Chunk, ConnectionContext, OutputQueue
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


HANG_UP = Service("hang-up-tcp", ServiceKind.BYTE_STREAM, lambda config: HangUpProtocol(), "tests/runner_host.py", "test only")

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
    args = parser.parse_args()
    serve_until_signalled(
        DOUBLE_REPLY if args.udp else HANG_UP if args.hang_up else SHOUTING,
        args.runner,
        options=RunnerOptions(workers=args.workers, idle_timeout=args.idle_timeout),
    )


if __name__ == "__main__":
    main()
