"""array-tcp, section large: frames past 2^31 and 2^32 bytes (suites/array_tcp/SPEC.md §frame).

Run only with ``--large`` (suites/array_tcp/conftest.py deselects them otherwise): each moves
its size through the server and back, about 2 GiB and 4 GiB, and holds the returned frame in
the client's memory (the sent one is calloc'd zeros with a few marks, which cost no memory).
Give them time: ``--case-timeout 300``. frame/6 tests the 64-bit length without --large.
"""

import pytest

from harness.cases import case
from harness.checks import Endpoint
from harness.checks import arrays
from harness.verdicts import MUST

LENGTH_IS_64_BITS = (
    'SPEC.md §frame: "The length field is 64 bits: the server MUST return frames whose payload is '
    '2^31 bytes or more, and 2^32 bytes or more, unchanged."'
)

pytestmark = [pytest.mark.slow, pytest.mark.large_frames]


@case(
    "array-tcp/large/1",
    level=MUST,
    requirement=LENGTH_IS_64_BITS,
    expected="one frame of 2^31 + 1 bytes (past the signed 32-bit limit) returned exact",
)
def test_a_frame_past_2_gib_is_returned(endpoint: Endpoint) -> None:
    arrays.check_large_frame(endpoint, arrays.LARGE_SIZES["2^31"])


@case(
    "array-tcp/large/2",
    level=MUST,
    requirement=LENGTH_IS_64_BITS,
    expected="one frame of 2^32 + 1 bytes (past the unsigned 32-bit limit) returned exact",
)
def test_a_frame_past_4_gib_is_returned(endpoint: Endpoint) -> None:
    arrays.check_large_frame(endpoint, arrays.LARGE_SIZES["2^32"])
