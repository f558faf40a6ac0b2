"""Checkers for array-tcp (suites/array_tcp/SPEC.md): plain functions of an endpoint.

Every frame goes through the reference client helpers (``harness.clients.arrays``): the same
no-copy paths a user of the recipe takes, sending and reading at once, so a correct server is
never blamed for a deadlock of ours. What comes back is compared element-exact: the same dtype
(byte order included), shape and memory order, and the same bits in every element (a NaN's
payload included), so a float that went through text or a byte-swap is caught.

A client error is the target's doing and becomes a :class:`~harness.verdicts.ConformanceFailure`
whose "actual" is the error's message (orderly close, reset, timeout, a malformed header
returned); a frame that came back different names the frame and the first differing byte with
a hexdump.

The memory check reads the server's processes from /proc, the way tests/test_backpressure.py
proves back-pressure: the proportional set size (Pss) summed over the server's session,
sampled while a 1 GiB frame moves. It needs the server's process, which only a reference
runner launched by the harness has.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from harness.checks.endpoint import Endpoint, abort_connection
from harness.checks.stream import Conversation, converse, require_complete
from harness.clients.arrays import (
    ArrayTransferError,
    as_array,
    every_fixed_itemsize_dtype,
    exchange_array,
    exchange_arrays,
    header_for,
)
from harness.checks.memory import MemorySampler
from harness.protocols.arrays import ArrayHeader
from harness.verdicts import ConformanceFailure, describe_data

GIB = 1 << 30
MIB = 1 << 20

# frame/1: the chapter's kind of array, half a megabyte: not a multiple of any read size.
ONE_FRAME_SHAPE = (64, 1000)

# frame/2: a 5 x 7 array of each dtype: small, odd, two-dimensional.
DTYPE_SHAPE = (5, 7)

# frame/5: frames of every size class back to back, ~40 MiB in all, several larger than the
# socket buffers so that a server that drops part of a short write loses bytes mid-stream.
BACK_TO_BACK_SIZES = (0, 1, 7, 4096, 65535, 65536, 65537, 1 << 20, 3 * MIB + 5, 8 * MIB, 8 * MIB + 1, 16 * MIB)

# frame/6: a frame declared just past 4 GiB, of which only this much is sent and must come
# back: a 32-bit length field reads it as 1 MiB and takes what follows for the next header.
BEYOND_32_BITS_LENGTH = (1 << 32) + MIB
BEYOND_32_BITS_SENT = 8 * MIB

# stream/1: a frame declared 64 MiB long, of which 1 MiB is sent: that much must come back
# while the rest is still to come.
PARTIAL_FRAME_LENGTH = 64 * MIB
PARTIAL_FRAME_SENT = 1 * MIB

# stream/2 and stream/3: one frame of 1 GiB (2^27 uint64: each element its own index, so a
# misplaced block is caught anywhere).
BIG_FRAME_ELEMENTS = GIB // 8

# stream/3: the server's memory may grow by this much while a 1 GiB frame passes through it:
# a few MiB of buffers and a recv's worth per connection are far below, a buffered frame far
# above (the bound tests/test_backpressure.py puts on 1 GiB echoed).
MEMORY_BOUND_BYTES = 64 * MIB

# large/1 and large/2: the sizes past the signed and unsigned 32-bit limits.
LARGE_SIZES = {"2^31": (1 << 31) + 1, "2^32": (1 << 32) + 1}

# header/1: a header with a wrong magic, then a valid frame.
MALFORMED_HEADER = b"ARRZ\x01C\x01\x03" + (8).to_bytes(8, "big") + b"|u1" + (8).to_bytes(8, "big") + bytes(8)


def random_array(dtype: np.dtype, shape: tuple[int, ...], seed: int) -> np.ndarray:
    """An array of random bits: every bit pattern is fair (NaN payloads, odd code points)."""
    count = int(np.prod(shape))
    raw = np.random.default_rng(seed).bytes(count * dtype.itemsize)
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def describe_frame(array: Any) -> str:
    array = as_array(array)
    header = header_for(array)
    return f"{header.dtype} {header.order}-order shape {header.shape} ({header.length} bytes)"


def frame_difference(sent: Any, received: np.ndarray) -> str | None:
    """Why ``received`` is not ``sent`` element-exact, or None when it is."""
    sent = as_array(sent)
    if received.dtype.str != sent.dtype.str or received.shape != sent.shape:
        return f"a frame of {describe_frame(received)} came back for one of {describe_frame(sent)}"
    if sent.flags.f_contiguous and not sent.flags.c_contiguous and not received.flags.f_contiguous:
        return f"a C-order frame came back for the F-order {describe_frame(sent)}"
    expected = np.ascontiguousarray(sent).reshape(-1).view(np.uint8)
    actual = np.ascontiguousarray(received).reshape(-1).view(np.uint8)
    differing = np.flatnonzero(expected != actual)
    if not len(differing):
        return None
    offset = int(differing[0])
    start = max(0, offset - 32) & ~15
    window = describe_data(expected[start : start + 128].tobytes(), actual[start : start + 128].tobytes())
    return f"payload byte {offset} is the first that differs (hexdump offsets from payload byte {start}):\n{window}"


def _exchange(endpoint: Endpoint, arrays: Sequence[Any], expected_text: str, *, one_at_a_time: bool) -> None:
    """Send ``arrays`` on one connection and require each back element-exact."""
    sock = endpoint.connect(nodelay=False)
    received: list[np.ndarray] = []
    try:
        if one_at_a_time:
            for array in arrays:
                received.append(exchange_array(sock, array, deadline=endpoint.deadline))
        else:
            received = exchange_arrays(sock, list(arrays), deadline=endpoint.deadline)
    except ArrayTransferError as exc:
        done = len(received) + getattr(exc, "frames_received", 0)
        raise ConformanceFailure(expected_text, f"{exc}, in frame {done + 1} of {len(arrays)}") from None
    finally:
        sock.close()
    for index, (sent, got) in enumerate(zip(arrays, received)):
        difference = frame_difference(sent, got)
        if difference is not None:
            raise ConformanceFailure(expected_text, f"frame {index + 1} of {len(arrays)}: {difference}")


def check_one_frame_returned(endpoint: Endpoint) -> None:
    """frame/1: one float64 array of 64 x 1000 comes back element-exact."""
    array = random_array(np.dtype("<f8"), ONE_FRAME_SHAPE, seed=1)
    _exchange(endpoint, [array], f"the frame of {describe_frame(array)} returned element-exact", one_at_a_time=True)


def check_every_dtype_returned(endpoint: Endpoint) -> None:
    """frame/2: an array of every fixed-itemsize dtype, in both byte orders, comes back exact."""
    arrays = [random_array(dtype, DTYPE_SHAPE, seed) for seed, dtype in enumerate(every_fixed_itemsize_dtype())]
    names = " ".join(array.dtype.str for array in arrays)
    _exchange(endpoint, arrays, f"a 5 x 7 frame of each dtype ({names}) returned element-exact", one_at_a_time=True)


def check_empty_and_single_arrays_returned(endpoint: Endpoint) -> None:
    """frame/3: 0-length, 1-element and 0-d arrays come back exact (a frame may be all header)."""
    arrays = [
        np.zeros(0, dtype="<f8"),
        np.array([0x0123456789ABCDEF], dtype=">u8"),
        np.zeros((3, 0, 2), dtype="<i2"),
        np.array(2.5, dtype="<f4"),
        np.array([True]),
    ]
    _exchange(endpoint, arrays, "0-length, 1-element and 0-d frames each returned exact", one_at_a_time=True)


def check_strided_and_fortran_arrays_returned(endpoint: Endpoint) -> None:
    """frame/4: Fortran-order arrays (sent as they are, order F) and strided views (sent in C
    order) come back element-equal, a Fortran array as a Fortran array."""
    base = random_array(np.dtype(">i4"), (500, 300), seed=4)
    arrays = [
        np.asfortranarray(base),
        base[:, ::3],
        base[::-1, 1::2],
        base.T[::7],
        np.asfortranarray(random_array(np.dtype("<c16"), (30, 20, 10), seed=5)),
    ]
    _exchange(
        endpoint, arrays, "Fortran-order and strided arrays, sent through the helpers, returned element-equal",
        one_at_a_time=True,
    )


def check_frames_back_to_back(endpoint: Endpoint) -> None:
    """frame/5: frames of sizes 0 B to 16 MiB sent back to back, read while sent, all exact."""
    arrays = [random_array(np.dtype("|u1"), (size,), seed) for seed, size in enumerate(BACK_TO_BACK_SIZES)]
    arrays += [random_array(np.dtype("<f8"), (1000, 100), seed=99), np.asfortranarray(arrays[-1].reshape(4 * MIB, 4))]
    total = sum(array.nbytes for array in arrays) // MIB
    _exchange(
        endpoint, arrays, f"{len(arrays)} frames ({total} MiB) sent back to back, all returned exact, in order",
        one_at_a_time=False,
    )


def _start_of_frame_returned(endpoint: Endpoint, declared: int, sent_bytes: int, seed: int, expected_text: str) -> None:
    """Send the header of a ``declared``-byte frame and ``sent_bytes`` of it; require those back.

    The frame is left unfinished, so the connection is ended with a reset, not a FIN that
    would claim the frame was complete.
    """
    header = ArrayHeader("|u1", "C", (declared,), declared).encode()
    sent = header + random_array(np.dtype("|u1"), (sent_bytes,), seed).tobytes()
    sock = endpoint.connect(nodelay=False)
    try:
        conversation = Conversation(sock, [sent], sent)
        converse([conversation], endpoint.deadline)
        require_complete(conversation, expected_text, endpoint.deadline)
    finally:
        abort_connection(sock)


def check_length_beyond_32_bits(endpoint: Endpoint) -> None:
    """frame/6: a frame declared 4 GiB + 1 MiB long: its first 8 MiB come back as they are sent."""
    _start_of_frame_returned(
        endpoint,
        BEYOND_32_BITS_LENGTH,
        BEYOND_32_BITS_SENT,
        6,
        f"of a frame declared {BEYOND_32_BITS_LENGTH} bytes long (past 2^32), the header and the first "
        f"{BEYOND_32_BITS_SENT} payload bytes returned as they are sent",
    )


def check_returned_before_frame_complete(endpoint: Endpoint) -> None:
    """stream/1: of a 64 MiB frame, the header and first 1 MiB come back before the rest is sent."""
    _start_of_frame_returned(
        endpoint,
        PARTIAL_FRAME_LENGTH,
        PARTIAL_FRAME_SENT,
        7,
        f"of a frame declared {PARTIAL_FRAME_LENGTH} bytes long, the header and the first "
        f"{PARTIAL_FRAME_SENT} bytes returned while the rest is still to come",
    )


def big_frame() -> np.ndarray:
    """1 GiB of uint64, each element its own index."""
    return np.arange(BIG_FRAME_ELEMENTS, dtype="<u8")


def check_one_gib_frame(endpoint: Endpoint) -> None:
    """stream/2: one frame of 1 GiB, read while it is sent, comes back element-exact."""
    array = big_frame()
    _exchange(endpoint, [array], f"one frame of {describe_frame(array)} returned element-exact", one_at_a_time=True)


def check_memory_bounded_during_one_gib_frame(endpoint: Endpoint, server_pid: int) -> str:
    """stream/3: while a 1 GiB frame passes through, the server's Pss grows by < 64 MiB.

    Args:
        server_pid: the server's session leader (a reference runner's launched process).

    Returns:
        The growth measured, for the results' ``actual`` when it is within the bound.
    """
    array = big_frame()
    expected_text = (
        f"the server's memory (Pss of its processes) grows by less than {MEMORY_BOUND_BYTES // MIB} MiB "
        "while one 1 GiB frame passes through it"
    )
    transfer_failure: ConformanceFailure | None = None
    with MemorySampler(server_pid) as memory:
        try:
            _exchange(endpoint, [array], expected_text, one_at_a_time=True)
        except ConformanceFailure as failure:
            transfer_failure = failure
    growth = f"Pss grew by {memory.growth / MIB:.1f} MiB (from {memory.baseline / MIB:.1f} MiB)"
    if memory.growth >= MEMORY_BOUND_BYTES:
        # The growth is what this case is about, so it is named first, also when the transfer
        # then failed too: a server that gathers a whole frame may stall while it fills
        # (or zeroes) a gigabyte, and its stall is the symptom, the frame it holds the cause.
        then = f"; then {transfer_failure.actual}" if transfer_failure is not None else ""
        raise ConformanceFailure(
            expected_text, f"{growth} while the frame passed through: it holds frames, not a bounded window{then}"
        )
    if transfer_failure is not None:
        raise transfer_failure
    return growth


def large_frame(size: int) -> tuple[np.ndarray, list[int]]:
    """``size`` bytes of zeros with marks at each side of 2^31 and 2^32 and at the ends.

    np.zeros gets its pages from calloc, so untouched zeros cost no memory to send; the marks
    make a misplaced or truncated block visible without comparing two multi-GiB arrays.
    """
    array = np.zeros(size, dtype=np.uint8)
    marks = sorted({position for position in (0, 1 << 31, (1 << 31) - 1, (1 << 32) - 1, 1 << 32, size - 1) if position < size})
    array[marks] = np.arange(1, len(marks) + 1, dtype=np.uint8)
    return array, marks


def check_large_frame(endpoint: Endpoint, size: int) -> None:
    """large/N: one frame of ``size`` bytes (past 2^31 or 2^32) comes back exact."""
    array, marks = large_frame(size)
    expected_text = f"one frame of {size} bytes returned exact (its marks at {marks} in place, zeros elsewhere)"
    sock = endpoint.connect(nodelay=False)
    try:
        received = exchange_array(sock, array, deadline=endpoint.deadline)
    except ArrayTransferError as exc:
        raise ConformanceFailure(expected_text, str(exc)) from None
    finally:
        sock.close()
    if received.shape != array.shape or received.dtype != array.dtype:
        raise ConformanceFailure(expected_text, f"a frame of {describe_frame(received)} came back")
    found = received[marks].tolist()
    nonzero = int(np.count_nonzero(received))
    if found != array[marks].tolist() or nonzero != len(marks):
        raise ConformanceFailure(
            expected_text, f"marks {found} where {array[marks].tolist()} were sent; {nonzero} non-zero bytes"
        )


def observe_malformed_header(endpoint: Endpoint) -> str:
    """header/1: what the server does with a header whose magic is wrong (recorded, not judged)."""
    sock = endpoint.connect()
    try:
        conversation = Conversation(sock, [MALFORMED_HEADER], None, shut_wr=True)
        converse([conversation], endpoint.deadline, stall_timeout=2.0)
    finally:
        sock.close()
    received = bytes(conversation.received)
    if received == MALFORMED_HEADER:
        what = "returned it unchanged (an echo server)"
    elif not received:
        what = "returned nothing"
    elif MALFORMED_HEADER.startswith(received):
        what = f"returned its first {len(received)} bytes"
    else:
        what = f"returned {len(received)} other bytes"
    ending = {"eof": "then closed", "reset": "then reset", "stalled": "and kept the connection open"}.get(
        conversation.ending.value if conversation.ending else "", f"({conversation.ending})"
    )
    return f"a {len(MALFORMED_HEADER)}-byte header with magic b'ARRZ', then FIN: the server {what}, {ending}"
