"""Every runner, driven with a trivial protocol: greeting, transformation, flush at EOF,
concurrency, idle timeout, resets, and a stop that leaves no process behind.

Each server runs in a subprocess (``tests.runner_host``) started through the launcher, so
these tests exercise exactly what ``wirecheck serve`` does, READY line included.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import struct
import sys
import threading
import time
from pathlib import Path

import pytest

from harness.launch import RunningServer, launch_command, processes_in_session
from harness.runners import DATAGRAM, RUNNERS, STREAM, load_runner, one_client_at_a_time_runners, runners_for
from harness.runners.base import DEFAULT_IDLE_TIMEOUT_S, STOP_SIGNALS, Runner, RunnerOptions
from harness.runners import event_loops
from harness.runners.asyncio_loop import wake_queue_for
from harness.runners.blocking import ConnectionTracker
from harness.runners.event_loops import EventHandler, SelectorLoop
from tests.runner_host import FAREWELL, GREETING, ShoutingProtocol

REPO = Path(__file__).resolve().parent.parent
ALL_RUNNERS = runners_for(STREAM)
DATAGRAM_RUNNERS = runners_for(DATAGRAM)
# Runners that serve one connection at a time by design, from their registry traits.
ONE_AT_A_TIME = one_client_at_a_time_runners() & set(ALL_RUNNERS)
IO_TIMEOUT_S = 10.0
# The runners that take --workers: a pool of processes or threads made before serving.
WORKER_POOL_RUNNERS = ("prefork-threads", "prefork-processes", "fd-passing")
# The runners whose worker processes are supervised: a dead one is replaced.
SUPERVISED_POOL_RUNNERS = ("prefork-processes", "fd-passing")


def start(runner: str, *extra: str) -> RunningServer:
    return launch_command(
        [sys.executable, "-m", "tests.runner_host", runner, *extra], cwd=str(REPO)
    )


def connect(server: RunningServer) -> socket.socket:
    return socket.create_connection(server.address, timeout=IO_TIMEOUT_S)


def recv_exactly(sock: socket.socket, count: int) -> bytes:
    data = bytearray()
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            break
        data += chunk
    return bytes(data)


def recv_to_eof(sock: socket.socket) -> bytes:
    data = bytearray()
    while chunk := sock.recv(65536):
        data += chunk
    return bytes(data)


@pytest.mark.parametrize("runner", ALL_RUNNERS)
def test_runner_greets_transforms_and_flushes_at_eof(runner: str) -> None:
    with start(runner) as server:
        with connect(server) as client:
            assert recv_exactly(client, len(GREETING)) == GREETING
            client.sendall(b"abc")
            assert recv_exactly(client, 3) == b"ABC"
            client.shutdown(socket.SHUT_WR)
            assert recv_to_eof(client) == FAREWELL  # then an orderly close
    assert server.exit_status == 0


@pytest.mark.parametrize("runner", ALL_RUNNERS)
def test_runner_reads_into_the_buffers_a_protocol_lends(runner: str) -> None:
    message = b"into the lent buffer, seven bytes at a time\n" * 3
    with start(runner, "--buffered") as server, connect(server) as client:
        assert recv_exactly(client, len(GREETING)) == GREETING
        client.sendall(message)
        assert recv_exactly(client, len(message)) == message.upper()  # not FALLBACK_MARK
        client.shutdown(socket.SHUT_WR)
        assert recv_to_eof(client) == FAREWELL


@pytest.mark.parametrize("runner", sorted(set(ALL_RUNNERS) - ONE_AT_A_TIME))
def test_concurrent_runner_serves_clients_at_once(runner: str) -> None:
    clients_count = 12  # under prefork-threads' default pool of 16
    with start(runner) as server:
        clients = [connect(server) for _ in range(clients_count)]
        try:
            for client in clients:
                assert recv_exactly(client, len(GREETING)) == GREETING
            for number, client in enumerate(clients):
                client.sendall(b"client %d;" % number)
            for number, client in enumerate(reversed(clients)):
                expected = b"CLIENT %d;" % (clients_count - 1 - number)
                assert recv_exactly(client, len(expected)) == expected
        finally:
            for client in clients:
                client.close()


@pytest.mark.parametrize("runner", sorted(ONE_AT_A_TIME))
def test_one_at_a_time_runner_makes_the_second_client_wait(runner: str) -> None:
    with start(runner) as server:
        with connect(server) as first, connect(server) as second:
            assert recv_exactly(first, len(GREETING)) == GREETING
            second.settimeout(0.5)
            with pytest.raises(TimeoutError):
                second.recv(1)  # still in the backlog: the limit the docstring states
            first.close()
            second.settimeout(IO_TIMEOUT_S)
            assert recv_exactly(second, len(GREETING)) == GREETING


@pytest.mark.parametrize("runner", ALL_RUNNERS)
def test_runner_closes_an_idle_connection(runner: str) -> None:
    with start(runner, "--idle-timeout", "0.5") as server:
        with connect(server) as client:
            assert recv_exactly(client, len(GREETING)) == GREETING
            started = time.monotonic()
            assert recv_to_eof(client) == b""  # no data; the server closed or aborted it
            assert time.monotonic() - started < IO_TIMEOUT_S


@pytest.mark.parametrize("runner", ALL_RUNNERS)
def test_runner_lingers_so_unread_input_does_not_reset_the_reply(runner: str) -> None:
    with start(runner, "--hang-up") as server:
        for _ in range(3):
            with connect(server) as client:
                client.sendall(b"x" * 200_000)  # still arriving when the server is done
                # Without a lingering close this is often ConnectionResetError, the reply lost.
                assert recv_to_eof(client) == FAREWELL


@pytest.mark.parametrize("runner", ALL_RUNNERS)
def test_runner_survives_a_client_reset(runner: str) -> None:
    with start(runner) as server:
        for _ in range(3):
            victim = connect(server)
            assert recv_exactly(victim, len(GREETING)) == GREETING
            victim.sendall(b"x" * 100_000)
            victim.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            victim.close()  # RST, with the server possibly mid-write
        with connect(server) as client:
            assert recv_exactly(client, len(GREETING)) == GREETING
            client.sendall(b"still here")
            assert recv_exactly(client, 10) == b"STILL HERE"


@pytest.mark.parametrize("runner", ALL_RUNNERS)
def test_runner_stops_with_a_client_connected_and_leaves_no_process(runner: str) -> None:
    server = start(runner, "--workers", "2") if runner in WORKER_POOL_RUNNERS else start(runner)
    clients = [connect(server) for _ in range(2)]
    try:
        assert recv_exactly(clients[0], len(GREETING)) == GREETING
        assert processes_in_session(server.pid)  # the server (and its children) are up
        started = time.monotonic()
        assert server.stop() == 0, server.stderr_text()
        stop_seconds = time.monotonic() - started
        assert processes_in_session(server.pid) == []
        # A connected client sees the end of the connection, not a hang.
        clients[0].settimeout(IO_TIMEOUT_S)
        try:
            leftover = recv_to_eof(clients[0])
        except ConnectionResetError:
            leftover = b""
        assert leftover in (b"", FAREWELL)
        # Not a speed figure: runners wake their connections at once, and what this guards
        # against is a stop that waits out the idle timeout of a blocked recv (120 s), which a
        # quarter of it tells apart from any slowness of a loaded machine.
        assert stop_seconds < DEFAULT_IDLE_TIMEOUT_S / 4, f"{runner} took {stop_seconds:.1f} s to stop"
    finally:
        for client in clients:
            client.close()
        server.stop()


def test_connection_tracked_after_the_stop_is_shut_down_at_once() -> None:
    """The race a stop can lose: a pool thread's accept() returned just before the stop, and
    the connection is tracked only after shutdown_all() took its list. It must be woken
    too, or its thread sits in recv for the idle timeout (seen once in CI: "pool thread
    pool-1 did not stop in 5 s")."""
    tracker = ConnectionTracker()
    served, peer = socket.socketpair()
    with served, peer:
        tracker.add(served)  # before the stop: a plain tracked connection, still open
        served.settimeout(0.05)
        with pytest.raises(TimeoutError):
            served.recv(1)
        late, late_peer = socket.socketpair()
        with late, late_peer:
            tracker.shutdown_all()
            assert served.recv(1) == b""  # woken by the stop
            tracker.add(late)  # accepted before the stop, tracked after it
            late.settimeout(IO_TIMEOUT_S)
            assert late.recv(1) == b"", "a connection tracked after the stop was left open"


class _CountingHandler(EventHandler):
    """A registered handler (on one end of a socketpair) that counts its wakes."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock, self.wakes = sock, 0
        self.woken = threading.Condition()

    def fileno(self) -> int:
        return self._sock.fileno()

    def handle_wake(self) -> None:
        with self.woken:
            self.wakes += 1
            self.woken.notify_all()


def test_a_wake_while_one_is_pending_writes_no_second_byte() -> None:
    loop = SelectorLoop(idle_timeout=60)
    mine, _theirs = socket.socketpair()
    with mine, _theirs:
        handler = _CountingHandler(mine)
        loop.add(handler)
        loop.wake_handler(handler)
        loop.wake_handler(handler)  # the loop has not drained yet: the first byte will do
        assert loop._wake_reader.recv(16) == b"\0"
        loop._wake_writer.close()
        loop._wake_reader.close()


def test_wakes_from_many_threads_are_all_handled_without_the_sweep(monkeypatch) -> None:
    """No wake is lost by skipping a pending one's byte: with the idle sweep (which would
    otherwise pass the loop every second anyway) pushed out of the way, every wake from four
    threads, in bursts, is handled."""
    monkeypatch.setattr(event_loops, "SWEEP_INTERVAL_S", 60.0)
    loop = SelectorLoop(idle_timeout=120)
    mine, _theirs = socket.socketpair()
    handler = _CountingHandler(mine)
    loop.add(handler)
    runner = threading.Thread(target=loop.run, name="loop-under-test", daemon=True)
    runner.start()
    try:
        for burst in range(1, 21):
            senders = [
                threading.Thread(target=lambda: [loop.wake_handler(handler) for _ in range(25)]) for _ in range(4)
            ]
            for sender in senders:
                sender.start()
            for sender in senders:
                sender.join()
            with handler.woken:
                handler.woken.wait_for(lambda: handler.wakes >= burst * 100, timeout=10)
            assert handler.wakes == burst * 100, f"burst {burst}: {handler.wakes} of {burst * 100} wakes handled"
    finally:
        loop.stop()
        runner.join(10)
        mine.close()
        _theirs.close()
    assert not runner.is_alive()


def test_asyncio_wakes_before_the_loop_comes_round_are_carried_by_one_call() -> None:
    loop = asyncio.new_event_loop()
    try:
        scheduled = []
        call_soon_threadsafe = loop.call_soon_threadsafe
        loop.call_soon_threadsafe = lambda callback: scheduled.append(call_soon_threadsafe(callback))  # type: ignore[method-assign]
        wakes = wake_queue_for(loop)
        flushed: list[str] = []

        class Adapter:
            def __init__(self, name: str) -> None:
                self.name = name

            def _flush(self) -> None:
                flushed.append(self.name)

        wakes.put(Adapter("a"))
        wakes.put(Adapter("b"))  # the loop has not come round: the first call carries it
        loop.run_until_complete(asyncio.sleep(0))
        assert flushed == ["a", "b"] and len(scheduled) == 1
        wakes.put(Adapter("c"))  # after the drain, a wake asks again
        loop.run_until_complete(asyncio.sleep(0))
        assert flushed == ["a", "b", "c"] and len(scheduled) == 2
    finally:
        loop.close()


def test_prefork_threads_leaves_the_stop_signals_to_the_thread_that_waits_for_them() -> None:
    """A SIGTERM the kernel hands to a pool thread (one returning from accept() or recv())
    never wakes the main thread asleep in its wait: the stop is lost until a SIGKILL (seen
    once in CI). The pool threads must block the stop signals."""
    masks: list[set[int]] = []

    class RecordingProtocol(ShoutingProtocol):
        def connection_made(self, context) -> None:
            masks.append(signal.pthread_sigmask(signal.SIG_BLOCK, []))
            super().connection_made(context)

    listener = socket.create_server(("127.0.0.1", 0))
    runner_class = load_runner("prefork-threads", STREAM)
    runner = runner_class(RecordingProtocol, listener, RunnerOptions(workers=2), RUNNERS["prefork-threads"].traits)
    serving = threading.Thread(target=runner.serve)
    serving.start()
    try:
        with socket.create_connection(listener.getsockname(), timeout=IO_TIMEOUT_S) as client:
            assert recv_exactly(client, len(GREETING)) == GREETING
    finally:
        runner.request_stop()
        serving.join(IO_TIMEOUT_S)
    assert masks, "the pool never served the connection"
    assert STOP_SIGNALS <= masks[0], f"a pool thread takes stop signals (its mask: {masks[0]})"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_exits_zero_on_either_stop_signal(signum: int) -> None:
    server = start("threading")
    os.kill(server.pid, signum)
    assert server.process.wait(IO_TIMEOUT_S) == 0
    server.stop()


def wait_for_workers(server: RunningServer, count: int, excluding: int = 0) -> list[int]:
    """Poll /proc until the server has ``count`` children (READY precedes the forks)."""
    deadline = time.monotonic() + IO_TIMEOUT_S
    while True:
        workers = [pid for pid in processes_in_session(server.pid) if pid not in (server.pid, excluding)]
        if len(workers) == count or time.monotonic() > deadline:
            return workers
        time.sleep(0.05)  # a child's birth has no fd to wait on


@pytest.mark.parametrize("runner", SUPERVISED_POOL_RUNNERS)
def test_process_pool_replaces_a_dead_worker(runner: str) -> None:
    with start(runner, "--workers", "2") as server:
        workers = wait_for_workers(server, 2)
        assert len(workers) == 2
        os.kill(workers[0], signal.SIGKILL)
        replaced = wait_for_workers(server, 2, excluding=workers[0])
        assert len(replaced) == 2 and workers[0] not in replaced
        for _ in range(4):
            with connect(server) as client:
                assert recv_exactly(client, len(GREETING)) == GREETING
    assert server.exit_status == 0


def test_every_registered_runner_loads_for_each_kind_it_claims() -> None:
    for name, entry in RUNNERS.items():
        assert entry.traits.name == name
        for kind in entry.kinds:
            assert issubclass(load_runner(name, kind), Runner)


def test_one_client_at_a_time_runners_are_derived_from_traits() -> None:
    assert ONE_AT_A_TIME == {"raw", "single"}
    # The chapter's stdlib servers serve one client at a time too (they carry applications).
    assert one_client_at_a_time_runners() == {"raw", "single", "wsgiref", "stdlib-xmlrpc"}


def test_eleven_tcp_runners_and_eight_datagram_runners() -> None:
    assert len(ALL_RUNNERS) == 11
    assert set(DATAGRAM_RUNNERS) == set(ALL_RUNNERS) - {"prefork-threads", "prefork-processes", "fd-passing"}


def datagram_client(server: RunningServer) -> socket.socket:
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.settimeout(IO_TIMEOUT_S)
    client.connect(server.address)  # a connected socket only accepts replies from there
    return client


@pytest.mark.parametrize("runner", DATAGRAM_RUNNERS)
def test_datagram_runner_sends_every_reply_in_order(runner: str) -> None:
    with start(runner, "--udp") as server:
        assert server.transport == "udp"
        with datagram_client(server) as client:
            for request in (b"abc", b"", bytes(range(256)) * 255 + b"x" * 227):  # 65,507 B: the most
                client.send(request)
                assert client.recv(65536) == request[::-1]
                assert client.recv(65536) == b"%d" % len(request)
    assert server.exit_status == 0


@pytest.mark.parametrize("runner", DATAGRAM_RUNNERS)
def test_datagram_runner_answers_many_clients(runner: str) -> None:
    with start(runner, "--udp") as server:
        clients = [datagram_client(server) for _ in range(8)]
        try:
            for number, client in enumerate(clients):
                client.send(b"client %d" % number)
            for number, client in enumerate(clients):
                assert client.recv(65536) == (b"client %d" % number)[::-1]
        finally:
            for client in clients:
                client.close()


@pytest.mark.parametrize("runner", DATAGRAM_RUNNERS)
def test_datagram_runner_survives_a_vanished_client_and_stops_clean(runner: str) -> None:
    with start(runner, "--udp") as server:
        gone = datagram_client(server)
        gone.send(b"reply to nobody")
        gone.close()  # the reply meets ICMP port unreachable
        with datagram_client(server) as client:
            client.send(b"ok")
            assert client.recv(65536) == b"ko"
    assert server.exit_status == 0
    assert processes_in_session(server.pid) == []
