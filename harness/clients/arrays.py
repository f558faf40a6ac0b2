"""Sending and receiving large arrays through a socket, without copying them: the recipe done right.

The chapter's recipe sends a numpy array by slicing a memoryview as the socket takes it and
receives into a preallocated buffer with ``recv_into``. Its code has the bugs the issue lists:
the receiver cannot know the dtype and shape (the caller must preallocate by guessing), a wait
can last forever, and nothing says what a frame past 2 GiB or 4 GiB does. Here:

- **A frame carries its dtype, order and shape** (the header of suites/array_tcp/SPEC.md,
  encoded by ``harness.protocols.arrays``), with a 64-bit byte length, so the receiver
  preallocates exactly and any size a machine can hold goes through.
- **No copy of the payload on either side.** A C- or Fortran-contiguous array goes out as
  memoryview slices of its own memory (a Fortran array with order ``F`` in its header, so the
  receiver allocates a Fortran array and the bytes land where they belong); the receiver
  allocates the array once and ``recv_into``\\ s slices of it. Only an array that is not
  contiguous at all (a strided view) is staged: numpy's buffered iterator copies it in C order
  through a bounded buffer (:data:`STAGING_BYTES`), never the whole payload at once.
- **Partial sends and receives are the normal case**: every ``send`` and ``recv_into`` is in a
  loop that advances by the count it returned.
- **Every wait has a deadline**: each blocking call is given ``min(stall_timeout,
  deadline.remaining())`` as its socket timeout, so a peer that stops reading or stops
  sending raises :class:`ArrayTimeoutError`, and a whole transfer is bounded by the deadline.
- **Echo-like peers need the two directions at once**: a client that sends a frame larger than
  both directions' socket buffers before reading deadlocks against a server that returns bytes
  as they arrive (it blocks writing what we do not read, so stops reading what we write).
  :func:`exchange_array` sends and receives in one non-blocking loop.

Any buffer is accepted: a numpy array, a bytearray, bytes, a memoryview (its format and shape
are kept), an mmap. The socket's own timeout is restored on return.
"""

from __future__ import annotations

import selectors
import socket
from typing import Any, Iterator

import numpy as np

from harness.checks.endpoint import Deadline
from harness.protocols.arrays import (
    FIXED_HEADER_BYTES,
    MAX_HEADER_BYTES,
    ArrayHeader,
    MalformedHeaderError,
    decode_header,
    fixed_part_error,
    header_size,
)
from harness.verdicts import describe_close, describe_reset, describe_timeout

# No byte moved for this long on a connection: the peer is not going to move it. Loopback
# moves gigabytes a second; 5 s of nothing is a wedged peer, not a slow one.
STALL_TIMEOUT_S = 5.0

# A strided (non-contiguous) array is copied through a buffer of at most this size: big enough
# that the per-send overhead is lost in the noise, small enough not to matter to memory.
STAGING_BYTES = 4 << 20

# Bytes asked of one send(): the kernel takes what fits anyway, and a bigger slice only costs a
# longer memoryview, not a copy. 4 MiB keeps each call's work (and its GIL release) coarse.
SEND_SLICE_BYTES = 4 << 20

# Bytes asked of one recv_into(): the same reasoning.
RECV_SLICE_BYTES = 4 << 20


class ArrayTransferError(Exception):
    """A frame did not go through; the message says what was observed instead."""


class ArrayClosedError(ArrayTransferError):
    """The peer closed the connection (EOF) before the frame was complete."""


class ArrayResetError(ArrayTransferError):
    """The peer reset the connection."""


class ArrayTimeoutError(ArrayTransferError, TimeoutError):
    """Nothing moved for the stall limit, or the deadline was spent."""


class MalformedFrameError(ArrayTransferError):
    """The peer sent a header that SPEC.md §header does not allow."""


# --- what goes out --------------------------------------------------------------------------


def as_array(buffer: Any) -> np.ndarray:
    """``buffer`` as a numpy array over the same memory (no copy).

    A numpy array is returned as is; anything with the buffer protocol (bytes, bytearray,
    mmap, memoryview, array.array) is viewed through a memoryview, which keeps its format and
    shape (a bytearray is ``|u1``, an ``array('d')`` is ``<f8``).

    Raises:
        TypeError: not a buffer.
    """
    if isinstance(buffer, np.ndarray):
        return buffer
    return np.asarray(memoryview(buffer))


def header_for(array: np.ndarray) -> ArrayHeader:
    """The frame header describing ``array`` as it will be sent.

    Raises:
        ValueError: a dtype a frame cannot carry (object, structured: their ``dtype.str`` does
            not describe them; view a structured array as ``V<itemsize>`` to send its bytes).
    """
    dtype = array.dtype
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None or dtype.itemsize == 0:
        raise ValueError(f"dtype {dtype} has no fixed, self-describing item layout; a frame cannot carry it")
    order = "F" if array.flags.f_contiguous and not array.flags.c_contiguous else "C"
    header = ArrayHeader(dtype.str, order, tuple(int(extent) for extent in array.shape), int(array.nbytes))
    try:
        header.encode()
    except MalformedHeaderError as exc:
        raise ValueError(f"array of dtype {dtype} and shape {array.shape}: {exc}") from None
    return header


def byte_view(array: np.ndarray) -> memoryview:
    """The bytes of a contiguous array, in its memory order, as a flat memoryview (no copy).

    Viewed as ``uint8`` first: the buffer protocol refuses datetime and timedelta dtypes, and a
    flat byte view is what ``send`` and ``recv_into`` want anyway.
    """
    order = "F" if array.flags.f_contiguous and not array.flags.c_contiguous else "C"
    return memoryview(array.reshape(-1, order=order).view(np.uint8))


def payload_pieces(array: np.ndarray) -> Iterator[memoryview]:
    """The payload as memoryviews: one over the array itself when it is contiguous (C or F),
    else C-order pieces of at most :data:`STAGING_BYTES`, each copied only when it is sent."""
    if array.flags.c_contiguous or array.flags.f_contiguous:
        if array.nbytes:
            yield byte_view(array)
        return
    elements = max(1, STAGING_BYTES // array.itemsize)
    iterator = np.nditer(
        array,
        flags=["external_loop", "buffered", "zerosize_ok", "refs_ok"],
        op_flags=[["readonly"]],
        order="C",
        buffersize=elements,
    )
    for chunk in iterator:
        yield byte_view(np.ascontiguousarray(chunk))


# --- waiting, bounded -----------------------------------------------------------------------


class _Waits:
    """Gives a socket the timeout of its next wait, and turns socket errors into ours.

    Resource handling: the socket's own timeout is restored by :meth:`restore`.
    """

    def __init__(self, sock: socket.socket, deadline: Deadline, stall_timeout: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self.stall_timeout = stall_timeout
        self.expected: int | None = None  # the frame's size, once its header has arrived
        self.received = 0
        self.sent = 0
        self.to_send = 0
        self._saved_timeout = sock.gettimeout()

    def arm(self) -> float:
        wait = self.deadline.cap(self.stall_timeout)
        if wait <= 0:
            raise ArrayTimeoutError(
                describe_timeout(self.deadline.budget_s, self.received, self.expected, why=self.deadline.spent_description())
            )
        self.sock.settimeout(wait)
        return wait

    def timed_out(self, wait: float, why: str) -> ArrayTimeoutError:
        return ArrayTimeoutError(describe_timeout(wait, self.received, self.expected, why=why))

    def restore(self) -> None:
        try:
            self.sock.settimeout(self._saved_timeout)
        except OSError:
            pass  # closed under us: nothing to restore


def _send_view(waits: _Waits, view: memoryview) -> None:
    offset = 0
    while offset < len(view):
        wait = waits.arm()
        try:
            # A slice of a memoryview: no copy. send() may take less than offered; loop.
            count = waits.sock.send(view[offset : offset + SEND_SLICE_BYTES])
        except TimeoutError:
            why = f"{waits.sent} of {waits.to_send} bytes sent; the peer stopped taking bytes"
            raise ArrayTimeoutError(describe_timeout(wait, 0, why=why)) from None
        except (BrokenPipeError, ConnectionResetError):
            raise ArrayResetError(f"reset (after {waits.sent} of {waits.to_send} bytes sent)") from None
        offset += count
        waits.sent += count


def send_array(
    sock: socket.socket, array: Any, *, deadline: Deadline, stall_timeout: float = STALL_TIMEOUT_S
) -> int:
    """Send one frame: ``array``'s header, then its bytes, each ``send`` advancing by its count.

    Args:
        sock: a connected stream socket (blocking or not; its timeout is restored on return).
        array: a numpy array or any buffer (see :func:`as_array`).
        deadline: bounds the whole call; each wait also by ``stall_timeout``.

    Returns:
        The frame's size in bytes (header and payload).

    Raises:
        ValueError: a dtype a frame cannot carry.
        ArrayTimeoutError: the peer stopped reading for ``stall_timeout``, or the deadline ran out.
        ArrayResetError: the peer reset the connection.
    """
    array = as_array(array)
    header = header_for(array).encode()
    waits = _Waits(sock, deadline, stall_timeout)
    waits.to_send = len(header) + array.nbytes
    try:
        _send_view(waits, memoryview(header))
        for piece in payload_pieces(array):
            _send_view(waits, piece)
    finally:
        waits.restore()
    return len(header) + array.nbytes


# --- what comes in --------------------------------------------------------------------------


class FrameReceiver:
    """The receiving half of one frame: where the next bytes go, and what they make.

    ``next_view()`` is the exact buffer the next ``recv_into`` fills (never more than the frame
    still lacks, so a following frame's bytes stay in the socket), ``advance(n)`` takes the
    count it returned. The header is gathered into a small bytearray; once it is complete and
    valid the array is allocated (``np.empty``, in the order the header names) and the payload
    lands in it directly.

    Args:
        max_bytes: refuse a frame whose payload is larger (None: any size; a 5 TiB header from
            a hostile peer then fails in ``np.empty`` with MemoryError).
    """

    def __init__(self, max_bytes: int | None = None) -> None:
        self._max_bytes = max_bytes
        self._header = bytearray(MAX_HEADER_BYTES)  # filled up to _header_size
        self._header_filled = 0
        self._header_size = FIXED_HEADER_BYTES
        self.header: ArrayHeader | None = None
        self.array: np.ndarray | None = None
        self._payload: memoryview | None = None
        self._payload_filled = 0
        self.received = 0

    @property
    def done(self) -> bool:
        return self.header is not None and self._payload_filled == self.header.length

    @property
    def expected(self) -> int | None:
        """The whole frame's size once its header is known."""
        return None if self.header is None else self._header_size + self.header.length

    def next_view(self) -> memoryview:
        if self.header is None:
            return memoryview(self._header)[self._header_filled : self._header_size]
        assert self._payload is not None
        return self._payload[self._payload_filled : self._payload_filled + RECV_SLICE_BYTES]

    def advance(self, count: int) -> None:
        self.received += count
        if self.header is not None:
            self._payload_filled += count
            return
        self._header_filled += count
        error = fixed_part_error(bytes(self._header[: self._header_filled]))
        if error is not None:
            raise MalformedFrameError(f"a malformed frame header ({error})")
        if self._header_filled == FIXED_HEADER_BYTES and self._header_size == FIXED_HEADER_BYTES:
            self._header_size = header_size(bytes(self._header))
        if self._header_filled == self._header_size:
            try:
                header = decode_header(bytes(self._header[: self._header_size]))
            except MalformedHeaderError as exc:
                raise MalformedFrameError(f"a malformed frame header ({exc})") from None
            self._allocate(header)

    def _allocate(self, header: ArrayHeader) -> None:
        if self._max_bytes is not None and header.length > self._max_bytes:
            raise MalformedFrameError(f"a frame of {header.length} bytes; at most {self._max_bytes} accepted")
        dtype = np.dtype(header.dtype)
        if dtype.itemsize != header.itemsize or dtype.str != header.dtype:
            raise MalformedFrameError(f"dtype {header.dtype!r} is not one numpy knows as such")
        # Allocated as bytes, then viewed: np.empty(shape, ">M8") would quietly make a generic
        # datetime native-endian, and the payload must land in exactly the declared layout.
        storage = np.empty(header.length, dtype=np.uint8)
        self.array = storage.view(dtype).reshape(header.shape, order=header.order)
        self._payload = memoryview(storage)
        self.header = header


def recv_array(
    sock: socket.socket,
    *,
    deadline: Deadline,
    stall_timeout: float = STALL_TIMEOUT_S,
    max_bytes: int | None = None,
) -> np.ndarray:
    """Receive one frame into a freshly allocated array, with ``recv_into`` and no copy.

    Args:
        sock: a connected stream socket (its timeout is restored on return).
        deadline: bounds the whole call; each wait also by ``stall_timeout``.
        max_bytes: the largest payload accepted (None: no limit).

    Returns:
        The array, of the dtype, shape and memory order the header declared.

    Raises:
        ArrayClosedError: EOF before the frame was complete (a frame's worth of nothing is
            fine: a 0-length array needs only its header).
        ArrayResetError, ArrayTimeoutError: as named.
        MalformedFrameError: a header SPEC.md does not allow, or larger than ``max_bytes``.
    """
    receiver = FrameReceiver(max_bytes)
    waits = _Waits(sock, deadline, stall_timeout)
    try:
        while not receiver.done:
            view = receiver.next_view()
            wait = waits.arm()
            try:
                count = sock.recv_into(view, len(view))
            except TimeoutError:
                raise waits.timed_out(wait, "the peer stopped sending mid-frame") from None
            except ConnectionResetError:
                raise ArrayResetError(describe_reset(receiver.received, receiver.expected)) from None
            if count == 0:
                raise ArrayClosedError(describe_close(receiver.received, receiver.expected))
            receiver.advance(count)
            waits.received, waits.expected = receiver.received, receiver.expected
    finally:
        waits.restore()
    assert receiver.array is not None
    return receiver.array


# --- both at once ---------------------------------------------------------------------------


def exchange_array(
    sock: socket.socket,
    array: Any,
    *,
    deadline: Deadline,
    stall_timeout: float = STALL_TIMEOUT_S,
    max_bytes: int | None = None,
) -> np.ndarray:
    """Send one frame and receive one frame, both at once: a round trip through array-tcp.

    For a peer that returns bytes as they arrive (an array-tcp or echo server), a frame
    larger than the socket buffers must be read while it is written; this interleaves the two
    in one non-blocking loop, with the same no-copy paths as :func:`send_array` and
    :func:`recv_array`.

    Returns:
        The frame received.

    Raises:
        as :func:`send_array` and :func:`recv_array`.
    """
    frames = exchange_arrays(sock, [array], deadline=deadline, stall_timeout=stall_timeout, max_bytes=max_bytes)
    return frames[0]


def exchange_arrays(
    sock: socket.socket,
    arrays: list[Any],
    *,
    deadline: Deadline,
    stall_timeout: float = STALL_TIMEOUT_S,
    max_bytes: int | None = None,
) -> list[np.ndarray]:
    """Send frames back to back while receiving as many frames; return those received.

    Args:
        sock: a connected stream socket; it is non-blocking during the call, then its
            timeout is restored.
        arrays: numpy arrays or buffers, sent in order with no pause between frames.
        deadline: bounds the whole call; ``stall_timeout`` bounds any stretch with no progress.
        max_bytes: the largest payload accepted per frame.

    Returns:
        As many arrays as were sent, in the order received.

    Raises:
        as :func:`send_array` and :func:`recv_array`; the error's ``frames_received`` says how
        many frames had come back whole before it.
    """
    outgoing = _outgoing_views([as_array(array) for array in arrays])
    sending: memoryview | None = next(outgoing, None)
    received: list[np.ndarray] = []
    receiver = FrameReceiver(max_bytes)
    total_received = 0
    saved_timeout = sock.gettimeout()
    sock.setblocking(False)
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
            writing = True
            while len(received) < len(arrays):
                if writing and sending is None:
                    selector.modify(sock, selectors.EVENT_READ)
                    writing = False
                wait = deadline.cap(stall_timeout)
                if wait <= 0:
                    raise ArrayTimeoutError(
                        describe_timeout(deadline.budget_s, total_received, None, why=deadline.spent_description())
                    )
                holds_input = _holds_input(sock)  # a TLS connection's plaintext: no select needed
                events = selector.select(0 if holds_input else wait)
                if not events and not holds_input:
                    if deadline.spent:
                        why = deadline.spent_description()
                        wait = deadline.budget_s
                    elif sending is not None:
                        why = "the peer stopped taking bytes; nothing moved"
                    else:
                        why = "the peer stopped sending; nothing moved"
                    raise ArrayTimeoutError(describe_timeout(wait, total_received, None, why=why))
                mask = (events[0][1] if events else 0) | (selectors.EVENT_READ if holds_input else 0)
                if mask & selectors.EVENT_WRITE and sending is not None:
                    try:
                        sent = sock.send(sending[:SEND_SLICE_BYTES])
                    except BlockingIOError:
                        sent = 0
                    except (BrokenPipeError, ConnectionResetError):
                        raise ArrayResetError(describe_reset(total_received) + " while sending") from None
                    sending = sending[sent:]
                    if not sending:
                        sending = next(outgoing, None)
                if mask & selectors.EVENT_READ:
                    view = receiver.next_view()
                    try:
                        count = sock.recv_into(view, len(view))
                    except BlockingIOError:
                        continue
                    except ConnectionResetError:
                        raise ArrayResetError(describe_reset(total_received)) from None
                    if count == 0:
                        raise ArrayClosedError(describe_close(total_received))
                    receiver.advance(count)
                    total_received += count
                    if receiver.done:
                        assert receiver.array is not None
                        received.append(receiver.array)
                        receiver = FrameReceiver(max_bytes)
    except ArrayTransferError as exc:
        exc.frames_received = len(received)  # type: ignore[attr-defined]
        raise
    finally:
        try:
            sock.settimeout(saved_timeout)
        except OSError:
            pass  # closed under us: nothing to restore
    return received


def _holds_input(sock: Any) -> bool:
    """True when ``sock`` holds input its file descriptor will not announce again: plaintext
    in a TLS connection (``ssl.SSLSocket.pending``, ``TlsClientConnection.pending``). A plain
    socket has no such method and never does."""
    pending = getattr(sock, "pending", None)
    return bool(pending is not None and pending())


def _outgoing_views(arrays: list[np.ndarray]) -> Iterator[memoryview]:
    for array in arrays:
        yield memoryview(header_for(array).encode())
        yield from payload_pieces(array)


def every_fixed_itemsize_dtype() -> list[np.dtype]:
    """Every numpy dtype of fixed item size a frame can carry, in both byte orders where they differ.

    numpy's type codes (``np.typecodes["All"]``) but object; the flexible kinds with a size
    (``S7``, ``U3``, ``V16``); datetime and timedelta generic and with two units.
    """
    dtypes: list[np.dtype] = []
    for code in np.typecodes["All"]:
        if code == "O":
            continue
        if code in "SUV":
            dtypes.append(np.dtype(f"{code}{ {'S': 7, 'U': 3, 'V': 16}[code]}"))
        elif code in "Mm":
            dtypes.extend(np.dtype(f"{code}8{unit}") for unit in ("", "[ns]", "[D]"))
        else:
            dtypes.append(np.dtype(code))
    with_swapped = []
    for dtype in dtypes:
        with_swapped.append(dtype)
        if dtype.byteorder not in "|" and dtype.itemsize > 1 and dtype.kind != "V":
            with_swapped.append(dtype.newbyteorder())
    unique: dict[str, np.dtype] = {}
    for dtype in with_swapped:
        unique.setdefault(dtype.str, dtype)
    return list(unique.values())
