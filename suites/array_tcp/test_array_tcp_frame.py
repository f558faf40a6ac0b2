"""array-tcp, section frame: every frame returned unchanged (suites/array_tcp/SPEC.md §frame).

Frames go through the reference helpers (``harness.clients.arrays``), which send and read at
once, so a server that returns bytes as they arrive never deadlocks us. Each case checks the
frames element-exact: dtype with its byte order, shape, memory order, every bit. An RFC 862
echo server passes every case here; a server that parses frames passes only if it parses
them right (64-bit lengths, big-endian extents, every last byte of a payload). The checkers
are in harness/checks/arrays.py.
"""

from harness.cases import case
from harness.checks import Endpoint
from harness.checks import arrays
from harness.verdicts import MUST

RETURNED_UNCHANGED = (
    'SPEC.md §frame: "The server MUST return every frame it receives unchanged, byte for byte and '
    'in order, on the connection it arrived on."'
)


@case(
    "array-tcp/frame/1",
    level=MUST,
    requirement=RETURNED_UNCHANGED,
    expected="one <f8 frame of shape (64, 1000) (512,000 bytes) returned element-exact",
)
def test_one_frame_is_returned(endpoint: Endpoint) -> None:
    arrays.check_one_frame_returned(endpoint)


@case(
    "array-tcp/frame/2",
    level=MUST,
    requirement=RETURNED_UNCHANGED,
    expected=(
        "a 5 x 7 frame of every fixed-itemsize dtype (bool, ints, uints, floats to f16, complex to "
        "c32, S7, U3, V16, datetime64 and timedelta64 generic/[ns]/[D]; both byte orders) returned "
        "element-exact, one after another on one connection"
    ),
)
def test_every_dtype_is_returned(endpoint: Endpoint) -> None:
    arrays.check_every_dtype_returned(endpoint)


@case(
    "array-tcp/frame/3",
    level=MUST,
    requirement=RETURNED_UNCHANGED,
    expected="0-length (0,) and (3, 0, 2), 1-element (1,), 0-d () frames returned exact",
)
def test_empty_single_and_zero_d_arrays_are_returned(endpoint: Endpoint) -> None:
    arrays.check_empty_and_single_arrays_returned(endpoint)


@case(
    "array-tcp/frame/4",
    level=MUST,
    requirement=RETURNED_UNCHANGED,
    expected=(
        "Fortran-order arrays (order F, sent without a copy) and strided views (sent in C order) "
        "returned element-equal, the Fortran ones as Fortran arrays"
    ),
)
def test_strided_and_fortran_arrays_are_returned(endpoint: Endpoint) -> None:
    arrays.check_strided_and_fortran_arrays_returned(endpoint)


@case(
    "array-tcp/frame/5",
    level=MUST,
    requirement=RETURNED_UNCHANGED,
    expected="14 frames of 0 B to 16 MiB (about 49 MiB) sent back to back while reading, all returned exact, in order",
)
def test_frames_back_to_back_are_returned(endpoint: Endpoint) -> None:
    arrays.check_frames_back_to_back(endpoint)


@case(
    "array-tcp/frame/6",
    level=MUST,
    requirement=(
        'SPEC.md §frame: "The length field is 64 bits: the server MUST return frames whose payload is '
        '2^31 bytes or more, and 2^32 bytes or more, unchanged."'
    ),
    expected=(
        "of a frame declared 2^32 + 2^20 bytes long, the header and the first 8 MiB of payload returned "
        "as they are sent (a 32-bit length would read 1 MiB and take the rest for a header)"
    ),
)
def test_a_length_past_32_bits_is_honoured(endpoint: Endpoint) -> None:
    arrays.check_length_beyond_32_bits(endpoint)
