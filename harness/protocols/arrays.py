"""array-tcp: the frame of suites/array_tcp/SPEC.md, and the reference server that returns frames.

The chapter's last recipe sends a numpy array through a socket without copying it: the sender
hands the kernel slices of a memoryview, the receiver fills a preallocated array with
``recv_into``. For the receiver to preallocate it must know the dtype and shape first, so a
frame is a small header (dtype, order, shape, byte length) followed by the raw bytes. The
normative text is suites/array_tcp/SPEC.md; this module is its codec, shared by the reference
server (:class:`ArrayRelayProtocol`) and the client helpers (``harness.clients.arrays``), and
it needs no numpy: the dtype grammar gives the item size, so a server can check a header's
length without knowing what a float is.

Theory of operation of the server. SPEC: "The server returns every frame it receives
unchanged", so the reply is byte-identical to the request and any RFC 862 echo server is an
array-tcp server. The reference server *streams*: a header is held only until it is complete
and valid (at most :data:`MAX_HEADER_BYTES`), then it and the payload bytes are queued for
output as they arrive, as memoryview slices of the memory they were read into (no copy).
Input is paused while :data:`HIGH_WATER_BYTES` are unsent, so what the server holds is
bounded by that plus one read, whatever the frame's size (a 4 GiB frame costs what a 4 KiB
one does). A malformed header ends the connection (SPEC: "a server MAY close the
connection"): the frames before it are returned, nothing of the bad header is.

Input into a ring. The relay lends the runner its own memory
(``harness.protocols.base.BufferedStreamProtocol``): one ring of :data:`RING_BYTES`, read into
with ``recv_into`` (or decrypted into by the TLS layer), whose payload bytes leave as slices of
the ring. So a frame's bytes go from the kernel into the ring and from the ring to the kernel,
with no ``bytes`` object per read and no copy in between (headers, at most 304 bytes, are the
one thing copied). Which part of the ring is free needs no bookkeeping per chunk, because the
relay's output *is* its input: the bytes still needed are the most recent ones read, as many
as are unsent (queued, plus the chunk pulled last, which base.py's contract keeps alive until
the next pull, plus a header being gathered); the ring's next read goes after them, where
the oldest bytes, already sent, were. ``data_received`` (a runner that reads ``bytes``) keeps
working: those chunks are queued as they are, and counted as if they were in the ring.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from math import prod

from harness.protocols.base import Chunk, ConnectionContext, OutputQueue

# SPEC §header: the magic, "ARRY", and the version this codec speaks.
MAGIC = b"ARRY"
VERSION = 1

# SPEC §header: magic (4), version (1), order (1), ndim (1), dtype length (1), byte length (8,
# unsigned, big-endian), then the dtype text and ndim 8-byte big-endian extents.
FIXED_HEADER = struct.Struct("!4sBcBBQ")
FIXED_HEADER_BYTES = FIXED_HEADER.size  # 16
EXTENT = struct.Struct("!Q")

# SPEC §header: numpy's own limit on dimensions (NPY_MAXDIMS is 32 in numpy 1.x; 2.x allows 64,
# but no array a socket carries needs more than 32).
MAX_NDIM = 32
# SPEC §header: the longest dtype text ("<M8[ns]" is 7; room for any unit and item size).
MAX_DTYPE_BYTES = 32
MAX_HEADER_BYTES = FIXED_HEADER_BYTES + MAX_DTYPE_BYTES + MAX_NDIM * EXTENT.size  # 304

# SPEC §header: byte length and every extent are unsigned 64-bit.
MAX_LENGTH = 2**64 - 1

ORDERS = (b"C", b"F")

# SPEC §dtype: a byte order, a kind, a count, and for datetimes and timedeltas an optional
# unit. This is numpy's ``dtype.str`` for every dtype of fixed item size but structured ones.
DTYPE_PATTERN = re.compile(rb"^(?P<order>[<>|])(?P<kind>[biufcmMSUV])(?P<count>[1-9][0-9]*)(?P<unit>\[[0-9A-Za-z]+\])?$")

# Input is paused while this much output is unsent: 1 MiB (the echo protocol's bound, for the
# same reason: the kernel's window absorbs a fast sender). One read may pass it; the next waits.
HIGH_WATER_BYTES = 1 << 20

# The most one read into the ring asks for, and so the largest slice queued per read: 2 MiB.
# Each read and each send costs a system call and a pass through the runner's loop, which is
# what a Python relay adds to the kernel's copies. Measured 1 GiB each way at 1 MiB writes, server on its own core,
# interleaved, 5 transfers each: 256 KiB -> 1 MiB reads, threading 17.5 -> 18.4 Gbit/s and
# uvloop 18.4 -> 18.9 (Python client); 1 MiB -> 2 MiB, threading 19.1 -> 19.9, uvloop 19.4 ->
# 19.9, selectors 19.3 -> 19.6, single 19.3 -> 20.0, asyncio 19.1 -> 19.8, fd-passing level
# (C client); 4 MiB gained no more. At 64 KiB writes the same either way.
RING_READ_BYTES = 2 << 20

# The receive ring: the high-water mark plus room for the chunk a runner holds between two
# pulls (at most one read: the reference runners' SEND_BYTES is the same 2 MiB), so that a
# relay below the mark always has room to read into.
RING_BYTES = HIGH_WATER_BYTES + RING_READ_BYTES

# Input is also paused while less than this is free in the ring: reads smaller than a page
# would cost a call each for little.
RING_MIN_READ_BYTES = 4096


class MalformedHeaderError(ValueError):
    """The peer sent a frame header that SPEC.md §header does not allow; the message says why."""


@dataclass(frozen=True)
class ArrayHeader:
    """A frame header, decoded.

    Attributes:
        dtype: numpy's ``dtype.str`` (``"<f8"``, ``"|b1"``, ``"<M8[ns]"``), ASCII.
        order: ``"C"`` (row-major) or ``"F"`` (column-major): how the payload's bytes are laid out.
        shape: the extents, one per dimension (``()`` for a 0-d array).
        length: the payload's size in bytes (``prod(shape) * itemsize``).
    """

    dtype: str
    order: str
    shape: tuple[int, ...]
    length: int

    @property
    def itemsize(self) -> int:
        return dtype_itemsize(self.dtype.encode("ascii"))

    def encode(self) -> bytes:
        """The header's bytes (SPEC §header), validated first.

        Raises:
            MalformedHeaderError: the header could not be decoded by a conforming peer.
        """
        dtype = self.dtype.encode("ascii")
        validate_fields(self.order.encode("ascii"), len(self.shape), dtype, self.shape, self.length)
        header = FIXED_HEADER.pack(MAGIC, VERSION, self.order.encode("ascii"), len(self.shape), len(dtype), self.length)
        return header + dtype + b"".join(EXTENT.pack(extent) for extent in self.shape)


def dtype_itemsize(dtype: bytes) -> int:
    """The item size a dtype text declares (SPEC §dtype: the count; four times it for ``U``).

    Raises:
        MalformedHeaderError: not the grammar's, or a unit on a kind other than m/M.
    """
    match = DTYPE_PATTERN.match(dtype)
    if match is None:
        raise MalformedHeaderError(f"dtype {dtype!r} is not <order><kind><count>[unit] (SPEC §dtype)")
    kind = match.group("kind")
    if match.group("unit") and kind not in b"mM":
        raise MalformedHeaderError(f"dtype {dtype!r}: only datetime (M) and timedelta (m) take a unit")
    count = int(match.group("count"))
    # SPEC §dtype: "U<n> holds n UCS-4 code points: 4n bytes."
    return 4 * count if kind == b"U" else count


def validate_fields(order: bytes, ndim: int, dtype: bytes, shape: tuple[int, ...], length: int) -> None:
    """Check the rules of SPEC §header that tie the fields together.

    Raises:
        MalformedHeaderError: the first rule broken, named.
    """
    if order not in ORDERS:
        raise MalformedHeaderError(f"order {order!r} is neither C nor F")
    if ndim > MAX_NDIM:
        raise MalformedHeaderError(f"{ndim} dimensions; at most {MAX_NDIM}")
    if not 1 <= len(dtype) <= MAX_DTYPE_BYTES:
        raise MalformedHeaderError(f"a dtype of {len(dtype)} bytes; 1 to {MAX_DTYPE_BYTES}")
    itemsize = dtype_itemsize(dtype)
    if not 0 <= length <= MAX_LENGTH or any(extent > MAX_LENGTH or extent < 0 for extent in shape):
        raise MalformedHeaderError(f"length {length}, shape {shape}: each is an unsigned 64-bit number")
    # SPEC §header: "length MUST equal the product of the extents times the item size".
    declared = prod(shape) * itemsize
    if declared != length:
        raise MalformedHeaderError(
            f"length {length} but shape {shape} of {dtype.decode('ascii', 'replace')} is {declared} bytes"
        )


def fixed_part_error(prefix: bytes) -> str | None:
    """Why the first bytes of a header cannot start a valid one, or None while they still can.

    Checked as bytes arrive, so a peer that is not speaking array-tcp at all is turned away at
    its first wrong byte rather than after 16.
    """
    if not MAGIC.startswith(prefix[: len(MAGIC)]):
        return f"magic {bytes(prefix[:len(MAGIC)])!r}, not {MAGIC!r}"
    if len(prefix) > 4 and prefix[4] != VERSION:
        return f"version {prefix[4]}, not {VERSION}"
    if len(prefix) > 5 and prefix[5:6] not in ORDERS:
        return f"order {bytes(prefix[5:6])!r} is neither C nor F"
    if len(prefix) > 6 and prefix[6] > MAX_NDIM:
        return f"{prefix[6]} dimensions; at most {MAX_NDIM}"
    if len(prefix) > 7 and not 1 <= prefix[7] <= MAX_DTYPE_BYTES:
        return f"a dtype of {prefix[7]} bytes; 1 to {MAX_DTYPE_BYTES}"
    return None


def header_size(fixed: bytes) -> int:
    """The whole header's size from its first 16 bytes (which :func:`fixed_part_error` passed)."""
    _, _, _, ndim, dtype_bytes, _ = FIXED_HEADER.unpack(fixed[:FIXED_HEADER_BYTES])
    return FIXED_HEADER_BYTES + dtype_bytes + ndim * EXTENT.size


def decode_header(data: bytes) -> ArrayHeader:
    """Decode one complete header (exactly :func:`header_size` bytes).

    Raises:
        MalformedHeaderError: any rule of SPEC §header broken.
    """
    error = fixed_part_error(data[:FIXED_HEADER_BYTES])
    if error is not None:
        raise MalformedHeaderError(error)
    if len(data) < FIXED_HEADER_BYTES or len(data) != header_size(data):
        raise MalformedHeaderError(f"a header of {len(data)} bytes where its fields declare another size")
    _, _, order, ndim, dtype_bytes, length = FIXED_HEADER.unpack(data[:FIXED_HEADER_BYTES])
    dtype = bytes(data[FIXED_HEADER_BYTES : FIXED_HEADER_BYTES + dtype_bytes])
    offset = FIXED_HEADER_BYTES + dtype_bytes
    shape = tuple(EXTENT.unpack_from(data, offset + index * EXTENT.size)[0] for index in range(ndim))
    validate_fields(order, ndim, dtype, shape, length)
    return ArrayHeader(dtype.decode("ascii"), order.decode("ascii"), shape, length)


class ArrayRelayProtocol:
    """array-tcp: every frame returned unchanged, streamed, its header validated on the way.

    Holds at most one header (:data:`MAX_HEADER_BYTES`) plus :data:`HIGH_WATER_BYTES` of unsent
    output plus one read, whatever the frames' sizes; a runner that reads into buffers reads
    into its ring of :data:`RING_BYTES` (allocated on the first read into it).
    """

    def __init__(self) -> None:
        self._ring: memoryview | None = None
        self._filled = 0  # bytes ever read into the ring: the next read goes at this, modulo
        self._pulled_last = 0  # the size of the last chunk pulled: kept until the next pull
        self._output = OutputQueue()
        self._header = bytearray()  # a header being gathered
        self._header_size = FIXED_HEADER_BYTES  # what it will be, once its fixed part is known
        self._payload_left = 0  # bytes of the current frame's payload still to pass through
        self._peer_done = False
        self._refused = False  # a malformed header arrived: nothing more is read or returned
        self.refusal: str | None = None  # why, for logs and tests

    @property
    def wants_input(self) -> bool:
        return (
            not self._refused
            and self._output.pending_bytes < HIGH_WATER_BYTES
            and RING_BYTES - self._ring_in_use() >= RING_MIN_READ_BYTES
        )

    def _ring_in_use(self) -> int:
        """Bytes at the ring's end not to be overwritten: unsent output, the chunk pulled last,
        the header being gathered. (Each byte of output is a byte of input, in order, so these
        are the most recent bytes read; chunks from ``data_received`` count too, which only
        overstates it.)"""
        return len(self._header) + self._output.pending_bytes + self._pulled_last

    @property
    def wants_close(self) -> bool:
        # SPEC §close: after the client's FIN, what arrived is returned and the server closes.
        return self._peer_done or self._refused

    def connection_made(self, context: ConnectionContext) -> None:
        pass

    def get_buffer(self, size_hint: int) -> memoryview:
        """The ring's free space after the bytes still in use, up to its end (one read's worth)."""
        if self._ring is None:
            self._ring = memoryview(bytearray(RING_BYTES))
        start = self._filled % RING_BYTES
        free = RING_BYTES - self._ring_in_use()
        return self._ring[start : start + min(RING_BYTES - start, free, RING_READ_BYTES)]

    def buffer_updated(self, nbytes: int) -> None:
        assert self._ring is not None, "get_buffer comes first"
        start = self._filled % RING_BYTES
        self._filled += nbytes
        self._take(self._ring[start : start + nbytes])

    def data_received(self, data: bytes) -> None:
        self._take(memoryview(data))

    def _take(self, view: memoryview) -> None:
        """Pass ``view``'s bytes on: payload as slices of it, header bytes gathered (copied)."""
        if self._refused:
            return
        while view and not self._refused:
            if self._payload_left:
                # SPEC §stream: payload bytes are returned as they arrive (a slice, not a copy).
                piece = view[: self._payload_left]
                self._output.append(piece)
                self._payload_left -= len(piece)
                view = view[len(piece) :]
            else:
                view = self._gather_header(view)

    def _gather_header(self, view: memoryview) -> memoryview:
        """Take header bytes from ``view``; return what is left of it after the header."""
        wanted = self._header_size - len(self._header)
        self._header += view[:wanted]
        view = view[wanted:]
        error = fixed_part_error(self._header)
        if error is None and len(self._header) >= FIXED_HEADER_BYTES and self._header_size == FIXED_HEADER_BYTES:
            self._header_size = header_size(self._header)
            if self._header_size > FIXED_HEADER_BYTES:
                return view  # the loop comes back for the dtype and the extents
        if error is None and len(self._header) == self._header_size:
            try:
                header = decode_header(bytes(self._header))
            except MalformedHeaderError as exc:
                error = str(exc)
            else:
                self._output.append(bytes(self._header))
                self._payload_left = header.length
                self._header.clear()
                self._header_size = FIXED_HEADER_BYTES
        if error is not None:
            # SPEC §header: "On a malformed header the server MAY close the connection."
            self._refused = True
            self.refusal = error
            self._header.clear()
        return view

    def eof_received(self) -> None:
        # SPEC §close: a frame cut short by the client's FIN is returned as far as it came,
        # a partial header included (RFC 862: "any data received is sent back").
        if not self._refused:
            self._output.append(bytes(self._header))
            self._header.clear()
        self._peer_done = True

    def pull_output(self, max_bytes: int) -> Chunk:
        chunk = self._output.pull(max_bytes)
        self._pulled_last = len(chunk)  # the one before it has been sent: its ring bytes are free
        return chunk

    def connection_lost(self) -> None:
        pass
