"""A plain multi-threaded socket client: the yardstick for locust's own overhead.

``wirecheck compare`` runs this next to locust on the same target, so that the report can
say how much of a server's measured rate is the server and how much is the generator: N OS
threads, each with one persistent connection (or one connected UDP socket), each sending
one request at a time with blocking calls, no framework, no events, no greenlets. It checks
replies just as the locust users do (echo byte-exact, time 4 bytes), since a yardstick that
skipped the check would be cheaper for the wrong reason.

It runs as its own process (``python -m harness.loadgen.threaded_client ...``) so that it
can be pinned to the generator's core, and it prints one JSON line: requests per second in
the measurement window, failures, and its own CPU use. Every wait is bounded by the request
timeout, and every thread stops at the end of the window (threads are daemons, joined with
a deadline, so a wedged server cannot keep this process alive).
"""

from __future__ import annotations

import argparse
import json
import resource
import socket
import sys
import threading
import time
from dataclasses import dataclass

from harness.loadgen import procstat
from harness.loadgen.payloads import numbered_payload
from harness.loadgen.targets import parse_target
from harness.protocols.timekeeping import MalformedReplyError, decode_rfc868

# As the locust users (harness/loadgen/plugin.py): a reply not back in 2 s is not coming.
DEFAULT_REQUEST_TIMEOUT_S = 2.0

# Extra time the threads get to notice the end of the window before we stop waiting.
JOIN_GRACE_S = 5.0

# Threads beyond this are refused: each has a stack, and 4000 is 4x the largest sweep point.
MAX_THREADS = 4000

# What each service's request looks like and how its reply is checked.
STREAM_SERVICES = {"echo-tcp", "line-echo-tcp"}
DATAGRAM_SERVICES = {"echo-udp", "time-udp"}


@dataclass
class ThreadTally:
    """One thread's counts; only requests that ended inside the measurement window count."""

    window: tuple[float, float]
    replies_in_window: int = 0
    failures_in_window: int = 0

    def count(self, ok: bool) -> None:
        window_start, window_end = self.window
        in_window = window_start <= time.perf_counter() <= window_end
        if ok:
            self.replies_in_window += in_window
        else:
            self.failures_in_window += in_window


def _stream_worker(
    address: tuple[str, int], payload_bytes: int, line: bool, timeout_s: float,
    tally: ThreadTally,
) -> None:
    window_end = tally.window[1]
    sequence = 0
    sock: socket.socket | None = None
    buffer = bytearray(payload_bytes)
    view = memoryview(buffer)
    while time.perf_counter() < window_end:
        try:
            if sock is None:
                sock = socket.create_connection(address, timeout=timeout_s)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sequence += 1
            payload = numbered_payload(sequence, payload_bytes, line=line)
            sock.sendall(payload)
            received = 0
            while received < len(payload):
                count = sock.recv_into(view[received : len(payload)])
                if count == 0:
                    raise ConnectionError("orderly close before the whole echo")
                received += count
            ok = bytes(view[: len(payload)]) == payload
        except OSError:
            ok = False
        tally.count(ok)
        if not ok:
            if sock is not None:
                sock.close()
                sock = None
            time.sleep(0.01)  # a failing server must not turn this loop into a spin
    if sock is not None:
        sock.close()


def _datagram_worker(
    address: tuple[str, int], service: str, payload_bytes: int, timeout_s: float,
    tally: ThreadTally,
) -> None:
    window_end = tally.window[1]
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    sock: socket.socket | None = None
    sequence = 0
    while time.perf_counter() < window_end:
        try:
            if sock is None:
                sock = socket.socket(family, socket.SOCK_DGRAM)
                sock.settimeout(timeout_s)
                sock.connect(address)
            sequence += 1
            payload = numbered_payload(sequence, payload_bytes) if service == "echo-udp" else b""
            sock.send(payload)
            reply = sock.recv(65536)
            if service == "echo-udp":
                ok = reply == payload
            else:
                ok = abs(decode_rfc868(reply, near=time.time()) - time.time()) <= 2.0
        except (OSError, MalformedReplyError):
            ok = False
        tally.count(ok)
        if not ok:
            if sock is not None:
                sock.close()
                sock = None
    if sock is not None:
        sock.close()


def run_threaded_client(
    service: str, target: str, *, threads: int, warmup_s: float, duration_s: float,
    payload_bytes: int = 64, timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S, watch_pid: int = 0,
) -> dict:
    """Drive ``target`` with ``threads`` blocking clients; return the window's figures.

    Raises:
        ValueError: unknown service, too many threads, non-positive duration.
        NonLoopbackTargetError: the target is not loopback.
    """
    if service not in STREAM_SERVICES | DATAGRAM_SERVICES:
        raise ValueError(f"the threaded client speaks {sorted(STREAM_SERVICES | DATAGRAM_SERVICES)}, not {service!r}")
    if not 1 <= threads <= MAX_THREADS:
        raise ValueError(f"threads must be in 1..{MAX_THREADS}, got {threads}")
    if duration_s <= 0:
        raise ValueError(f"duration must be positive, got {duration_s:g}")
    endpoint = parse_target(target, transport="tcp" if service in STREAM_SERVICES else "udp")
    threading.stack_size(256 * 1024)  # 1000 threads x the default 8 MiB would be 8 GiB of address space
    window_start = time.perf_counter() + warmup_s
    window = (window_start, window_start + duration_s)
    tallies = [ThreadTally(window) for _ in range(threads)]
    workers = []
    for tally in tallies:
        if service in STREAM_SERVICES:
            args = (endpoint.address, payload_bytes, service == "line-echo-tcp", timeout_s, tally)
            worker = threading.Thread(target=_stream_worker, args=args, daemon=True)
        else:
            args = (endpoint.address, service, payload_bytes, timeout_s, tally)
            worker = threading.Thread(target=_datagram_worker, args=args, daemon=True)
        worker.start()
        workers.append(worker)
    cpu_at_start = _cpu_seconds_at(window_start)
    server_at_start = procstat.sample_tree(watch_pid) if watch_pid else None
    cpu_at_end = _cpu_seconds_at(window[1])
    server_at_end = procstat.sample_tree(watch_pid) if watch_pid else None
    deadline = window[1] + timeout_s + JOIN_GRACE_S
    for worker in workers:
        worker.join(max(0.0, deadline - time.perf_counter()))
    replies = sum(tally.replies_in_window for tally in tallies)
    return {
        "service": service,
        "target": str(endpoint),
        "threads": threads,
        "window_s": duration_s,
        "replies": replies,
        "failures": sum(tally.failures_in_window for tally in tallies),
        "rps": replies / duration_s,
        "cpu_cores": (cpu_at_end - cpu_at_start) / duration_s,
        "threads_left_running": sum(worker.is_alive() for worker in workers),
        "server_cpu_cores": _cpu_cores_between(server_at_start, server_at_end, duration_s),
    }


def _cpu_cores_between(
    start: procstat.TreeSample | None, end: procstat.TreeSample | None, seconds: float
) -> float | None:
    if start is None or end is None or start.cpu_seconds is None or end.cpu_seconds is None:
        return None
    return (end.cpu_seconds - start.cpu_seconds) / seconds


def _cpu_seconds_at(moment: float) -> float:
    """Sleep until ``moment`` (perf_counter), then return this process's CPU seconds."""
    delay = moment - time.perf_counter()
    if delay > 0:
        time.sleep(delay)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="a plain threaded load client (the yardstick for locust)")
    parser.add_argument("--service", required=True)
    parser.add_argument("--target", required=True, help="HOST:PORT on loopback")
    parser.add_argument("--threads", type=int, default=10)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--payload-bytes", type=int, default=64)
    parser.add_argument("--request-timeout", type=float, default=DEFAULT_REQUEST_TIMEOUT_S)
    parser.add_argument("--watch-pid", type=int, default=0, help="server pid whose CPU to read in the window")
    args = parser.parse_args(argv)
    try:
        result = run_threaded_client(
            args.service, args.target, threads=args.threads, warmup_s=args.warmup,
            duration_s=args.duration, payload_bytes=args.payload_bytes, timeout_s=args.request_timeout,
            watch_pid=args.watch_pid,
        )
    except ValueError as error:
        print(f"threaded_client: error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
