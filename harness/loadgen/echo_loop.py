"""The smallest correct echo load loop, over plain TCP or over TLS: the TLS-cost yardstick.

What it answers: how much does TLS cost a runner, all else equal? The plain threaded client
(``harness.loadgen.threaded_client``) speaks plain TCP only, so TLS is measured with this
loop, and the plain side of the TLS/plain ratio is measured with *this same loop, TLS off*:
the two sides then differ only by the TLS layer, never by the client.

Theory of operation: N OS threads, each with one persistent connection (a TLS one when a CA
file is given: ``ssl.create_default_context(cafile=...)``, certificate and host name checked,
as a real client would), each sending one numbered payload at a time with blocking calls and
reading back exactly that many bytes, compared byte-exact (a wrong echo is a failure, RFC 862:
"any data received is sent back"). Only round trips that end inside the measurement window
count. After a failure the connection is dropped and made anew, after a short pause so that a
failing server cannot turn the loop into a spin.

It runs as its own process (``python -m harness.loadgen.echo_loop ...``) so that it can be
pinned to the generator's core, and prints one JSON line with the same figures as the threaded
client (``rps``, ``replies``, ``failures``, ``cpu_cores``, ``server_cpu_cores``), plus the first
failure seen. Every wait is bounded by the request timeout; threads are daemons joined with a
deadline, so a wedged server cannot keep this process alive.
"""

from __future__ import annotations

import argparse
import json
import resource
import socket
import ssl
import sys
import threading
import time
from dataclasses import dataclass, field

from harness.clients.echo import EchoMismatchError
from harness.loadgen import procstat
from harness.loadgen.payloads import numbered_payload
from harness.loadgen.targets import parse_target
from harness.verdicts import describe_data

# As the threaded client and the locust users: a reply not back in 2 s is not coming.
DEFAULT_REQUEST_TIMEOUT_S = 2.0

# Extra time the threads get to notice the end of the window before we stop waiting.
JOIN_GRACE_S = 5.0

# A bound on threads (each has a stack): 20x the benchmark's 50 connections.
MAX_CONNECTIONS = 1000

# Pause after a failed round trip, so that a refusing server is not hammered in a spin.
FAILURE_PAUSE_S = 0.01


@dataclass
class ConnectionTally:
    """One thread's counts; only round trips that end inside the window count."""

    window: tuple[float, float]
    replies: int = 0
    failures: int = 0
    first_failure: str | None = field(default=None)

    def count(self, failure: BaseException | None) -> None:
        window_start, window_end = self.window
        if not window_start <= time.perf_counter() <= window_end:
            return
        if failure is None:
            self.replies += 1
            return
        self.failures += 1
        if self.first_failure is None:
            self.first_failure = f"{type(failure).__name__}: {failure}"


def connect(
    address: tuple[str, int], timeout_s: float, tls_context: ssl.SSLContext | None, server_name: str
) -> socket.socket:
    """A connected socket to ``address``, TLS-wrapped (handshake done) when a context is given.

    Raises:
        OSError: refused, timed out, or the TLS handshake or certificate check failed.

    Resource handling: the caller owns and closes the returned socket.
    """
    sock = socket.create_connection(address, timeout=timeout_s)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls_context is not None:
            return tls_context.wrap_socket(sock, server_hostname=server_name)
        return sock
    except BaseException:
        sock.close()
        raise


def _echo_worker(
    address: tuple[str, int], payload_bytes: int, timeout_s: float,
    tls_context: ssl.SSLContext | None, server_name: str, tally: ConnectionTally,
) -> None:
    window_end = tally.window[1]
    buffer = memoryview(bytearray(payload_bytes))
    sequence = 0
    sock: socket.socket | None = None
    while time.perf_counter() < window_end:
        failure: BaseException | None = None
        try:
            if sock is None:
                sock = connect(address, timeout_s, tls_context, server_name)
            sequence += 1
            payload = numbered_payload(sequence, payload_bytes)
            sock.sendall(payload)
            received = 0
            while received < payload_bytes:
                count = sock.recv_into(buffer[received:], payload_bytes - received)
                if count == 0:
                    raise ConnectionError(f"orderly close after {received} of {payload_bytes} bytes")
                received += count
            if buffer != payload:
                raise EchoMismatchError(describe_data(payload, bytes(buffer)))
        except (OSError, EchoMismatchError) as error:
            failure = error
        tally.count(failure)
        if failure is not None:
            if sock is not None:
                sock.close()
                sock = None
            time.sleep(FAILURE_PAUSE_S)
    if sock is not None:
        sock.close()


def run_echo_loop(
    target: str, *, connections: int, warmup_s: float, duration_s: float, payload_bytes: int = 64,
    timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S, tls_ca: str | None = None,
    server_name: str = "127.0.0.1", watch_pid: int = 0,
) -> dict:
    """Drive the echo server at ``target`` with ``connections`` blocking threads.

    Args:
        target: ``HOST:PORT`` on loopback.
        connections: threads, one persistent connection each.
        warmup_s: seconds before the window opens.
        duration_s: the window's length.
        payload_bytes: bytes per echo.
        timeout_s: socket timeout of every connect, handshake, send and receive.
        tls_ca: a CA file: speak TLS and verify the server against it; None: plain TCP.
        server_name: the name checked against the server's certificate (SNI too).
        watch_pid: a server pid whose process tree's CPU is read at the window's edges.

    Returns:
        The window's figures (a JSON-able dict).

    Raises:
        ValueError: connections out of range, non-positive window or payload, a target that
            is not loopback, or a CA file that cannot be loaded.
    """
    if not 1 <= connections <= MAX_CONNECTIONS:
        raise ValueError(f"connections must be in 1..{MAX_CONNECTIONS}, got {connections}")
    if duration_s <= 0 or warmup_s < 0:
        raise ValueError(f"the window must be positive and the warm-up not negative, got {duration_s:g}/{warmup_s:g}")
    if payload_bytes < 1:
        raise ValueError(f"payload must be at least 1 byte, got {payload_bytes}")
    endpoint = parse_target(target, transport="tcp")
    tls_context = None
    if tls_ca is not None:
        try:
            tls_context = ssl.create_default_context(cafile=tls_ca)
        except (OSError, ssl.SSLError) as error:
            raise ValueError(f"cannot load the CA file {tls_ca}: {error}") from None
    threading.stack_size(256 * 1024)  # 1000 threads x the default 8 MiB would be 8 GiB of address space
    window_start = time.perf_counter() + warmup_s
    window = (window_start, window_start + duration_s)
    tallies = [ConnectionTally(window) for _ in range(connections)]
    workers = [
        threading.Thread(
            target=_echo_worker,
            args=(endpoint.address, payload_bytes, timeout_s, tls_context, server_name, tally),
            daemon=True,
        )
        for tally in tallies
    ]
    for worker in workers:
        worker.start()
    edges = [_sample_at(moment, watch_pid) for moment in window]
    deadline = window[1] + timeout_s + JOIN_GRACE_S
    for worker in workers:
        worker.join(max(0.0, deadline - time.perf_counter()))
    (own_start, server_start), (own_end, server_end) = edges
    replies = sum(tally.replies for tally in tallies)
    server_cpu = None if server_start is None or server_end is None else (server_end - server_start) / duration_s
    return {
        "target": str(endpoint),
        "tls": tls_context is not None,
        "connections": connections,
        "window_s": duration_s,
        "replies": replies,
        "failures": sum(tally.failures for tally in tallies),
        "first_failure": next((tally.first_failure for tally in tallies if tally.first_failure), None),
        "rps": replies / duration_s,
        "cpu_cores": (own_end - own_start) / duration_s,
        "server_cpu_cores": server_cpu,
        "threads_left_running": sum(worker.is_alive() for worker in workers),
    }


def _sample_at(moment: float, watch_pid: int) -> tuple[float, float | None]:
    """Sleep until ``moment`` (perf_counter); return our CPU seconds and the watched tree's."""
    delay = moment - time.perf_counter()
    if delay > 0:
        time.sleep(delay)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    server = procstat.tree_cpu_seconds(watch_pid) if watch_pid else None
    return usage.ru_utime + usage.ru_stime, server


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m harness.loadgen.echo_loop",
        description="a minimal threaded echo load loop over plain TCP or TLS; prints one JSON line",
    )
    parser.add_argument("--target", required=True, help="HOST:PORT on loopback")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before the window")
    parser.add_argument("--duration", type=float, default=3.0, help="the window, seconds")
    parser.add_argument("--payload-bytes", type=int, default=64)
    parser.add_argument("--request-timeout", type=float, default=DEFAULT_REQUEST_TIMEOUT_S)
    parser.add_argument("--tls-ca", default=None, metavar="FILE", help="speak TLS, verifying the server with this CA")
    parser.add_argument("--server-name", default="127.0.0.1", help="name checked against the certificate")
    parser.add_argument("--watch-pid", type=int, default=0, help="server pid whose CPU to read in the window")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = run_echo_loop(
            args.target, connections=args.connections, warmup_s=args.warmup, duration_s=args.duration,
            payload_bytes=args.payload_bytes, timeout_s=args.request_timeout, tls_ca=args.tls_ca,
            server_name=args.server_name, watch_pid=args.watch_pid,
        )
    except ValueError as error:
        print(f"echo_loop: error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
