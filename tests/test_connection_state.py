"""The connection state table, driven without a socket: every path to CLOSED."""

from __future__ import annotations

import pytest

from harness.protocols.echo import EchoProtocol
from harness.runners.base import LINGER_MAX_BYTES
from harness.runners.connection import (
    TRANSITIONS,
    ConnectionEvent,
    ConnectionState,
    Ending,
    StreamConnection,
)
from tests.runner_host import HangUpProtocol
from tests.sansio import loopback_context


class LostCounter(EchoProtocol):
    lost = 0

    def connection_lost(self) -> None:
        self.lost += 1


def started(protocol) -> StreamConnection:
    connection = StreamConnection(protocol)
    connection.start(loopback_context())
    return connection


def test_peer_eof_then_protocol_finished_closes() -> None:
    protocol = LostCounter()
    connection = started(protocol)
    assert connection.received(b"abc") is Ending.NOTHING
    assert connection.received(b"") is Ending.NOTHING  # EOF: PEER_DONE, echo still owed
    assert connection.state is ConnectionState.PEER_DONE and not connection.wants_read()
    assert bytes(connection.next_output(100)) == b"abc"
    assert connection.output_drained() is Ending.CLOSE
    assert connection.closed and protocol.lost == 1


def test_protocol_finished_first_lingers_discards_then_closes_at_peer_eof() -> None:
    connection = started(HangUpProtocol())
    assert connection.next_output(100)  # the farewell
    assert connection.output_drained() is Ending.HALF_CLOSE_AND_LINGER
    assert connection.lingering and connection.wants_read()
    assert connection.received(b"late input") is Ending.NOTHING  # thrown away, not fed
    assert connection.received(b"") is Ending.CLOSE


def test_lingering_ends_after_the_byte_bound() -> None:
    connection = started(HangUpProtocol())
    connection.next_output(100)
    connection.output_drained()
    assert connection.received(b"x" * LINGER_MAX_BYTES) is Ending.CLOSE


def test_abort_closes_from_any_live_state_and_reports_loss_once() -> None:
    for prepare in (lambda c: None, lambda c: c.received(b""), lambda c: c.handle(ConnectionEvent.PROTOCOL_FINISHED)):
        protocol = LostCounter()
        connection = started(protocol)
        prepare(connection)
        assert connection.abort("reset") is Ending.CLOSE
        assert connection.abort() is Ending.NOTHING  # already closed: a no-op
        assert protocol.lost == 1


def test_echo_is_not_finished_while_the_peer_is_open() -> None:
    connection = started(EchoProtocol())
    connection.received(b"x")
    connection.next_output(100)
    assert connection.output_drained() is Ending.NOTHING and connection.state is ConnectionState.OPEN


@pytest.mark.parametrize("state", list(ConnectionState))
def test_every_live_state_can_reach_closed(state: ConnectionState) -> None:
    # The table has no dead end: from each state some event leads to CLOSED.
    reachable, frontier = {state}, [state]
    while frontier:
        current = frontier.pop()
        for (source, _event), (target, _ending) in TRANSITIONS.items():
            if source is current and target not in reachable:
                reachable.add(target)
                frontier.append(target)
    assert ConnectionState.CLOSED in reachable


def test_output_is_pulled_from_the_protocol_only_while_it_may_produce() -> None:
    pulls: list[int] = []

    class CountingEcho(EchoProtocol):
        def __init__(self) -> None:
            super().__init__()
            queue_pull = self.pull_output
            self.pull_output = lambda max_bytes: pulls.append(max_bytes) or queue_pull(max_bytes)

    connection = started(CountingEcho())
    connection.received(b"abc")
    assert bytes(connection.next_output(100)) == b"abc" and connection.next_output(100) == b""
    assert pulls == [100, 100]
    connection.abort("reset")
    assert connection.next_output(100) == b"" and pulls == [100, 100]  # closed: not asked
