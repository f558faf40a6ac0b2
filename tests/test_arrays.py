"""The array-tcp frame codec, its sans-IO relay, and the no-copy client helpers.

- The codec (``harness.protocols.arrays``): headers round-trip, 64-bit lengths included, and
  each rule of suites/array_tcp/SPEC.md §header refuses what it should.
- The relay protocol, through the fake runner: whole, one byte at a time, several frames in
  one chunk; it returns payload bytes before the frame is complete and as slices of what was
  read; it holds a bounded amount whatever the frame's declared size; a malformed header ends
  the connection; a frame cut short by EOF is returned as far as it came.
- The helpers (``harness.clients.arrays``) over a socketpair: every dtype of fixed item size in
  both byte orders, 0-d, 0-length and 1-element arrays, Fortran-order and strided arrays,
  bytearray, memoryview and mmap; no copy of a contiguous payload on either side; a peer that
  stops reading or sending, closes or speaks nonsense ends the call with the error naming it.
"""

from __future__ import annotations

import itertools
import mmap
import socket
import threading
from typing import Any, Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.bulk import transfer_through
from harness.checks.endpoint import Deadline
from harness.checks.memory import MemorySampler
from harness.clients.arrays import (
    ArrayClosedError,
    ArrayTimeoutError,
    FrameReceiver,
    MalformedFrameError,
    STAGING_BYTES,
    as_array,
    every_fixed_itemsize_dtype,
    exchange_array,
    exchange_arrays,
    header_for,
    payload_pieces,
    recv_array,
    send_array,
)
from harness.protocols.arrays import (
    HIGH_WATER_BYTES,
    MAX_HEADER_BYTES,
    RING_BYTES,
    ArrayHeader,
    ArrayRelayProtocol,
    MalformedHeaderError,
    decode_header,
)
from harness.launch import launch_server
from tests.sansio import Drive, loopback_context

BUDGET_S = 30.0  # generous: a loaded 2-core machine, not a figure under test


def frame_of(array: Any) -> bytes:
    header = header_for(as_array(array))
    return header.encode() + as_array(array).tobytes(order=header.order)


def same_elements(received: np.ndarray, sent: Any) -> bool:
    """Element-exact: same dtype, same shape, the same bits in every element (NaNs included)."""
    sent = as_array(sent)
    return (
        received.dtype == sent.dtype
        and received.shape == sent.shape
        and np.ascontiguousarray(received).tobytes() == np.ascontiguousarray(sent).tobytes()
    )


def random_array(dtype: np.dtype, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Every bit pattern is fair game (NaN payloads, invalid code points): frames carry bytes."""
    count = int(np.prod(shape))
    raw = np.random.default_rng(seed).bytes(count * dtype.itemsize)
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    left, right = socket.socketpair()
    try:
        yield left, right
    finally:
        left.close()
        right.close()


def echo_in_thread(sock: socket.socket) -> threading.Thread:
    """An RFC 862 echo on the other end of a socketpair: any echo is an array-tcp server."""

    def run() -> None:
        try:
            while data := sock.recv(1 << 20):
                sock.sendall(data)
        except OSError:
            pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


# --- the codec ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        ArrayHeader("<f8", "C", (3, 4), 96),
        ArrayHeader(">i2", "F", (2, 3), 12),
        ArrayHeader("|b1", "C", (), 1),
        ArrayHeader("<U3", "C", (2,), 24),
        ArrayHeader("<M8[ns]", "C", (0,), 0),
        ArrayHeader("|u1", "C", (2**32 + 1,), 2**32 + 1),
        ArrayHeader("|u1", "C", (2**31,), 2**31),
        ArrayHeader("<c16", "C", (1,) * 32, 16),
    ],
    ids=lambda header: f"{header.dtype}{header.shape}"[:40],
)
def test_header_round_trips(header: ArrayHeader) -> None:
    encoded = header.encode()
    assert len(encoded) <= MAX_HEADER_BYTES
    assert decode_header(encoded) == header


def test_length_is_64_bit_big_endian_at_offset_8() -> None:
    encoded = ArrayHeader("|u1", "C", (2**32 + 1,), 2**32 + 1).encode()
    assert encoded[:8] == b"ARRY\x01C\x01\x03"
    assert encoded[8:16] == b"\x00\x00\x00\x01\x00\x00\x00\x01"
    assert encoded[16:19] == b"|u1"
    assert encoded[19:27] == b"\x00\x00\x00\x01\x00\x00\x00\x01"


@pytest.mark.parametrize(
    "mangle, reason",
    [
        (lambda h: b"ARRZ" + h[4:], "magic"),
        (lambda h: h[:4] + b"\x02" + h[5:], "version"),
        (lambda h: h[:5] + b"K" + h[6:], "order"),
        (lambda h: h[:6] + b"\x21" + h[7:], "dimensions"),
        (lambda h: h[:7] + b"\x00" + h[8:], "dtype of 0 bytes"),
        (lambda h: h[:15] + b"\x61" + h[16:], "length"),  # 96 -> 97 bytes declared
        (lambda h: h[:16] + b"<q8" + h[19:], "not <order><kind>"),
        (lambda h: h[:16] + b"<f0" + h[19:], "not <order><kind>"),
    ],
    ids=["magic", "version", "order", "ndim", "dtype-length", "length", "kind", "count"],
)
def test_a_malformed_header_is_refused_with_its_reason(mangle: Any, reason: str) -> None:
    header = ArrayHeader("<f8", "C", (3, 4), 96).encode()
    with pytest.raises(MalformedHeaderError, match=reason):
        decode_header(mangle(header))


def test_sizes_past_64_bits_are_refused_before_packing() -> None:
    with pytest.raises(MalformedHeaderError, match="unsigned 64-bit"):
        ArrayHeader("|u1", "C", (2**64,), 2**64).encode()
    with pytest.raises(MalformedHeaderError, match="unsigned 64-bit"):
        ArrayHeader("|u1", "C", (-1,), 0).encode()


def test_a_unit_belongs_only_to_datetimes() -> None:
    with pytest.raises(MalformedHeaderError, match="unit"):
        ArrayHeader("<f8[ns]", "C", (1,), 8).encode()


# --- the relay protocol ---------------------------------------------------------------------

FRAMES = [
    frame_of(np.arange(12.0).reshape(3, 4)),
    frame_of(np.zeros(0, dtype="<i4")),
    frame_of(np.array(7, dtype=">u2")),
    frame_of(np.asfortranarray(np.arange(6, dtype="<c8").reshape(2, 3))),
]
STREAM = b"".join(FRAMES)

# The relay's two input paths: bytes pushed (data_received), and reads into its ring
# (get_buffer / buffer_updated, as recv_into runners and asyncio's BufferedProtocol feed it).
BOTH_INPUT_PATHS = pytest.mark.parametrize("buffered", [False, True], ids=["data_received", "into-ring"])


@BOTH_INPUT_PATHS
def test_relay_returns_frames_whole(buffered: bool) -> None:
    drive = Drive(ArrayRelayProtocol(), buffered=buffered)
    assert drive.start() == b""
    assert drive.feed(STREAM) == STREAM
    assert not drive.protocol.wants_close
    assert drive.eof() == b""
    assert drive.protocol.wants_close


@BOTH_INPUT_PATHS
def test_relay_returns_frames_fed_one_byte_at_a_time(buffered: bool) -> None:
    drive = Drive(ArrayRelayProtocol(), buffered=buffered, max_bytes=3)
    drive.start()
    out = b"".join(drive.feed(STREAM[index : index + 1]) for index in range(len(STREAM)))
    assert out == STREAM


@BOTH_INPUT_PATHS
@settings(max_examples=50)
@given(cuts=st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_relay_is_identity_however_split(buffered: bool, cuts: list[int]) -> None:
    drive = Drive(ArrayRelayProtocol(), buffered=buffered)
    drive.start()
    bounds = [0, *sorted(cuts), len(STREAM)]
    out = b"".join(drive.feed(STREAM[start:end]) for start, end in zip(bounds, bounds[1:]) if end > start)
    assert out + drive.eof() == STREAM


@BOTH_INPUT_PATHS
def test_relay_holds_a_header_until_it_is_whole_then_streams_the_payload(buffered: bool) -> None:
    frame = frame_of(np.arange(1000, dtype="<i8"))
    header_bytes = len(header_for(np.arange(1000, dtype="<i8")).encode())
    drive = Drive(ArrayRelayProtocol(), buffered=buffered)
    drive.start()
    assert drive.feed(frame[: header_bytes - 1]) == b""
    assert drive.feed(frame[header_bytes - 1 : header_bytes + 10]) == frame[: header_bytes + 10]
    assert drive.feed(frame[header_bytes + 10 :]) == frame[header_bytes + 10 :]


def test_relay_hands_out_payload_as_slices_of_what_was_read() -> None:
    protocol = ArrayRelayProtocol()
    header = ArrayHeader("|u1", "C", (1 << 20,), 1 << 20).encode()
    protocol.data_received(header)
    assert bytes(protocol.pull_output(1 << 21)) == header
    payload = bytes(range(256)) * 4096
    protocol.data_received(payload)
    piece = protocol.pull_output(1 << 21)
    assert isinstance(piece, memoryview) and piece.obj is payload  # a view, not a copy


def test_relay_holds_a_bounded_amount_of_a_frame_declared_past_4_gib() -> None:
    size = 2**32 + 2**20
    protocol = ArrayRelayProtocol()
    protocol.connection_made(loopback_context())
    protocol.data_received(ArrayHeader("|u1", "C", (size,), size).encode())
    chunk = b"\x5a" * 65536
    fed = 0
    while protocol.wants_input:
        protocol.data_received(chunk)
        fed += len(chunk)
    # Input paused at the high-water mark: what it holds is bounded, not the frame.
    assert HIGH_WATER_BYTES <= fed < HIGH_WATER_BYTES + 2 * len(chunk)
    pulled = 0
    while piece := protocol.pull_output(1 << 20):
        pulled += len(piece)
    assert protocol.wants_input and not protocol.wants_close
    assert pulled > fed  # the header and everything fed came out; the frame is not over


def read_into(protocol: ArrayRelayProtocol, data: bytes) -> int:
    """One read, as a recv_into runner makes it: as much of ``data`` as the lent buffer takes."""
    buffer = protocol.get_buffer(65536)
    count = min(len(buffer), len(data))
    buffer[:count] = data[:count]
    protocol.buffer_updated(count)
    return count


def test_relay_sends_payload_from_the_memory_it_was_read_into() -> None:
    protocol = ArrayRelayProtocol()
    header = ArrayHeader("|u1", "C", (1 << 20,), 1 << 20).encode()
    read_into(protocol, header)
    assert bytes(protocol.pull_output(1 << 21)) == header
    lent = protocol.get_buffer(65536)
    payload = bytes(range(256)) * 256
    assert read_into(protocol, payload) == len(payload)
    piece = protocol.pull_output(1 << 21)
    assert isinstance(piece, memoryview) and piece.obj is lent.obj  # the ring itself, not a copy
    assert bytes(piece) == payload


def memory_range(view: memoryview) -> tuple[int, int]:
    """The addresses a (contiguous, non-empty) view covers: [first, last + 1)."""
    first = np.frombuffer(view, dtype=np.uint8).ctypes.data
    return first, first + len(view)


def test_relay_never_lends_ring_memory_that_unsent_or_last_pulled_output_holds() -> None:
    size = 8 * RING_BYTES  # the ring wraps several times within the frame
    protocol = ArrayRelayProtocol()
    pattern = np.random.default_rng(7).integers(0, 256, size, dtype=np.uint8).tobytes()
    stream = ArrayHeader("|u1", "C", (size,), size).encode() + pattern
    read_sizes = itertools.cycle([100_003, 65_536, 250_001, 1 << 20])  # reads end anywhere
    pull_sizes = itertools.cycle([300_000, 65_537, 4096])
    fed = returned = lent_checked = 0
    out = bytearray()

    def fill(held: memoryview | None) -> None:
        nonlocal fed, lent_checked
        while fed < len(stream) and protocol.wants_input:
            if isinstance(held, memoryview):  # a slice of the ring, not a joined copy
                lent_first, lent_end = memory_range(protocol.get_buffer(65536))
                held_first, held_end = memory_range(held)
                assert lent_end <= held_first or held_end <= lent_first, "lent the memory of a chunk not yet sent"
                lent_checked += 1
            fed += read_into(protocol, stream[fed : fed + next(read_sizes)])

    fill(None)
    while len(out) < len(stream):
        assert fed - returned <= RING_BYTES + MAX_HEADER_BYTES  # bounded whatever the frame's size
        # Take one chunk and keep it while the relay is read into again, as a runner with a
        # send in flight would: its memory must not be lent before the next pull.
        held = protocol.pull_output(next(pull_sizes))
        snapshot = bytes(held)
        fill(held)
        assert bytes(held) == snapshot
        out += snapshot
        returned += len(snapshot)
    assert bytes(out) == stream
    assert lent_checked > 50  # the check above ran, many times


@pytest.mark.parametrize("cut", [0, 1, 4, 10, 16, 20])
def test_relay_closes_at_a_malformed_header_after_returning_earlier_frames(cut: int) -> None:
    bad = b"ARRY\x02C\x01\x03" + bytes(40)
    drive = Drive(ArrayRelayProtocol())
    drive.start()
    assert drive.feed(FRAMES[0] + bad[:cut]) == FRAMES[0]
    out = drive.feed(bad[cut:])
    assert out == b""
    assert drive.protocol.wants_close and not drive.protocol.wants_input
    assert "version" in (drive.protocol.refusal or "")
    assert drive.feed(FRAMES[1]) == b""  # nothing more is read or returned


@BOTH_INPUT_PATHS
def test_relay_returns_a_frame_cut_short_by_eof_as_far_as_it_came(buffered: bool) -> None:
    frame = FRAMES[0]
    for cut in (3, 20, len(frame) - 5):
        drive = Drive(ArrayRelayProtocol(), buffered=buffered)
        drive.start()
        out = drive.feed(frame[:cut])
        assert out + drive.eof() == frame[:cut]
        assert drive.protocol.wants_close


# --- the helpers over a socketpair ------------------------------------------------------------


def round_trip(pair: tuple[socket.socket, socket.socket], array: Any) -> np.ndarray:
    """Send on one end (from a thread: a frame may be larger than the socket buffers) and
    receive on the other."""
    left, right = pair
    errors: list[BaseException] = []

    def send() -> None:
        try:
            send_array(left, array, deadline=Deadline(BUDGET_S))
        except BaseException as exc:  # reported by the caller
            errors.append(exc)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    received = recv_array(right, deadline=Deadline(BUDGET_S))
    sender.join(BUDGET_S)
    assert not errors, errors
    return received


@pytest.mark.parametrize("dtype", every_fixed_itemsize_dtype(), ids=lambda dtype: dtype.str)
def test_every_fixed_itemsize_dtype_round_trips_element_exact(
    pair: tuple[socket.socket, socket.socket], dtype: np.dtype
) -> None:
    array = random_array(dtype, (5, 7))
    received = round_trip(pair, array)
    assert received.dtype.str == dtype.str
    assert same_elements(received, array)


@pytest.mark.parametrize(
    "array",
    [np.zeros(0), np.zeros((3, 0, 2), dtype="<i2"), np.array([42], dtype="<u8"), np.array(3.5), np.array(b"x")],
    ids=["0-length", "0-length-3d", "1-element", "0-d", "0-d-bytes"],
)
def test_empty_single_and_zero_d_arrays_round_trip(pair: tuple[socket.socket, socket.socket], array: np.ndarray) -> None:
    assert same_elements(round_trip(pair, array), array)


def test_fortran_order_goes_out_as_is_and_arrives_in_fortran_order(pair: tuple[socket.socket, socket.socket]) -> None:
    array = np.asfortranarray(random_array(np.dtype("<f4"), (300, 200)))
    assert header_for(array).order == "F"
    pieces = list(payload_pieces(array))
    assert len(pieces) == 1 and np.shares_memory(np.asarray(pieces[0]), array)  # no copy
    received = round_trip(pair, array)
    assert received.flags.f_contiguous and not received.flags.c_contiguous
    assert same_elements(received, array)


@pytest.mark.parametrize(
    "view",
    [
        lambda a: a[:, ::3],
        lambda a: a[::-1],
        lambda a: a.T[::2],
        lambda a: a[5:6, 7:8],
        lambda a: a.reshape(-1)[:: 7],
    ],
    ids=["columns", "reversed", "transposed-strided", "one-element-view", "flat-stride"],
)
def test_strided_arrays_arrive_element_equal_in_c_order(pair: tuple[socket.socket, socket.socket], view: Any) -> None:
    base = random_array(np.dtype(">i8"), (600, 500))
    array = view(base)
    received = round_trip(pair, array)
    assert received.dtype == array.dtype and received.flags.c_contiguous
    assert np.array_equal(received, array)


def test_a_strided_array_is_staged_in_bounded_pieces() -> None:
    array = np.zeros((4096, 2048), dtype="<f8")[:, ::2]  # 32 MiB of elements, not contiguous
    pieces = list(payload_pieces(array))
    assert sum(len(piece) for piece in pieces) == array.nbytes
    assert max(len(piece) for piece in pieces) <= STAGING_BYTES


def test_the_receiver_reads_exactly_the_header_then_fills_the_array_it_returns() -> None:
    receiver = FrameReceiver()
    header = header_for(np.zeros((4, 4), dtype="<f8")).encode()
    view = receiver.next_view()
    assert len(view) == 16  # the fixed part first: a following frame's bytes stay in the socket
    view[:] = header[:16]
    receiver.advance(16)
    view = receiver.next_view()
    assert len(view) == len(header) - 16  # then exactly the rest of the header
    view[:] = header[16:]
    receiver.advance(len(view))
    assert receiver.array is not None and receiver.array.shape == (4, 4)
    assert np.shares_memory(np.asarray(receiver.next_view()), receiver.array)  # recv_into lands in place


@pytest.mark.parametrize(
    "make",
    [
        lambda: bytearray(b"a bytearray"),
        lambda: b"bytes",
        lambda: memoryview(np.arange(6, dtype="<i4").reshape(2, 3)),
        lambda: memoryview(bytearray(range(100)))[10:90],
    ],
    ids=["bytearray", "bytes", "memoryview-2d", "memoryview-slice"],
)
def test_any_buffer_is_sent_without_copying(pair: tuple[socket.socket, socket.socket], make: Any) -> None:
    buffer = make()
    array = as_array(buffer)
    assert np.shares_memory(array, np.asarray(memoryview(buffer)))
    received = round_trip(pair, buffer)
    assert same_elements(received, array)


def test_an_mmap_is_sent_without_copying(pair: tuple[socket.socket, socket.socket]) -> None:
    with mmap.mmap(-1, 1 << 20) as region:
        region[:5] = b"mmap!"
        region[-1:] = b"!"
        received = round_trip(pair, region)
        assert received.tobytes() == region[:]


def test_many_frames_back_to_back_through_an_echo(pair: tuple[socket.socket, socket.socket]) -> None:
    left, right = pair
    echo_in_thread(right)
    arrays = [random_array(dtype, (64, 33), seed) for seed, dtype in enumerate(every_fixed_itemsize_dtype())]
    arrays += [np.zeros(0), np.asfortranarray(random_array(np.dtype("<f8"), (1500, 700))), np.array(1)]
    received = exchange_arrays(left, arrays, deadline=Deadline(BUDGET_S))
    assert len(received) == len(arrays)
    assert all(same_elements(got, sent) for got, sent in zip(received, arrays))


def test_a_frame_larger_than_the_socket_buffers_is_read_while_sent(pair: tuple[socket.socket, socket.socket]) -> None:
    left, right = pair
    echo_in_thread(right)
    array = random_array(np.dtype("<u8"), (8 << 20,))  # 64 MiB: blocks a send-then-receive client
    assert same_elements(exchange_array(left, array, deadline=Deadline(BUDGET_S)), array)


def test_a_silent_peer_ends_a_receive_with_a_timeout(pair: tuple[socket.socket, socket.socket]) -> None:
    left, right = pair
    left.sendall(frame_of(np.arange(100.0))[:50])
    with pytest.raises(ArrayTimeoutError, match="stopped sending"):
        recv_array(right, deadline=Deadline(BUDGET_S), stall_timeout=0.2)
    assert right.gettimeout() is None  # the socket's own timeout is restored


def test_a_peer_that_never_reads_ends_a_send_with_a_timeout(pair: tuple[socket.socket, socket.socket]) -> None:
    left, _ = pair
    with pytest.raises(ArrayTimeoutError, match="stopped taking"):
        send_array(left, np.zeros(64 << 20, dtype=np.uint8), deadline=Deadline(BUDGET_S), stall_timeout=0.2)


def test_a_spent_deadline_ends_the_call_at_once(pair: tuple[socket.socket, socket.socket]) -> None:
    _, right = pair
    spent = Deadline(1.0, clock=iter([0.0, 5.0, 5.0, 5.0, 5.0]).__next__)
    with pytest.raises(ArrayTimeoutError, match="budget"):
        recv_array(right, deadline=spent)


def test_eof_mid_frame_is_a_closed_error_naming_the_progress(pair: tuple[socket.socket, socket.socket]) -> None:
    left, right = pair
    frame = frame_of(np.arange(100.0))
    left.sendall(frame[:-8])
    left.shutdown(socket.SHUT_WR)
    with pytest.raises(ArrayClosedError, match=f"EOF after {len(frame) - 8} of {len(frame)} bytes"):
        recv_array(right, deadline=Deadline(BUDGET_S))


def test_a_malformed_header_is_a_malformed_frame_error(pair: tuple[socket.socket, socket.socket]) -> None:
    left, right = pair
    left.sendall(b"HTTP/1.1 200 OK\r\n\r\n")
    with pytest.raises(MalformedFrameError, match="magic"):
        recv_array(right, deadline=Deadline(BUDGET_S))


def test_a_frame_over_the_receivers_limit_is_refused_before_allocation(pair: tuple[socket.socket, socket.socket]) -> None:
    left, right = pair
    left.sendall(ArrayHeader("|u1", "C", (2**40,), 2**40).encode())
    with pytest.raises(MalformedFrameError, match="at most"):
        recv_array(right, deadline=Deadline(BUDGET_S), max_bytes=1 << 30)


def test_object_and_structured_dtypes_are_refused() -> None:
    with pytest.raises(ValueError, match="object|fixed"):
        header_for(np.array([object()]))
    with pytest.raises(ValueError, match="fixed"):
        header_for(np.zeros(2, dtype=[("x", "<i4"), ("y", "<f8")]))


@pytest.mark.slow
def test_a_frame_past_4_gib_goes_through_the_helpers(
    pair: tuple[socket.socket, socket.socket], request: pytest.FixtureRequest
) -> None:
    if not request.config.getoption("large"):
        pytest.skip("4 GiB through a socketpair and 4 GiB of memory: only with --large")
    left, right = pair
    size = 2**32 + 1
    array = np.zeros(size, dtype=np.uint8)  # calloc'd: untouched pages cost no memory
    marks = [0, 2**31 - 1, 2**31, 2**32 - 1, 2**32]
    array[marks] = [1, 2, 3, 4, 5]
    errors: list[BaseException] = []

    def send() -> None:
        try:
            send_array(left, array, deadline=Deadline(120.0))
        except BaseException as exc:  # reported below
            errors.append(exc)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    received = recv_array(right, deadline=Deadline(120.0))
    sender.join(120.0)
    assert not errors, errors
    assert received.shape == (size,)
    assert list(received[marks]) == [1, 2, 3, 4, 5] and np.count_nonzero(received) == len(marks)


# The runner that carries CI's one 4 GiB + 1 frame through a server: the fastest at 1 MiB
# writes in the committed bulk run (loadtests/results/bulk), reading into the relay's ring.
LARGE_FRAME_RUNNER = "select"
# A byte past 2^32: a server with a 32-bit length (or offset) wraps before the end.
LARGE_FRAME_BYTES = 2**32 + 1
# The client writes in 1 MiB pieces and reads into a 1 MiB buffer (harness.bulk's transfer).
LARGE_FRAME_WRITE_BYTES = 1 << 20
LARGE_FRAME_SERVER_GROWTH_BOUND = 64 << 20  # the back-pressure tests' bound (DESIGN: tests, not prose)


@pytest.mark.slow
def test_ci_carries_one_frame_past_4_gib_through_a_server_in_bounded_memory() -> None:
    """The one 4 GiB + 1 frame CI runs (without --large): through a reference server and back,
    every byte compared with the byte sent at its offset, the client holding an 8 MiB pattern
    and a 1 MiB buffer, the server's memory (Pss over its session) growing by less than 64 MiB."""
    with launch_server("array-tcp", LARGE_FRAME_RUNNER) as server:
        with MemorySampler(server.pid) as memory:
            sample = transfer_through(server.address, LARGE_FRAME_BYTES, LARGE_FRAME_WRITE_BYTES, None)
        print(f"4 GiB + 1 through {LARGE_FRAME_RUNNER}: {sample.wall_s:.1f} s, {sample.gbit_per_s:.2f} Gbit/s")
        assert sample.total_bytes == LARGE_FRAME_BYTES
        assert memory.growth < LARGE_FRAME_SERVER_GROWTH_BOUND, (
            f"server Pss grew by {memory.growth / 2**20:.1f} MiB while carrying 4 GiB + 1"
        )
    assert server.exit_status == 0
