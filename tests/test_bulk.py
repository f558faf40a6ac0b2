"""The bulk-transfer benchmark's parts: the transfer checks every byte, the table reads right.

Speed is measured by ``python -m harness.bulk``, never asserted here: these tests move a few
MiB through a reference server and check what the numbers are made of, not what they are.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import subprocess
import sys
import threading

import numpy as np
import pytest

from harness.bulk import (
    BOUND_TARGETS,
    PATTERN_BYTES,
    BOUND_SOURCE,
    RECEIVE_BYTES,
    SAMPLE_TAIL_BYTES,
    SAMPLE_WINDOW_BYTES,
    SERVER_CORES,
    Point,
    Sample,
    _Sampler,
    _check_returned,
    _measure_all,
    _iperf3_sample,
    _pinning_possible,
    bound_points,
    bound_transfer,
    c_client,
    compile_bound,
    launch_pinned,
    make_pattern,
    measure_target,
    chart,
    goal_lines,
    markdown,
    receive_path_cpu,
    transfer_through,
)
from harness.launch import launch_server, serve_command
from harness.loadgen.procstat import process_tree, tree_affinities
from tests.test_verdicts import FakeServer

MIB = 1 << 20


def test_a_transfer_through_a_reference_server_is_checked_and_timed() -> None:
    with launch_server("array-tcp", "threading") as server:
        # Past the pattern's period: the sends and the checks wrap around it.
        sample = transfer_through(server.address, PATTERN_BYTES + MIB, 64 * 1024, server.pid)
    assert sample.total_bytes == PATTERN_BYTES + MIB
    assert sample.wall_s > 0 and sample.client_cpu_s >= 0
    assert sample.server_cpu_s is not None and sample.server_cpu_s >= 0


def _echo_that_fails(damage_at: int | None, close_after: int | None, drop_at: int | None = None):
    """A FakeServer behaviour: echo, but flip the byte at ``damage_at``, leave out the byte at
    ``drop_at`` (everything after it comes back one byte early) or close after
    ``close_after`` bytes: a server the transfer must call wrong, and not hang on."""

    def behaviour(conn: socket.socket, stopping: threading.Event) -> None:
        conn.settimeout(10)
        echoed = 0
        while close_after is None or echoed < close_after:
            data = bytearray(conn.recv(1 << 16))
            if not data:
                return
            if damage_at is not None and echoed <= damage_at < echoed + len(data):
                data[damage_at - echoed] ^= 0xFF
            if drop_at is not None and echoed <= drop_at < echoed + len(data):
                del data[drop_at - echoed]
                conn.sendall(data)
                echoed += len(data) + 1
                continue
            conn.sendall(data)
            echoed += len(data)

    return behaviour


@pytest.mark.parametrize(
    ("damage_at", "drop_at", "close_after", "check", "message"),
    [
        (64 + 3 * MIB + 5, None, None, "every-byte", "a byte differing"),
        # A sample of each read still catches a byte lost anywhere: the rest of the read, its
        # tail included, is shifted against the pattern.
        (None, 64 + 3 * MIB + 5, None, "sampled", "a byte differing"),
        (None, None, 2 * MIB, "sampled", "the server (closed|reset the connection) after"),
    ],
    ids=["wrong-byte-every-byte-checked", "lost-byte-sampled", "closed-mid-transfer"],
)
def test_a_wrong_or_closing_server_fails_the_transfer_and_its_sender_stops(
    damage_at, drop_at, close_after, check, message
) -> None:
    before = {thread.name for thread in threading.enumerate()}
    with FakeServer(_echo_that_fails(damage_at, close_after, drop_at)) as server:
        with pytest.raises(RuntimeError, match=message):
            transfer_through(("127.0.0.1", server.port), 16 * MIB, MIB, None, check)
    assert "bulk-sender" not in {thread.name for thread in threading.enumerate()} - before


def test_the_c_client_shares_the_python_clients_sizes() -> None:
    """bulk_bound.c repeats the pattern's period, the read size and the sample's sizes: the
    bound rows are comparable with ours only while the two agree."""
    source = BOUND_SOURCE.read_text(encoding="utf-8")
    assert "#define PATTERN_BYTES ((8u << 20) + 4099u)" in source and PATTERN_BYTES == (8 << 20) + 4099
    assert "#define RECEIVE_BYTES (1u << 20)" in source and RECEIVE_BYTES == 1 << 20
    assert f"#define SAMPLE_TAIL_BYTES {SAMPLE_TAIL_BYTES}u" in source
    assert f"#define SAMPLE_WINDOW_BYTES {SAMPLE_WINDOW_BYTES}u" in source


def test_a_check_mode_not_known_is_refused() -> None:
    with pytest.raises(ValueError, match="sampled, every-byte"):
        transfer_through(("127.0.0.1", 9), MIB, MIB, None, "some")


@pytest.mark.parametrize("size", [1, 64, 65, 4096 + 64, 1 << 20])
def test_a_sample_compares_a_reads_tail_and_a_window_and_catches_a_shift_or_other_bytes(size: int) -> None:
    pattern = make_pattern(size)
    offset = 3 * size + 1
    good = pattern[offset % PATTERN_BYTES :][:size].tobytes()
    sampler = _Sampler(random.Random(7))
    sampler.check(pattern, offset, memoryview(good))
    shifted = pattern[(offset + 1) % PATTERN_BYTES :][:size].tobytes()  # a byte lost before this read
    with pytest.raises(RuntimeError, match="differing"):
        sampler.check(pattern, offset, memoryview(shifted))
    with pytest.raises(RuntimeError, match="differing"):
        sampler.check(pattern, offset, memoryview(bytes(size)))  # zeros, not the bytes sent
    if size > SAMPLE_TAIL_BYTES:
        # A byte lost in the read's middle: its tail is one byte on.
        lost = bytearray(good)
        del lost[size // 2]
        lost.append(0)
        with pytest.raises(RuntimeError, match="differing"):
            sampler.check(pattern, offset, memoryview(bytes(lost)))


def test_iperf3_s_figure_is_the_mean_of_its_two_streams() -> None:
    gib = 1 << 30
    end = {
        "sum_received": {"bytes": gib, "seconds": 0.3, "bits_per_second": gib * 8 / 0.3},
        "sum_received_bidir_reverse": {"bytes": gib // 2, "seconds": 0.3, "bits_per_second": gib * 4 / 0.3},
        "cpu_utilization_percent": {"host_total": 90.0, "remote_total": 60.0},
    }
    sample = _iperf3_sample(end)
    assert sample is not None
    assert sample.total_bytes == 3 * gib // 4 and sample.wall_s == 0.3
    assert sample.gbit_per_s == pytest.approx((gib * 8 / 0.3 + gib * 4 / 0.3) / 2 / 1e9)
    assert sample.forward_gbit_per_s == round(gib * 8 / 0.3 / 1e9, 3)
    assert sample.client_cpu_s == pytest.approx(0.27) and sample.server_cpu_s == pytest.approx(0.18)
    del end["sum_received_bidir_reverse"]  # an iperf3 run without --bidir: not comparable
    assert _iperf3_sample(end) is None


def test_a_wrong_byte_anywhere_is_caught_across_the_pattern_wrap() -> None:
    pattern = make_pattern(64)
    offset = PATTERN_BYTES - 10  # the chunk wraps around the end of the pattern's period
    good = np.concatenate([pattern[PATTERN_BYTES - 10 : PATTERN_BYTES], pattern[:22]])
    _check_returned(pattern, offset, memoryview(good.tobytes()))
    bad = good.copy()
    bad[20] ^= 1
    with pytest.raises(RuntimeError, match="differing"):
        _check_returned(pattern, offset, memoryview(bad.tobytes()))


def test_the_check_compares_with_libc_memcmp_on_linux() -> None:
    """The fast path is the one the benchmark takes here: without it every test below would
    exercise only the numpy fallback."""
    import sys

    from harness import bulk

    assert bulk._MEMCMP is not None or not sys.platform.startswith("linux")


@pytest.mark.parametrize("comparison", ["memcmp", "numpy words"])
@pytest.mark.parametrize("offset", [0, 3, 8, PATTERN_BYTES - 4096 - 5])
@pytest.mark.parametrize("flipped", [0, 7, 8, 1000, 4096 + 12])  # the words and the tail
def test_the_check_catches_a_byte_wherever_it_lies(
    offset: int, flipped: int, comparison: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if comparison == "numpy words":
        monkeypatch.setattr("harness.bulk._MEMCMP", None)
    length = 4096 + 13  # not a multiple of 8: a tail of five bytes compared one by one
    pattern = make_pattern(length)
    period = pattern[:PATTERN_BYTES]
    good = np.concatenate([period, period])[offset % PATTERN_BYTES :][:length].copy()
    _check_returned(pattern, offset, memoryview(good.tobytes()))
    bad = good.copy()
    bad[flipped] ^= 0x80
    with pytest.raises(RuntimeError, match="differing"):
        _check_returned(pattern, offset, memoryview(bad.tobytes()))


@pytest.mark.parametrize("chunk", [4096, 65536, 256 << 10, 1 << 20])
def test_a_dropped_or_repeated_power_of_two_chunk_is_caught(chunk: int) -> None:
    """The period is odd: a server that loses or repeats one read's worth of bytes (a power of
    two) shifts the rest of the stream by an amount the pattern never repeats at."""
    pattern = make_pattern(2 * chunk)
    offset = 5 * chunk
    after_a_drop = pattern[(offset + chunk) % PATTERN_BYTES :][:chunk].tobytes()
    with pytest.raises(RuntimeError, match="differing"):
        _check_returned(pattern, offset, memoryview(after_a_drop))
    after_a_repeat = pattern[(offset - chunk) % PATTERN_BYTES :][:chunk].tobytes()
    with pytest.raises(RuntimeError, match="differing"):
        _check_returned(pattern, offset, memoryview(after_a_repeat))


def test_a_pattern_too_short_for_the_chunk_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="too short"):
        _check_returned(make_pattern(16), PATTERN_BYTES - 4, memoryview(bytes(64)))


def test_the_table_gives_the_ratio_to_iperf3_and_names_failures() -> None:
    gib = 1 << 30
    points = [
        Point("runner:selectors", 1 << 20, [Sample(2.0, 1.0, 1.5, gib), Sample(1.0, 1.0, 1.5, gib), Sample(4.0, 1.0, 1.5, gib)]),
        Point("socat_echo", 1 << 20, error="stalled for 30 s after 3768320 of 1073741824 bytes back"),
        Point("iperf3", 1 << 20, [Sample(0.5, 0.5, 0.6, gib)] * 3),
    ]
    meta = {"machine": "test", "cpus": 2, "pinned": True, "load_before": "0", "load_after": "0", "date": "today", "repetitions": 3, "bytes": gib, "iperf3": "iperf 3.12", "check": "sampled"}
    table = markdown(points, meta)
    assert "(`--check sampled`: the read's last 64 bytes" in table  # what the client compared is said
    assert "(`--check every-byte`)" in markdown(points, {**meta, "check": "every-byte"})
    assert table.startswith("# Bulk transfer: 1 GiB through each server")
    assert "iperf3 (iperf 3.12) = `--bidir" in table  # the reference moves with iperf3's version
    # median wall 2 s for 1 GiB: 4.29 Gbit/s; iperf3 0.5 s: 17.18 Gbit/s; ratio 0.25
    assert "| runner:selectors | 4.29 | 2.15-8.59 | 0.25 | 1.00 | 1.50 |" in table
    assert "| socat_echo | failed: stalled" in table
    assert "| iperf3 | 17.18 |" in table


def test_goals_are_judged_on_the_best_runner_against_iperf3_at_each_write_size(tmp_path) -> None:
    gib = 1 << 30
    points = [
        Point("runner:threading", 1 << 20, [Sample(1.0, 1.0, 1.0, gib)] * 3),
        Point("runner:selectors", 1 << 20, [Sample(1.05, 1.0, 1.0, gib)] * 3),
        Point("socat_echo", 1 << 20, [Sample(0.5, 1.0, 1.0, gib)] * 3),  # not ours: never the best runner
        Point("iperf3", 1 << 20, [Sample(0.95, 0.5, 0.5, gib)] * 3),
        Point("runner:threading", 64 << 10, [Sample(2.0, 1.0, 1.0, gib)] * 3),
        Point("iperf3", 64 << 10, [Sample(1.0, 0.5, 0.5, gib)] * 3),
    ]
    text = "\n".join(goal_lines(points, 0.61))
    assert "1024 KiB writes: runner:threading 0.95x: **MET**" in text
    assert "64 KiB writes: runner:threading 0.50x: **NOT MET**" in text
    assert "0.61x: **NOT MET**" in "\n".join(goal_lines(points, 0.61))
    assert "0.32x: **MET**" in "\n".join(goal_lines(points, 0.32))
    assert "not measured" in "\n".join(goal_lines(points[:2], None))
    chart(points, tmp_path / "bulk.png")
    assert (tmp_path / "bulk.png").read_bytes().startswith(b"\x89PNG")


def test_both_receive_paths_are_measured_on_the_same_frame() -> None:
    result = receive_path_cpu(4 * MIB, 1)
    assert set(result["cpu_s_per_gib"]) == {"recv_array", "recv_and_concatenate"}
    assert result["ratio"] > 0


def test_the_one_connection_c_echo_measures_unchecked_sampled_and_checked_transfers(tmp_path) -> None:
    points = bound_points(compile_bound(str(tmp_path)), [64 * 1024], 1, 16 * MIB)
    assert sorted(point.target for point in points) == sorted(BOUND_TARGETS)
    for point in points:
        assert point.error is None, point.error
        [sample] = point.samples
        assert sample.total_bytes == 16 * MIB and sample.wall_s > 0
        assert sample.server_cpu_s is not None and sample.server_cpu_s >= 0


@pytest.mark.parametrize(
    ("damage_at", "drop_at", "close_after", "check", "message"),
    # Closing with our bytes unread resets: the receiving thread reads the close or the sending
    # one the reset, whichever comes first.
    [
        (3 * MIB + 5, None, None, BOUND_TARGETS["bound: C echo, every byte"], "a byte differs"),
        (None, 3 * MIB + 5, None, BOUND_TARGETS["bound: C echo, sampled"], "a byte differs"),
        (None, None, 2 * MIB, BOUND_TARGETS["bound: C echo, every byte"], "the server closed after|reset by peer|Broken pipe"),
    ],
    ids=["wrong-byte-every-byte-checked", "lost-byte-sampled", "closed-mid-transfer"],
)
def test_the_c_client_calls_a_wrong_or_closing_echo_wrong(tmp_path, damage_at, drop_at, close_after, check, message) -> None:
    binary = compile_bound(str(tmp_path))
    with FakeServer(_echo_that_fails(damage_at, close_after, drop_at)) as server:
        with pytest.raises(RuntimeError, match=message):
            bound_transfer(binary, server.port, None, MIB, check, 16 * MIB)


def test_a_pre_forking_server_is_started_with_every_thread_on_the_server_cores() -> None:
    """Started pinned, not pinned after its READY line: a worker forked meanwhile was missed."""
    if not _pinning_possible():
        pytest.skip("one core: nothing is pinned")
    own_cores = os.sched_getaffinity(0)
    server = launch_pinned(serve_command("array-tcp", "fd-passing"))
    with server:
        # fd-passing prints READY before its workers exist: a transfer is served by one.
        transfer_through(server.address, MIB, 64 * 1024, server.pid)
        assert len(process_tree(server.pid)) >= 2, "fd-passing served with no worker"
        assert tree_affinities(server.pid) == {frozenset(SERVER_CORES)}  # workers forked later too
    assert os.sched_getaffinity(0) == own_cores  # the launching process is back on its own


@pytest.mark.parametrize("check", ["sampled", "every-byte"])
def test_the_c_client_measures_a_reference_server_through_its_frame_header(tmp_path, check) -> None:
    """The default instrument: the relay validates the frame header the C client sends first."""
    [point] = measure_target(
        "runner:threading", serve_command("array-tcp", "threading"), [MIB], 1, c_client(compile_bound(str(tmp_path)), 16 * MIB), check
    )
    assert point.error is None, point.error
    [sample] = point.samples
    assert sample.total_bytes == 16 * MIB and sample.server_cpu_s is not None


def test_the_c_client_calls_a_changed_frame_header_wrong(tmp_path) -> None:
    binary = compile_bound(str(tmp_path))
    with FakeServer(_echo_that_fails(damage_at=5, close_after=None)) as server:
        with pytest.raises(RuntimeError, match="header came back changed"):
            bound_transfer(binary, server.port, None, MIB, "sampled", 16 * MIB)


def test_without_a_compiler_the_python_client_measures_and_says_so(tmp_path, monkeypatch, capsys) -> None:
    def no_compiler(directory: str) -> str:
        raise RuntimeError("no C compiler (cc; .ci/run installs gcc)")

    monkeypatch.setattr("harness.bulk.compile_bound", no_compiler)
    options = argparse.Namespace(client="c", check="sampled", repetitions=1, bytes=4 * MIB, no_third_party=True)
    meta: dict[str, object] = {}
    [point] = _measure_all(["threading"], [MIB], options, meta, str(tmp_path))
    assert meta["client"] == "python"
    assert point.error is None and point.samples[0].total_bytes == 4 * MIB
    assert "no C compiler (cc; .ci/run installs gcc): measuring with the Python client instead" in capsys.readouterr().err


@pytest.mark.parametrize("option", ["--bytes", "--repetitions", "--write-size"])
@pytest.mark.parametrize("value", ["0", "-5", "lots"])
def test_a_count_below_one_or_not_a_number_is_a_one_line_usage_error(option, value) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "harness", "bulk", option, value], capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 2
    assert f"argument {option}:" in completed.stderr and "Traceback" not in completed.stderr
