"""Bulk-transfer throughput: 1 GiB through each runner, socat, xinetd, and iperf3 beside them.

``python -m harness.bulk [--runner NAME]... [--write-size BYTES]... [--repetitions N] [--out DIR]``

What is measured. For each target and write size, one connection carries 1 GiB *through* the
server and back: the client writes ``write_size`` bytes per send in one thread and reads up to
``RECEIVE_BYTES`` (1 MiB, or the write size if larger) per receive in another, at once, and
checks what comes back against what it sent. The figure is the per-direction goodput, 1 GiB
over the wall time from the first byte written to the last read (the bytes are one array-tcp
frame: a 27-byte header, then the payload), in Gbit/s (10^9 bit/s): both directions of
loopback carry 1 GiB at the same time.

The client is the instrument, so it is kept from being the limit:

- C by default: the client of ``bulk_bound.c``, compiled with ``cc`` for the run, for every
  target (``--client python`` for :func:`transfer_through`, which is also used when there is
  no compiler). Measured 2026-12-03 at 1 MiB writes, both checking samples, each at the top
  of its core: the Python client spent 0.42-0.46 s of CPU per GiB, the C one 0.39-0.40, and
  uvloop measured 18.9 Gbit/s by the first and 19.9 by the second. iperf3, the reference, is
  C, as wrk is for the HTTP comparison.
- It checks a sample of each read by default (its tail and a random window,
  :data:`CHECK_MODES`), every byte with ``--check every-byte``: iperf3 checks nothing, and
  comparing every byte made the client the limit.
- A thread per direction with blocking calls (the shape iperf3 itself takes from 3.16; the
  Debian 3.12 measured beside it is one select() loop in C, which a Python loop's partial
  sends and wake-ups cannot match), memcmp for the check, a pattern small enough to stay in
  cache: each was, in turn, measured to be what limited the figures.

Our runners serve ``array-tcp`` (its reply is the request; any echo is an array-tcp server),
socat and xinetd their TCP echo (fixtures/thirdparty), and iperf3 is run with ``--bidir -n 1G
-l WRITE_SIZE``: the mean of its two streams' rates is the same per-direction figure with no
Python anywhere, the kernel's limit on this machine as near as a user-space program gets (why
the mean and not the forward stream alone: :func:`_iperf3_sample`). Beside them, the bound for
an echo: ``bulk_bound.c``'s echo server, measured by its client checking nothing, a sample of
each read, and every byte (:func:`bound_points`): iperf3 carries its two directions on two
connections, an echo on one.

CPU per GiB: the client's own CPU time (getrusage) and the server's (its process tree's
utime + stime from /proc, ``harness.loadgen.procstat``), each divided by the GiB moved in its
direction; for iperf3 its JSON's cpu_utilization_percent times the duration (host = client,
remote = server). Method (../shared/DESIGN.md, load tests): the client is pinned to core 0 and
every thread of the server to core 1 when there are two cores (the server started pinned, see
:func:`launch_pinned`); one warm-up transfer per
target is discarded; each point is the median of ``--repetitions`` (3) with the min-max spread.

Caveats, written beside the table: a machine shared with other work makes every figure lower
and noisier (the run records the load average before and after); iperf3's forward and reverse
streams are two connections, ours one connection in both directions.

Receive paths: the CPU per GiB of the receiving thread (``time.thread_time``) of
``recv_array`` (``recv_into`` a preallocated array: no copy) against the usual
recv-and-concatenate receiver (``recv(65536)`` into new bytes objects, then ``b"".join``), one
frame each from ``send_array`` over loopback TCP; median of the repetitions and their ratio.

Results: ``bulk.json`` (every sample), ``bulk.md`` (the table and the goals, MET or NOT MET)
and ``bulk.png`` (the chart), ``receive_paths.json`` and ``receive_paths.md`` in ``--out``.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import random
import resource
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from harness.bulk_command import CHECK_MODES, DESCRIPTION, GIB, add_bulk_arguments
from harness.launch import RunningServer, launch_command, serve_command
from harness.loadgen.procstat import start_on_cores, tree_cpu_seconds
from harness.checks.endpoint import Deadline
from harness.clients.arrays import FrameReceiver, recv_array, send_array
from harness.protocols.arrays import ArrayHeader
from harness.runners import STREAM, runners_for


# The service our runners serve for the transfer: its reply is the request, streamed.
BULK_SERVICE = "array-tcp"

# The write sizes the issue compares at: a large write (the kernel's fast path) and the 64 KiB
# a reference runner reads per recv().
DEFAULT_WRITE_SIZES = (1 << 20, 64 << 10)

# The period of the random pattern the 1 GiB is made of: every byte that comes back is compared
# with the byte sent at its offset, so a byte lost, repeated or moved is caught unless it moved
# by a multiple of this. Odd, so no power-of-two chunk size (a server's read, a ring) divides
# it; 8 MiB, so the pattern stays in cache: with a 64 MiB one the client spent 0.69 s of CPU
# per GiB instead of 0.48 and was the limit at 1 MiB writes (measured on uvloop, 3 runs).
PATTERN_BYTES = (8 << 20) + 4099

# How the client checks what comes back (``--check``, CHECK_MODES). "every-byte": each byte against the one
# sent at its offset. "sampled", the default: in each read, its last SAMPLE_TAIL_BYTES and one
# window of SAMPLE_WINDOW_BYTES at a random place. Why sampling is the default: the figure is a
# ratio to iperf3, whose client checks no byte, and comparing every byte costs the client the
# core it shares with nothing else: on 1 MiB writes the one-connection C echo reached 0.92x
# iperf3 with a client that checks nothing and 0.71x with one that checks every byte (the
# committed run of 2026-12-03 12:57), so an every-byte figure measures the instrument. What a
# sample still catches: any byte lost, repeated or moved (the rest of the stream is shifted
# against the odd-period pattern, so the read's tail differs), a server returning other bytes
# (zeros, another connection's), a short or long reply; what it can miss, one corrupted byte
# among many, the array-tcp suite catches (element-exact, 1 GiB and 4 GiB + 1).
SAMPLE_TAIL_BYTES = 64
SAMPLE_WINDOW_BYTES = 4096

# What the recv-and-concatenate receiver asks of each recv(): the reference runners' size.
RECV_CONCATENATE_BYTES = 64 << 10

# No byte moved for this long: the target is wedged; the point is recorded as failed.
STALL_TIMEOUT_S = 30.0

# What the client asks of each recv(), whatever the write size: the reading side is the
# instrument, not what is measured, and a read per 64 KiB segment would make it the limit.
RECEIVE_BYTES = 1 << 20

CLIENT_CORES = {0}
SERVER_CORES = {1}

# The third-party echoes measured (fixtures/thirdparty): C servers, a fork per connection.
THIRD_PARTY_ECHOES = ("xinetd_echo_stream", "socat_echo")

# The one-connection echo in C (server and client), compiled per run: the bound for an echo.
BOUND_SOURCE = Path(__file__).with_name("bulk_bound.c")
# The C client's CHECK argument for each check (bulk_bound.c), "none" being the C client's alone.
C_CHECKS = {"none": 0, "every-byte": 1, "sampled": 2}
# The bound's rows: name -> how its client checks.
BOUND_TARGETS = {"bound: C echo, unchecked": "none", "bound: C echo, sampled": "sampled", "bound: C echo, every byte": "every-byte"}


@dataclass
class Sample:
    """One transfer of ``total_bytes`` each way through one target."""

    wall_s: float
    client_cpu_s: float
    server_cpu_s: float | None
    total_bytes: int
    # iperf3 only: its two streams' own rates, whose mean the sample is (see _iperf3_sample).
    forward_gbit_per_s: float | None = None
    reverse_gbit_per_s: float | None = None

    @property
    def gbit_per_s(self) -> float:
        return self.total_bytes * 8 / self.wall_s / 1e9


@dataclass
class Point:
    """The repetitions of one target at one write size."""

    target: str
    write_size: int
    samples: list[Sample] = field(default_factory=list)
    error: str | None = None

    def median(self, values: list[float]) -> float:
        return statistics.median(values)

    def summary(self) -> dict[str, object]:
        if not self.samples:
            return {"target": self.target, "write_size": self.write_size, "error": self.error}
        rates = [sample.gbit_per_s for sample in self.samples]
        client = [sample.client_cpu_s / (sample.total_bytes / GIB) for sample in self.samples]
        server = [
            sample.server_cpu_s / (sample.total_bytes / GIB) for sample in self.samples if sample.server_cpu_s is not None
        ]
        return {
            "target": self.target,
            "write_size": self.write_size,
            "gbit_per_s_median": round(statistics.median(rates), 3),
            "gbit_per_s_min": round(min(rates), 3),
            "gbit_per_s_max": round(max(rates), 3),
            "client_cpu_s_per_gib": round(statistics.median(client), 3),
            "server_cpu_s_per_gib": round(statistics.median(server), 3) if server else None,
            "samples": [asdict(sample) for sample in self.samples],
            "error": self.error,
        }


def _pinning_possible() -> bool:
    return hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2


def frame_header(total: int) -> bytes:
    """The header of the one array-tcp frame a transfer is: ``total`` bytes of ``|u1``, sent
    first by either client (an echo returns it too; an array-tcp relay checks it)."""
    return ArrayHeader("|u1", "C", (total,), total).encode()


def transfer_through(
    address: tuple[str, int], total: int, write_size: int, server_pid: int | None, check: str = "sampled"
) -> Sample:
    """Send ``total`` bytes through an echoing server while reading them back, checking them
    (``check``, one of :data:`CHECK_MODES`: every byte, or a sample of each read).

    A thread sends while the caller receives, each with blocking calls (iperf3 from 3.16 runs
    a thread per stream too; the 3.12 measured beside us is one select() loop): a blocking
    ``sendall`` of a 1 MiB write is one call in which the kernel copies as room appears, where
    a non-blocking loop made many partial sends and wake-ups.
    Measured against the single non-blocking loop this replaced, client on core 0, server on
    core 1, 6 transfers each, interleaved: at 1 MiB writes asyncio 12.5 -> 16.5 Gbit/s and
    single 11.7 -> 15.7 (client CPU 0.65 -> 0.50 s/GiB, the bimodal 13-or-18 spread gone);
    at 64 KiB asyncio 9.3 -> 10.0 and single 10.6 -> 9.8 (a thread hand-off per write costs
    about what it saves). Every wait is bounded by the kernel (SO_SNDTIMEO, SO_RCVTIMEO), not
    by a Python socket timeout, which would add a poll() before every call.

    Raises:
        RuntimeError: a byte came back wrong, the server closed or stalled.
        ValueError: ``check`` is not one of :data:`CHECK_MODES`.
    """
    if check not in CHECK_MODES:
        raise ValueError(f"check {check!r}: one of {', '.join(CHECK_MODES)}")
    receive_buffer = bytearray(max(write_size, RECEIVE_BYTES))
    pattern = make_pattern(len(receive_buffer))  # no send or receive is longer than the buffer
    pattern_view = memoryview(pattern)
    receive_view = memoryview(receive_buffer)
    received = 0
    server_cpu_before = tree_cpu_seconds(server_pid) if server_pid else None
    usage_before = resource.getrusage(resource.RUSAGE_SELF)
    header = frame_header(total)
    with socket.create_connection(address, timeout=STALL_TIMEOUT_S) as sock:
        started = time.perf_counter()
        sock.sendall(header)
        returned = bytearray()
        while len(returned) < len(header):
            chunk = sock.recv(len(header) - len(returned))
            if not chunk:
                raise RuntimeError("the server closed before returning the frame's header")
            returned += chunk
        if bytes(returned) != header:
            raise RuntimeError(f"the frame's header came back as {bytes(returned)!r}")
        _bound_blocking_calls(sock, STALL_TIMEOUT_S)
        check_read = _check_returned if check == "every-byte" else _Sampler(random.Random(total ^ write_size)).check
        sender = _PatternSender(sock, pattern_view, total, write_size)
        sender.start()
        try:
            recv_into = sock.recv_into
            while received < total:
                try:
                    count = recv_into(receive_view)
                except BlockingIOError:  # SO_RCVTIMEO
                    raise RuntimeError(
                        f"stalled for {STALL_TIMEOUT_S:g} s after {received} of {total} bytes back{sender.failure_text()}"
                    ) from None
                except ConnectionError as exc:  # a server that closes with our bytes unread resets
                    raise RuntimeError(
                        f"the server reset the connection after {received} of {total} bytes back ({exc.strerror})"
                    ) from None
                if count == 0:
                    raise RuntimeError(f"the server closed after {received} of {total} bytes back{sender.failure_text()}")
                check_read(pattern, received, receive_view[:count])
                received += count
        finally:
            sender.finish()
        wall = time.perf_counter() - started
    usage_after = resource.getrusage(resource.RUSAGE_SELF)
    client_cpu = (usage_after.ru_utime - usage_before.ru_utime) + (usage_after.ru_stime - usage_before.ru_stime)
    server_cpu = None
    if server_cpu_before is not None and server_pid:
        after = tree_cpu_seconds(server_pid)
        server_cpu = None if after is None else after - server_cpu_before
    return Sample(wall, client_cpu, server_cpu, total)


def _bound_blocking_calls(sock: socket.socket, seconds: float) -> None:
    """Blocking mode, each send and receive ending with EAGAIN after ``seconds`` without progress."""
    sock.settimeout(None)
    bound = struct.pack("ll", int(seconds), int(seconds % 1 * 1e6))  # struct timeval
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, bound)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, bound)


class _PatternSender(threading.Thread):
    """Sends ``total`` bytes of the pattern, ``write_size`` per ``sendall``, from its own thread.

    Resource handling: :meth:`finish` shuts the socket down if the thread is still sending
    (the receiver gave up: a blocked ``sendall`` must not outlive the transfer), then joins it.
    """

    def __init__(self, sock: socket.socket, pattern: memoryview, total: int, write_size: int) -> None:
        super().__init__(name="bulk-sender", daemon=True)
        self._sock, self._pattern, self._total, self._write_size = sock, pattern, total, write_size
        self.sent = 0
        self.error: OSError | None = None

    def run(self) -> None:
        sendall, pattern, total, write_size = self._sock.sendall, self._pattern, self._total, self._write_size
        sent = 0
        try:
            while sent < total:
                offset = sent % PATTERN_BYTES
                size = min(write_size, total - sent)
                sendall(pattern[offset : offset + size])
                sent += size
        except OSError as exc:  # EAGAIN after SO_SNDTIMEO, a reset, our own shutdown
            self.error = exc
        finally:
            self.sent = sent

    def failure_text(self) -> str:
        return f" (the sender had stopped after {self.sent} bytes: {self.error!r})" if self.error else ""

    def finish(self) -> None:
        if self.is_alive() and self.sent < self._total:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already gone
        self.join(STALL_TIMEOUT_S)


def make_pattern(longest_slice: int) -> np.ndarray:
    """One period of the random pattern, followed by its first ``longest_slice`` bytes again,
    so that the ``longest_slice`` bytes at any stream offset are one contiguous slice (a write
    is never cut in two at the period's end, a comparison is one memcmp)."""
    period = np.random.default_rng(1).integers(0, 256, PATTERN_BYTES, dtype=np.uint8)
    return np.concatenate([period, period[:longest_slice]])


def _check_returned(pattern: np.ndarray, offset: int, data: memoryview) -> None:
    """Compare ``data`` with the pattern bytes at stream ``offset`` (a :func:`make_pattern`
    at least ``len(data)`` longer than its period).

    The check runs in the timed loop, on the client's core, beside its send and receive
    copies, so its cost is part of what the table measures: it is libc's ``memcmp`` where
    ctypes can reach it (one pass, no temporary), else numpy compares 64-bit words (an eighth
    of the elements; a memoryview ``==`` compares byte by byte and would make the client the
    bottleneck).
    """
    position = offset % PATTERN_BYTES
    if position + len(data) > len(pattern):
        raise ValueError(f"the pattern is {len(pattern) - PATTERN_BYTES} bytes too short past its period for {len(data)}")
    returned = np.frombuffer(data, dtype=np.uint8)
    if _MEMCMP is not None:
        # Addresses, not slices' .ctypes: at 64 KiB writes this check runs 16,384 times per
        # GiB, and each numpy attribute costs a microsecond.
        equal = not returned.size or _MEMCMP(returned.ctypes.data, pattern.ctypes.data + position, len(data)) == 0
    else:
        equal = _equal_words(returned, pattern[position : position + len(data)])
    if not equal:
        raise RuntimeError(f"a byte differing from the one sent, within bytes {offset}-{offset + len(data)}")


class _Sampler:
    """The "sampled" check of a read: its last :data:`SAMPLE_TAIL_BYTES`, and a window of
    :data:`SAMPLE_WINDOW_BYTES` at a place ``choose`` picks (see :data:`CHECK_MODES`).

    The tail is what makes a sample catch a shift: a byte lost or repeated anywhere in a read
    moves every byte after it, the read's last ones included, and a read's tail is compared
    in every read."""

    def __init__(self, choose: random.Random) -> None:
        self._randrange = choose.randrange

    def check(self, pattern: np.ndarray, offset: int, data: memoryview) -> None:
        size = len(data)
        tail = min(size, SAMPLE_TAIL_BYTES)
        _check_returned(pattern, offset + size - tail, data[size - tail :])
        if size > tail:
            window = min(SAMPLE_WINDOW_BYTES, size - tail)
            start = self._randrange(size - tail - window + 1)
            _check_returned(pattern, offset + start, data[start : start + window])


def _libc_memcmp() -> Callable[[int, int, int], int] | None:
    """libc's memcmp through ctypes, or None where there is no C library to load."""
    try:
        memcmp = ctypes.CDLL(None).memcmp
    except (OSError, AttributeError):
        return None
    memcmp.argtypes = (ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)
    memcmp.restype = ctypes.c_int
    return memcmp


_MEMCMP = _libc_memcmp()


def _equal_words(left: np.ndarray, right: np.ndarray) -> bool:
    """Two equally long byte arrays equal? Their 8-byte words at once, then the tail."""
    whole = len(left) - len(left) % 8
    return np.array_equal(left[:whole].view(np.uint64), right[:whole].view(np.uint64)) and np.array_equal(
        left[whole:], right[whole:]
    )


def iperf3_point(write_size: int, repetitions: int, total: int) -> Point:
    """iperf3 --bidir at ``write_size``: the mean of its two streams' rates (see :func:`_iperf3_sample`)."""
    point = Point("iperf3", write_size)
    binary = shutil.which("iperf3")
    if binary is None:
        point.error = "iperf3 is not installed (Debian package iperf3; .ci/run installs it)"
        return point
    for index in range(repetitions + 1):  # the first is the warm-up
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        pin = (lambda cores: (lambda: os.sched_setaffinity(0, cores)))
        server = subprocess.Popen(
            [binary, "-s", "-1", "-B", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=pin(SERVER_CORES) if _pinning_possible() else None,
        )  # fmt: skip
        try:
            result = _run_iperf3_client(binary, port, write_size, total, pin)
        finally:
            server.terminate()
            server.wait(10)
        if result is None:
            point.error = "iperf3's client did not report both streams of --bidir"
            return point
        if index:
            point.samples.append(result)
    return point


def bound_points(binary: str, write_sizes: list[int], repetitions: int, total: int) -> list[Point]:
    """The one-connection echo in C (``bulk_bound.c``, built by :func:`compile_bound`): its
    server, pinned like ours, measured by its client checking nothing, a sample and every
    byte (:data:`BOUND_TARGETS`), at each write size.

    The C client reads and checks as the Python one does (up to ``RECEIVE_BYTES`` per recv,
    memcmp against the same shape of pattern, the same sample) from a sending thread and a
    receiving one, and is the default instrument for every target (``--client c``); the
    unchecked row is the most an echo over one connection gets from this kernel; iperf3
    carries its two directions on two.
    """
    points: list[Point] = []
    for name, check in BOUND_TARGETS.items():
        points += measure_target(name, [binary, "serve"], write_sizes, repetitions, c_client(binary, total), check)
    return points


def compile_bound(directory: str) -> str:
    """Build ``bulk_bound.c`` into ``directory``; the binary's path.

    Raises:
        RuntimeError: no C compiler, or it failed.
    """
    compiler = shutil.which("cc")
    if compiler is None:
        raise RuntimeError("no C compiler (cc; .ci/run installs gcc)")
    binary = str(Path(directory) / "bulk_bound")
    built = subprocess.run(
        [compiler, "-O2", "-pthread", "-o", binary, str(BOUND_SOURCE)], capture_output=True, text=True, timeout=120
    )
    if built.returncode:
        raise RuntimeError(f"cc could not build {BOUND_SOURCE.name}: {built.stderr.strip()[-300:]}")
    return binary


def bound_transfer(binary: str, port: int, server_pid: int | None, write_size: int, check: str, total: int) -> Sample:
    """One transfer of the C client (checking as ``check``, one of :data:`C_CHECKS`) through
    the echo at 127.0.0.1:``port``: one array-tcp frame of ``total`` bytes, as the Python
    client sends it.

    Raises:
        RuntimeError: the client failed (a byte came back wrong, the server closed or stalled).
    """
    server_cpu_before = tree_cpu_seconds(server_pid) if server_pid else None
    header = frame_header(total).hex()
    try:
        completed = subprocess.run(
            [binary, "client", str(port), str(write_size), str(total), str(C_CHECKS[check]), header],
            capture_output=True, text=True, timeout=STALL_TIMEOUT_S + 60,
            preexec_fn=(lambda: os.sched_setaffinity(0, CLIENT_CORES)) if _pinning_possible() else None,
        )  # fmt: skip
    except subprocess.TimeoutExpired:  # its own waits are bounded by SO_RCVTIMEO: a safety net
        raise RuntimeError(f"the C client did not finish within {STALL_TIMEOUT_S + 60:g} s") from None
    if completed.returncode:
        raise RuntimeError(completed.stderr.strip() or f"the C client exited with {completed.returncode}")
    total_bytes, wall, cpu = completed.stdout.split()
    after = tree_cpu_seconds(server_pid) if server_pid else None
    server_cpu = None if after is None or server_cpu_before is None else after - server_cpu_before
    return Sample(float(wall), float(cpu), server_cpu, int(total_bytes))


# One transfer through a running server: (server, write size, check) -> its sample.
Transfer = Callable[[RunningServer, int, str], Sample]


def c_client(binary: str, total: int) -> Transfer:
    """Transfers by the C client of ``bulk_bound.c`` (the default instrument, ``--client c``)."""
    return lambda server, write_size, check: bound_transfer(binary, server.port, server.pid, write_size, check, total)


def python_client(total: int) -> Transfer:
    """Transfers by :func:`transfer_through` (``--client python``)."""
    return lambda server, write_size, check: transfer_through(server.address, total, write_size, server.pid, check)


def iperf3_version() -> str | None:
    """``iperf 3.12``, say: the reference moves with it (from 3.16 iperf3 runs a thread per
    stream, where 3.12 is one select() loop), so a run records which one it measured."""
    binary = shutil.which("iperf3")
    if binary is None:
        return None
    try:
        completed = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    first = completed.stdout.strip().splitlines()[:1]
    return first[0].split(" (")[0] if first else None


def _run_iperf3_client(binary: str, port: int, write_size: int, total: int, pin: Callable) -> Sample | None:
    argv = [binary, "-c", "127.0.0.1", "-p", str(port), "--bidir", "-n", str(total), "-l", str(write_size), "-J"]
    for _ in range(50):  # the server binds within milliseconds; retry a refused connect briefly
        completed = subprocess.run(
            argv, capture_output=True, text=True, timeout=300,
            preexec_fn=pin(CLIENT_CORES) if _pinning_possible() else None,
        )  # fmt: skip
        report = json.loads(completed.stdout or "{}")
        if "end" in report and not report.get("error"):
            break
        time.sleep(0.05)  # a readiness poll of a process that prints no READY line
    else:
        return None
    return _iperf3_sample(report["end"])


def _iperf3_sample(end: dict) -> Sample | None:
    """The per-direction figure of an iperf3 ``--bidir`` report: the bytes its two streams
    delivered, halved, over the test's duration; None when the report lacks a stream.

    Why not the forward stream's rate: the two streams do not share the machine evenly. The
    test ends when the first stream has sent its ``-n`` bytes, and by then the other has
    delivered a third to four fifths as much (six runs at 1 MiB writes: forward 24-32 Gbit/s,
    reverse 10-19). An echo delivers the same bytes both ways, so the rate it is comparable
    with is the mean of the two, which is what the loopback carried per direction; the forward
    rate alone is the luckier stream's. Both streams' own rates are kept in the sample.
    """
    try:
        forward, reverse = end["sum_received"], end["sum_received_bidir_reverse"]
    except KeyError:
        return None
    seconds = max(forward["seconds"], reverse["seconds"])
    per_direction = (forward["bytes"] + reverse["bytes"]) // 2
    if not seconds or not per_direction:
        return None
    cpu = end.get("cpu_utilization_percent", {})
    return Sample(
        wall_s=seconds,
        client_cpu_s=cpu.get("host_total", 0.0) / 100 * seconds,
        server_cpu_s=cpu.get("remote_total", 0.0) / 100 * seconds if cpu else None,
        total_bytes=per_direction,
        forward_gbit_per_s=round(forward["bits_per_second"] / 1e9, 3),
        reverse_gbit_per_s=round(reverse["bits_per_second"] / 1e9, 3),
    )


def _targets(runners: list[str]) -> Iterator[tuple[str, list[str], bool]]:
    """(name, argv, is_reference) for each runner and third-party echo."""
    for runner in runners:
        workers = ["--workers", "1"] if runner.startswith("prefork") else []
        yield f"runner:{runner}", serve_command(BULK_SERVICE, runner) + workers, True
    # The recipes live with the suites' fixtures (a checkout, not the installed package).
    from fixtures.thirdparty import THIRD_PARTY_SERVERS

    for third_party in THIRD_PARTY_SERVERS:
        if third_party.name in THIRD_PARTY_ECHOES:
            yield third_party.name, third_party.command(), False


def launch_pinned(argv: list[str]) -> RunningServer:
    """Start a server with every process and thread, now and later, on ``SERVER_CORES``
    (:func:`harness.loadgen.procstat.start_on_cores`).

    Raises:
        LaunchError: the server did not come up.
        NotPinned: a thread of the server is not on the server's cores.
    """
    if not _pinning_possible():
        return launch_command(argv)
    return start_on_cores(lambda: launch_command(argv), SERVER_CORES)


def measure_target(
    name: str, argv: list[str], write_sizes: list[int], repetitions: int, transfer: Transfer, check: str
) -> list[Point]:
    """Start ``argv`` pinned, then one warm-up and ``repetitions`` transfers at each write size."""
    points = [Point(name, write_size) for write_size in write_sizes]
    try:
        server: RunningServer = launch_pinned(argv)
    except Exception as exc:  # a missing program or optional runner: recorded, not fatal
        for point in points:
            point.error = f"could not start: {exc}".splitlines()[0]
        return points
    with server:
        for point in points:
            try:
                transfer(server, point.write_size, check)  # warm-up
                for _ in range(repetitions):
                    point.samples.append(transfer(server, point.write_size, check))
            except (RuntimeError, OSError) as exc:
                point.error = str(exc)
    return points


def markdown(points: list[Point], meta: dict[str, object]) -> str:
    by_size: dict[int, list[Point]] = {}
    for point in points:
        by_size.setdefault(point.write_size, []).append(point)
    lines = [
        f"# Bulk transfer: {_size_text(int(meta['bytes']))} through each server, per-direction goodput",
        "",
        f"Machine: {meta['machine']}; {meta['cpus']} CPUs; pinned: {meta['pinned']}; "
        f"load average before {meta['load_before']}, after {meta['load_after']}; {meta['date']}.",
        f"Median of {meta['repetitions']} (min-max), after one warm-up transfer. Gbit/s = 10^9 bit/s, "
        "per direction, both directions at once. CPU s/GiB per direction: client (our process or "
        f"iperf3's client) and server (its process tree). iperf3 ({meta.get('iperf3') or 'version unknown'}) = `--bidir -n 1G -l WRITE`, the mean "
        "of its two streams' rates (they do not share the machine evenly; each is given below its table). "
        + _client_text(str(meta.get("client", "python")))
        + f" Read sizes differ: our client reads up to {RECEIVE_BYTES // 1024} KiB per recv whatever the "
        "write size, and iperf3's `-l` sets its reads as well as its writes. "
        + _check_text(str(meta.get("check", "every-byte")))
        + " The `bound:` rows are an echo over one connection with no Python (harness/bulk_bound.c: its "
        "server, and its client checking nothing, a sample of each read, and every byte): iperf3 carries "
        "its two directions on two connections.",
        "",
    ]
    for size, group in by_size.items():
        iperf = next((p for p in group if p.target == "iperf3" and p.samples), None)
        reference = statistics.median([s.gbit_per_s for s in iperf.samples]) if iperf else None
        lines += [
            f"## write size {size // 1024} KiB",
            "",
            "| target | Gbit/s (median) | min-max | x iperf3 | client CPU s/GiB | server CPU s/GiB |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for point in group:
            summary = point.summary()
            if not point.samples:
                lines.append(f"| {point.target} | failed: {point.error} | | | | |")
                continue
            rate = summary["gbit_per_s_median"]
            ratio = f"{rate / reference:.2f}" if reference else "—"
            server_cpu = summary["server_cpu_s_per_gib"]
            lines.append(
                f"| {point.target} | {rate:.2f} | {summary['gbit_per_s_min']:.2f}-{summary['gbit_per_s_max']:.2f} "
                f"| {ratio} | {summary['client_cpu_s_per_gib']:.2f} | {'—' if server_cpu is None else f'{server_cpu:.2f}'} |"
            )
        lines.append("")
        streams = [s for s in (iperf.samples if iperf else []) if s.forward_gbit_per_s is not None]
        if streams:
            forward = statistics.median(s.forward_gbit_per_s for s in streams)
            reverse = statistics.median(s.reverse_gbit_per_s for s in streams)
            lines += [
                f"iperf3's two streams, median: forward {forward:.2f} Gbit/s, reverse {reverse:.2f}; "
                "its row is their mean, since an echo carries the same bytes both ways.",
                "",
            ]
    return "\n".join(lines)


def _client_text(client: str) -> str:
    if client == "c":
        return (
            "Our client, the same for every target but iperf3: the C client of harness/bulk_bound.c "
            "(`--client c`), a sending thread and a receiving one, blocking calls, memcmp for the check."
        )
    return (
        "Our client, the same for every target but iperf3 and the `bound:` rows: the Python client "
        "(`--client python`, harness/bulk.py transfer_through), a sending thread and a receiving one, "
        "blocking calls, libc memcmp for the check."
    )


def _check_text(check: str) -> str:
    if check == "every-byte":
        return "Our client compares every byte that comes back with the one sent (`--check every-byte`)."
    return (
        f"Our client compares a sample of each read with what it sent (`--check sampled`: the read's last "
        f"{SAMPLE_TAIL_BYTES} bytes, which any byte lost, repeated or moved shifts, and {SAMPLE_WINDOW_BYTES // 1024} "
        "KiB at a random place), as iperf3 compares none; the array-tcp suite checks every byte."
    )


# The goals, each a ratio measured within one run: our best runner's rate over iperf3's at the
# same write size, and the helpers' receive CPU per GiB over recv-and-concatenate's.
THROUGHPUT_GOALS = {1 << 20: 0.9, 64 << 10: 0.8}
RECEIVE_CPU_GOAL = 0.6


def goal_lines(points: list[Point], receive_ratio: float | None) -> list[str]:
    """Each goal, the ratio measured, and MET / NOT MET (or not measured, and why)."""
    lines = ["## Goals", ""]
    for size, goal in THROUGHPUT_GOALS.items():
        group = [point for point in points if point.write_size == size and point.samples]
        iperf = next((point for point in group if point.target == "iperf3"), None)
        ours = [point for point in group if point.target.startswith("runner:")]
        if iperf is None or not ours:
            lines.append(f"- best runner >= {goal}x iperf3 at {size // 1024} KiB writes: not measured")
            continue
        reference = statistics.median(sample.gbit_per_s for sample in iperf.samples)
        best = max(ours, key=lambda point: statistics.median(sample.gbit_per_s for sample in point.samples))
        ratio = statistics.median(sample.gbit_per_s for sample in best.samples) / reference
        verdict = "MET" if ratio >= goal else "NOT MET"
        lines.append(
            f"- best runner >= {goal}x iperf3 at {size // 1024} KiB writes: {best.target} {ratio:.2f}x: **{verdict}**"
        )
        bounds = {point.target: point for point in group if point.target in BOUND_TARGETS}
        if bounds:
            rates = {name: statistics.median(s.gbit_per_s for s in point.samples) for name, point in bounds.items()}
            lines.append(
                "  - what one connection allows here: "
                + "; ".join(f"{name} {rate / reference:.2f}x iperf3" for name, rate in rates.items())
                + f"; {best.target} is "
                + ", ".join(f"{ratio * reference / rate:.2f}x the {name.split(', ')[-1]} bound" for name, rate in rates.items())
            )
    if receive_ratio is None:
        lines.append(f"- recv_array <= {RECEIVE_CPU_GOAL}x the CPU per GiB of recv-and-concatenate: not measured")
    else:
        verdict = "MET" if receive_ratio <= RECEIVE_CPU_GOAL else "NOT MET"
        lines.append(
            f"- recv_array <= {RECEIVE_CPU_GOAL}x the CPU per GiB of recv-and-concatenate: {receive_ratio:.2f}x: **{verdict}**"
        )
    return lines + [""]


def chart(points: list[Point], path: Path) -> None:
    """Gbit/s per target (median, min-max as error bars), one group of bars per write size."""
    import matplotlib  # only when a chart is drawn: the measurement needs no plotting library

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    sizes = sorted({point.write_size for point in points}, reverse=True)
    targets = list(dict.fromkeys(point.target for point in points))
    figure, axes = pyplot.subplots(figsize=(11, 4.5))
    width = 0.8 / len(sizes)
    for index, size in enumerate(sizes):
        medians, lows, highs = [], [], []
        for target in targets:
            point = next((p for p in points if p.target == target and p.write_size == size and p.samples), None)
            rates = [sample.gbit_per_s for sample in point.samples] if point else [0.0]
            median = statistics.median(rates)
            medians.append(median)
            lows.append(median - min(rates))
            highs.append(max(rates) - median)
        positions = [position + index * width for position in range(len(targets))]
        axes.bar(positions, medians, width, yerr=[lows, highs], capsize=2, label=f"{size // 1024} KiB writes")
    axes.set_xticks([position + width * (len(sizes) - 1) / 2 for position in range(len(targets))])
    axes.set_xticklabels([target.removeprefix("runner:") for target in targets], rotation=35, ha="right")
    axes.set_ylabel("Gbit/s per direction (median, min-max)")
    axes.set_title("1 GiB through each server and back, beside iperf3 --bidir")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    pyplot.close(figure)


def _recv_and_concatenate(sock: socket.socket, deadline: Deadline) -> np.ndarray:
    """The usual receiver the recipe replaces: ``recv`` into new bytes objects, then join them.

    Reads the frame's header with :class:`FrameReceiver` (a few bytes), then the payload the
    common way: each ``recv(65536)`` allocates a bytes object, the list is joined into one more
    copy at the end, and numpy views that.
    """
    receiver = FrameReceiver()
    while receiver.header is None:
        view = receiver.next_view()
        count = sock.recv_into(view, len(view))
        if not count:
            raise RuntimeError("the sender closed before the header was complete")
        receiver.advance(count)
    header = receiver.header
    chunks, left = [], header.length
    while left:
        data = sock.recv(min(RECV_CONCATENATE_BYTES, left))
        if not data:
            raise RuntimeError(f"the sender closed with {left} bytes of the frame unsent")
        chunks.append(data)
        left -= len(data)
    return np.frombuffer(b"".join(chunks), dtype=header.dtype).reshape(header.shape, order=header.order)


def receive_path_cpu(total: int, repetitions: int) -> dict[str, object]:
    """The receiving thread's CPU per GiB: ``recv_array`` (recv_into a preallocated array)
    against :func:`_recv_and_concatenate`, each receiving one ``total``-byte frame over loopback
    TCP from ``send_array`` in another thread; median of ``repetitions`` and the ratio."""
    results: dict[str, list[float]] = {"recv_array": [], "recv_and_concatenate": []}
    array = np.ones(total, dtype=np.uint8)
    receivers: dict[str, Callable[[socket.socket, Deadline], np.ndarray]] = {
        "recv_array": lambda sock, deadline: recv_array(sock, deadline=deadline),
        "recv_and_concatenate": _recv_and_concatenate,
    }
    with socket.create_server(("127.0.0.1", 0)) as listener:
        for _ in range(repetitions + 1):  # the first round is the warm-up
            for name, receive in receivers.items():
                with socket.create_connection(listener.getsockname()) as sending:
                    receiving, _ = listener.accept()
                    with receiving:
                        sender = threading.Thread(
                            target=send_array, args=(sending, array), kwargs={"deadline": Deadline(300.0)}, daemon=True
                        )
                        sender.start()
                        started = time.thread_time()
                        received = receive(receiving, Deadline(300.0))
                        cpu = time.thread_time() - started
                        sender.join(300.0)
                if received.nbytes != total or not received[-1] == 1:
                    raise RuntimeError(f"{name} received a wrong frame")
                results[name].append(cpu / (total / GIB))
    for name in results:
        results[name] = results[name][1:]  # drop the warm-up
    medians = {name: statistics.median(values) for name, values in results.items()}
    return {
        "bytes": total,
        "cpu_s_per_gib": {name: round(value, 3) for name, value in medians.items()},
        "samples_cpu_s_per_gib": {name: [round(v, 3) for v in values] for name, values in results.items()},
        "ratio": round(medians["recv_array"] / medians["recv_and_concatenate"], 3),
    }


def _size_text(size: int) -> str:
    return f"{size / GIB:g} GiB" if size >= GIB else f"{size / (1 << 20):g} MiB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wirecheck bulk", description=DESCRIPTION)
    add_bulk_arguments(parser)
    return run_bulk(parser.parse_args(argv))


def _measure_all(
    runners: list[str], write_sizes: list[int], options: argparse.Namespace, meta: dict[str, object], directory: str
) -> list[Point]:
    """Every target with the client ``options.client`` asks for (the Python one, saying so,
    when the C one cannot be built), then iperf3 and the C bound; records the client in ``meta``."""
    try:
        binary: str | None = compile_bound(directory)
        build_error = ""
    except RuntimeError as exc:
        binary, build_error = None, str(exc).splitlines()[0]
    client = options.client
    if client == "c" and binary is None:
        print(f"wirecheck bulk: {build_error}: measuring with the Python client instead", file=sys.stderr)
        client = "python"
    meta["client"] = client
    transfer = c_client(binary, options.bytes) if client == "c" and binary else python_client(options.bytes)
    points: list[Point] = []
    for name, command, is_reference in _targets(runners):
        if options.no_third_party and not is_reference:
            continue
        print(f"bulk: {name}", file=sys.stderr, flush=True)
        points += measure_target(name, command, write_sizes, options.repetitions, transfer, options.check)
    if options.no_third_party:
        return points
    for write_size in write_sizes:
        print(f"bulk: iperf3 -l {write_size}", file=sys.stderr, flush=True)
        points.append(iperf3_point(write_size, options.repetitions, options.bytes))
    print("bulk: the one-connection C echo (bulk_bound.c)", file=sys.stderr, flush=True)
    if binary is None:
        return points + [Point(name, size, error=build_error) for size in write_sizes for name in BOUND_TARGETS]
    return points + bound_points(binary, write_sizes, options.repetitions, options.bytes)


def run_bulk(options: argparse.Namespace) -> int:
    """Measure and write bulk.json, bulk.md and the chart (see the module docstring)."""
    runners = options.runner or runners_for(STREAM)
    write_sizes = options.write_size or list(DEFAULT_WRITE_SIZES)
    if _pinning_possible():
        os.sched_setaffinity(0, CLIENT_CORES)
    meta: dict[str, object] = {
        "machine": f"{platform.machine()} {platform.system()} {platform.release()}",
        "cpus": os.cpu_count(),
        "pinned": _pinning_possible(),
        "load_before": " ".join(f"{value:.1f}" for value in os.getloadavg()),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "repetitions": options.repetitions,
        "bytes": options.bytes,
        "python": sys.version.split()[0],
        "iperf3": iperf3_version(),
        "check": options.check,
    }
    options.out.mkdir(parents=True, exist_ok=True)
    receive = receive_path_cpu(options.bytes, options.repetitions)
    receive["meta"] = meta
    (options.out / "receive_paths.json").write_text(json.dumps(receive, indent=2) + "\n", encoding="utf-8")
    cpu = receive["cpu_s_per_gib"]
    receive_text = (
        f"Receiving thread's CPU per GiB, one {_size_text(options.bytes)} frame over loopback TCP, median of "
        f"{options.repetitions}: recv_array (recv_into a preallocated array) {cpu['recv_array']:.2f} s, "
        f"recv(64 KiB) and b''.join {cpu['recv_and_concatenate']:.2f} s: ratio {receive['ratio']:.2f}."
    )
    (options.out / "receive_paths.md").write_text(receive_text + "\n", encoding="utf-8")
    print(receive_text)
    if options.receive_paths_only:
        return 0
    with tempfile.TemporaryDirectory(prefix="wirecheck-bulk-") as directory:
        points = _measure_all(runners, write_sizes, options, meta, directory)
    meta["load_after"] = " ".join(f"{value:.1f}" for value in os.getloadavg())
    options.out.mkdir(parents=True, exist_ok=True)
    (options.out / "bulk.json").write_text(
        json.dumps({"meta": meta, "points": [point.summary() for point in points]}, indent=2) + "\n", encoding="utf-8"
    )
    report = markdown(points, meta) + "\n" + "\n".join(goal_lines(points, receive["ratio"])) + "\n"
    (options.out / "bulk.md").write_text(report, encoding="utf-8")
    chart(points, options.out / "bulk.png")
    print((options.out / "bulk.md").read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
