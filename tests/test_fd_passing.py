"""The ``fd-passing`` runner's own claims, beyond what every runner is tested for.

- The acceptor keeps no copy of a connection it handed off: each server-side socket is held by
  exactly one process, a worker, and the connections are spread over the workers.
- A worker whose acceptor is gone (SIGKILLed, so it could not stop them) sees EOF on its
  pipe and exits: no orphan outlives the server.
- A hand-off never blocks and never drops: when a worker's pipe is full, the hand-off reports
  it, and succeeds again once the worker has taken one; when every pipe is full, the acceptor
  holds the one connection it has, stops accepting (the backlog holds the rest), and hands the
  held one off and accepts again once a pipe has room.

Which process holds a socket is read from /proc: the server-side socket's inode from
``/proc/net/tcp``, then the ``socket:[inode]`` links under each process's ``fd`` directory.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import os
import selectors
import signal
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Iterator

from harness.launch import RunningServer, launch_command, processes_in_session
from harness.runners.base import RunnerOptions
from harness.runners.fd_passing import FdPassingRunner, Worker
from harness.runners import RUNNERS
from multiprocessing.reduction import recv_handle
from tests.runner_host import GREETING

REPO = Path(__file__).resolve().parent.parent
IO_TIMEOUT_S = 10.0
WORKERS = 2


def start_fd_passing() -> RunningServer:
    return launch_command(
        [sys.executable, "-m", "tests.runner_host", "fd-passing", "--workers", str(WORKERS)], cwd=str(REPO)
    )


def recv_exactly(sock: socket.socket, count: int) -> bytes:
    data = bytearray()
    while len(data) < count and (chunk := sock.recv(count - len(data))):
        data += chunk
    return bytes(data)


def server_side_inode(server_port: int, client_port: int) -> int:
    """The inode of the server's end of the loopback connection from ``client_port``."""
    wanted_local, wanted_remote = f"0100007F:{server_port:04X}", f"0100007F:{client_port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == wanted_local and fields[2] == wanted_remote:
            return int(fields[9])
    raise LookupError(f"no server-side socket for client port {client_port}")


def holders_of(inode: int, pids: list[int]) -> list[int]:
    """Which of ``pids`` hold an fd on the socket ``inode``."""
    link = f"socket:[{inode}]"
    holders = []
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == link:
                    holders.append(pid)
                    break
            except OSError:
                continue  # closed while we looked
    return holders


def wait_for_session(server: RunningServer, expected_count: int) -> list[int]:
    """The server's session once it has ``expected_count`` processes, or as it is at the deadline."""
    deadline = time.monotonic() + IO_TIMEOUT_S
    while (members := processes_in_session(server.pid)) and len(members) != expected_count:
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)  # a process's birth or death has no fd of ours to wait on
    return members


def test_fd_passing_is_registered_as_a_multiprocess_stream_runner() -> None:
    entry = RUNNERS["fd-passing"]
    assert entry.kinds == {"stream"}
    assert entry.traits.multiprocess and entry.traits.event_loop and not entry.traits.one_client_at_a_time


def test_each_connection_is_held_by_one_worker_and_not_by_the_acceptor() -> None:
    with start_fd_passing() as server:
        workers = [pid for pid in wait_for_session(server, WORKERS + 1) if pid != server.pid]
        assert len(workers) == WORKERS
        clients = [socket.create_connection(server.address, timeout=IO_TIMEOUT_S) for _ in range(2 * WORKERS)]
        try:
            holders = []
            for client in clients:
                assert recv_exactly(client, len(GREETING)) == GREETING  # served, so handed off
                inode = server_side_inode(server.port, client.getsockname()[1])
                holders.append(holders_of(inode, [server.pid, *workers]))
            assert all(len(found) == 1 and found[0] in workers for found in holders), holders
            assert {found[0] for found in holders} == set(workers)  # round robin reaches every worker
        finally:
            for client in clients:
                client.close()
    assert server.exit_status == 0


def test_workers_exit_when_the_acceptor_is_killed() -> None:
    server = start_fd_passing()
    try:
        members = wait_for_session(server, WORKERS + 1)
        assert len(members) == WORKERS + 1
        with socket.create_connection(server.address, timeout=IO_TIMEOUT_S) as client:
            assert recv_exactly(client, len(GREETING)) == GREETING
            os.kill(server.pid, signal.SIGKILL)  # no chance to stop its workers
            server.process.wait(IO_TIMEOUT_S)
            assert wait_for_session(server, 0) == []
            client.settimeout(IO_TIMEOUT_S)
            try:
                assert client.recv(1) == b""  # the worker closed the connection it served
            except ConnectionResetError:
                pass
    finally:
        server.stop()


@dataclass
class AcceptorWithOneWorker:
    """An acceptor in this process whose one "worker" is a pipe end we read ourselves."""

    runner: FdPassingRunner
    parent_end: multiprocessing.connection.Connection
    worker_end: multiprocessing.connection.Connection
    spare: socket.socket  # a socket to hand off copies of (one end of a socketpair)
    spare_peer: socket.socket

    def fill_pipe(self) -> int:
        """Hand off copies of the spare socket until the pipe refuses one; how many went."""
        handed = 0
        while True:
            conn = socket.socket(fileno=os.dup(self.spare.fileno()))
            if not self.runner._hand_off(conn):
                conn.close()  # refused, so still ours
                return handed
            handed += 1
            assert handed < 100_000, "the pipe never filled: hand-offs are not bounded"


@contextlib.contextmanager
def acceptor_with_one_worker() -> Iterator[AcceptorWithOneWorker]:
    listener = socket.create_server(("127.0.0.1", 0))
    runner = FdPassingRunner(lambda: None, listener, RunnerOptions(workers=1), RUNNERS["fd-passing"].traits)
    parent_end, worker_end = multiprocessing.Pipe(duplex=True)
    os.set_blocking(parent_end.fileno(), False)
    runner._workers[0] = Worker(0, SimpleNamespace(pid=os.getpid()), parent_end, time.monotonic())
    spare, spare_peer = socket.socketpair()
    try:
        yield AcceptorWithOneWorker(runner, parent_end, worker_end, spare, spare_peer)
    finally:
        parent_end.close()  # closes the descriptors still queued in the pipe
        worker_end.close()
        spare.close()
        spare_peer.close()
        runner._close_acceptor_objects()


def test_when_every_pipe_is_full_the_acceptor_holds_one_connection_and_stops_accepting() -> None:
    with acceptor_with_one_worker() as setup:
        runner, listener = setup.runner, setup.runner.listener
        runner._selector.register(listener, selectors.EVENT_READ, runner._accept_batch)
        listener.setblocking(False)
        with socket.create_connection(listener.getsockname(), timeout=IO_TIMEOUT_S) as client:
            assert setup.fill_pipe() > 0
            runner._accept_batch()  # accepts the client; no pipe has room
            assert runner._held is not None
            assert runner._selector.get_map().get(listener.fileno()) is None  # not accepting: clients wait in the backlog
            assert runner._selector.get_key(setup.parent_end).events == selectors.EVENT_WRITE
            os.close(recv_handle(setup.worker_end))  # the worker takes one: room for the held connection
            runner._retry_held()
            assert runner._held is None
            assert runner._selector.get_key(listener).data == runner._accept_batch  # accepting again
            assert setup.parent_end.fileno() not in runner._selector.get_map()
            os.set_blocking(setup.worker_end.fileno(), False)  # an empty pipe raises, never waits
            received_families = []
            while len(received_families) < 100_000:
                with socket.socket(fileno=recv_handle(setup.worker_end)) as received:
                    received_families.append(received.family)
                    if received.family == socket.AF_INET:  # the held client: last in the pipe
                        assert received.getpeername() == client.getsockname()
                        break
            assert received_families[-1] == socket.AF_INET and socket.AF_INET not in received_families[:-1]


def test_a_full_pipe_refuses_the_hand_off_and_a_drained_one_takes_it_again() -> None:
    with acceptor_with_one_worker() as setup:
        assert setup.fill_pipe() > 0
        os.close(recv_handle(setup.worker_end))  # the worker takes one
        conn = socket.socket(fileno=os.dup(setup.spare.fileno()))
        assert setup.runner._hand_off(conn)
        assert conn.fileno() == -1  # handed off, so the parent closed its copy
