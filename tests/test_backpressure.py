"""Back-pressure and later output, proven on every runner.

- 1 GiB echoed through one connection, read while it is sent, with the server's memory
  growing by less than 64 MiB: output is pulled only as fast as the client reads.
- A client that sends 256 MiB and never reads: the server stops reading it (its memory stays
  bounded) and, on every runner that serves more than one client, keeps serving others.
- A protocol that answers 200 ms later (tests.runner_host.LaterAnswerProtocol) from another thread (through the waker), with input
  paused while an answer is pending and with input left on: answers arrive, in order.

Memory is read from /proc by ``harness.checks.memory``: the proportional set size (Pss)
summed over the server's session, sampled while data moves. The bound (64 MiB) is far below what buffering would cost (1 GiB, 256 MiB),
and far above the few MiB of buffers a correct server holds.
"""

from __future__ import annotations

import hashlib
import socket
import sys
import threading
from pathlib import Path

import pytest

from harness.checks.memory import MemorySampler
from harness.launch import RunningServer, launch_command
from harness.runners import STREAM, one_client_at_a_time_runners, runners_for

REPO = Path(__file__).resolve().parent.parent
STREAM_RUNNERS = runners_for(STREAM)
CONCURRENT_RUNNERS = [name for name in STREAM_RUNNERS if name not in one_client_at_a_time_runners()]

MEMORY_BOUND_BYTES = 64 << 20
GIB = 1 << 30
HOG_BYTES = 256 << 20
CHUNK = 1 << 20
IO_TIMEOUT_S = 30.0  # generous: a loaded 2-core machine, not a figure under test

pytestmark = pytest.mark.slow


def start(runner: str, *extra: str) -> RunningServer:
    workers = ["--workers", "2"] if runner in ("prefork-threads", "prefork-processes", "fd-passing") else []
    return launch_command(
        [sys.executable, "-m", "tests.runner_host", runner, *workers, *extra], cwd=str(REPO)
    )


def echo_through(server: RunningServer, total: int) -> None:
    """Send ``total`` bytes on one connection while reading the echo; check it byte-exact."""
    block = hashlib.sha256(b"wirecheck").digest() * (CHUNK // 32)
    sent_digest, received_digest = hashlib.blake2b(), hashlib.blake2b()
    with socket.create_connection(server.address, timeout=IO_TIMEOUT_S) as client:
        errors: list[BaseException] = []

        def send_all() -> None:
            try:
                for _ in range(total // CHUNK):
                    client.sendall(block)
                    sent_digest.update(block)
                client.shutdown(socket.SHUT_WR)
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)

        sender = threading.Thread(target=send_all, daemon=True)
        sender.start()
        received = 0
        buffer = bytearray(CHUNK)
        while (count := client.recv_into(buffer)) > 0:
            received_digest.update(memoryview(buffer)[:count])
            received += count
        sender.join(IO_TIMEOUT_S)
        assert not errors, errors
        assert received == total
        assert received_digest.digest() == sent_digest.digest()


@pytest.mark.parametrize("runner", STREAM_RUNNERS)
def test_one_gib_is_echoed_with_the_server_memory_bounded(runner: str) -> None:
    with start(runner, "--echo") as server:
        with MemorySampler(server.pid) as memory:
            echo_through(server, GIB)
        assert memory.growth < MEMORY_BOUND_BYTES, (
            f"{runner}: server Pss grew by {memory.growth / 2**20:.1f} MiB while echoing 1 GiB"
        )
    assert server.exit_status == 0


def send_until_blocked(sock: socket.socket, limit: int) -> int:
    """Send up to ``limit`` bytes, stopping once the peer has not taken a byte for 1 s."""
    block = b"h" * CHUNK
    sock.settimeout(1.0)
    sent = 0
    while sent < limit:
        try:
            sent += sock.send(block)
        except TimeoutError:
            break
    return sent


@pytest.mark.parametrize("runner", STREAM_RUNNERS)
def test_a_client_that_never_reads_cannot_grow_the_server(runner: str) -> None:
    with start(runner, "--echo") as server:
        hog = socket.create_connection(server.address, timeout=IO_TIMEOUT_S)
        try:
            with MemorySampler(server.pid) as memory:
                pushed = send_until_blocked(hog, HOG_BYTES)
            # The kernel's buffers and the protocol's high-water mark hold a few MiB; a
            # server that kept reading would have taken all 256 MiB.
            assert pushed < HOG_BYTES, f"{runner} read all {HOG_BYTES} bytes of a client that never reads"
            assert memory.growth < MEMORY_BOUND_BYTES, (
                f"{runner}: server Pss grew by {memory.growth / 2**20:.1f} MiB under a non-reading client"
            )
            if runner in CONCURRENT_RUNNERS:
                with socket.create_connection(server.address, timeout=IO_TIMEOUT_S) as other:
                    other.sendall(b"still served\n")
                    assert other.recv(64) == b"still served\n"
        finally:
            hog.close()
        with socket.create_connection(server.address, timeout=IO_TIMEOUT_S) as after:
            after.sendall(b"after the hog\n")  # one-at-a-time runners too, once it has gone
            assert after.recv(64) == b"after the hog\n"
    assert server.exit_status == 0


def read_lines(sock: socket.socket, count: int) -> list[bytes]:
    data = bytearray()
    while data.count(b"\n") < count:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.splitlines(keepends=True)


@pytest.mark.parametrize("mode", ["--later", "--later-reading"])
@pytest.mark.parametrize("runner", STREAM_RUNNERS)
def test_an_answer_produced_later_by_another_thread_arrives(runner: str, mode: str) -> None:
    with start(runner, mode) as server:
        with socket.create_connection(server.address, timeout=IO_TIMEOUT_S) as client:
            client.sendall(b"one\n")
            assert read_lines(client, 1) == [b"ONE\n"]
            client.sendall(b"two\nthree\nfour\n")  # pipelined: answered one by one, in order
            assert read_lines(client, 3) == [b"TWO\n", b"THREE\n", b"FOUR\n"]
            client.sendall(b"last\n")
            client.shutdown(socket.SHUT_WR)  # EOF while an answer is still owed
            assert read_lines(client, 1) == [b"LAST\n"]
            assert client.recv(64) == b""  # then an orderly close
    assert server.exit_status == 0
