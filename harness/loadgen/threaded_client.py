"""A plain multi-threaded socket client: the yardstick for locust's own overhead.

``wirecheck compare`` runs this next to locust on the same target, so that the report can
say how much of a server's measured rate is the server and how much is the generator: N OS
threads, each with one persistent connection (or one connected UDP socket), each sending
one request at a time with blocking calls, no framework, no events, no greenlets. It checks
replies just as the locust users do, with the same code: each thread drives the requester
that the service's load profile names (``LoadProfile.requester``; the protocol's one client,
harness/clients/requesters.py), since a yardstick that skipped the check would be cheaper for
the wrong reason. It knows no service by name.

It runs as its own process (``python -m harness.loadgen.threaded_client --service NAME
--target HOST:PORT --threads N --warmup S --duration S ...``) so that it can be pinned to the
generator's core, and it prints one JSON line: requests per second in the measurement window,
failures, and its own CPU use. Every wait is bounded by the request timeout, and every thread
stops at the end of the window (threads are daemons, joined with a deadline, so a wedged
server cannot keep this process alive).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import threading
import time
from dataclasses import dataclass

from harness.clients.requesters import (
    DEFAULT_REQUEST_TIMEOUT_S,
    REQUEST_FAILURES,
    Requester,
    RequesterFactory,
    RequestOptions,
)
from harness.loadgen import procstat
from harness.loadgen.profile import resolve
from harness.loadgen.targets import parse_target
from harness.services import UnknownServiceError, get_service

# Extra time the threads get to notice the end of the window before we stop waiting.
JOIN_GRACE_S = 5.0

# Threads beyond this are refused: each has a stack, and 4000 is 4x the largest sweep point.
MAX_THREADS = 4000

# After a failed request, pause before the next: a failing server must not turn a thread's
# loop into a spin.
FAILURE_PAUSE_S = 0.01


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


def _worker(
    factory: RequesterFactory, address: tuple[str, int], options: RequestOptions, tally: ThreadTally
) -> None:
    """One thread: requests back to back until the window ends, a new requester after a failure."""
    window_end = tally.window[1]
    requester: Requester | None = None
    while time.perf_counter() < window_end:
        try:
            if requester is None:
                requester = factory(address, options)
            requester.request()
            ok = True
        except REQUEST_FAILURES:
            ok = False
        tally.count(ok)
        if not ok:
            if requester is not None:
                requester.close()
                requester = None
            time.sleep(FAILURE_PAUSE_S)
    if requester is not None:
        requester.close()


def run_threaded_client(
    service: str, target: str, *, threads: int, warmup_s: float, duration_s: float,
    payload_bytes: int = 64, timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S, watch_pid: int = 0,
) -> dict:
    """Drive ``target`` with ``threads`` blocking clients; return the window's figures.

    Raises:
        ValueError: unknown service, one without a requester, too many threads,
            non-positive duration.
        NonLoopbackTargetError: the target is not loopback.
    """
    try:
        entry = get_service(service)
    except UnknownServiceError as error:
        raise ValueError(str(error)) from None
    profile = entry.load_profile
    if profile is None or profile.requester is None:
        raise ValueError(f"service {service} has no requester in its load profile")
    if not 1 <= threads <= MAX_THREADS:
        raise ValueError(f"threads must be in 1..{MAX_THREADS}, got {threads}")
    if duration_s <= 0:
        raise ValueError(f"duration must be positive, got {duration_s:g}")
    factory: RequesterFactory = resolve(profile.requester)
    endpoint = parse_target(target, transport=entry.transport)
    options = RequestOptions(payload_bytes=payload_bytes, connect_timeout_s=timeout_s, reply_timeout_s=timeout_s)
    threading.stack_size(256 * 1024)  # 1000 threads x the default 8 MiB would be 8 GiB of address space
    window_start = time.perf_counter() + warmup_s
    window = (window_start, window_start + duration_s)
    tallies = [ThreadTally(window) for _ in range(threads)]
    workers = []
    for tally in tallies:
        worker = threading.Thread(target=_worker, args=(factory, endpoint.address, options, tally), daemon=True)
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
