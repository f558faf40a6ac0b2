"""array-tcp, section stream: frames returned as they arrive, in bounded memory (SPEC.md §stream).

A server that holds whole frames cannot carry a frame larger than its memory, and makes its
client hold a whole frame before it sees a byte; the chapter's recipe exists because arrays
are large. stream/1 is the direct test (part of a frame must come back while the rest is still
to come); stream/2 moves 1 GiB through one frame with the client reading while it sends;
stream/3 reads the server's memory from /proc while 1 GiB passes, which only a reference
runner's processes allow (against a --target it is recorded as not measured).
"""

from typing import Callable

from harness.cases import case
from harness.checks import Endpoint
from harness.checks import arrays
from harness.runners import STREAM, runners_for
from harness.verdicts import INFO, MUST, SHOULD


@case(
    "array-tcp/stream/1",
    level=MUST,
    requirement=(
        'SPEC.md §stream: "The server MUST return a frame\'s bytes as they arrive: it MUST NOT wait for '
        'the rest of a frame before returning the part that has arrived."'
    ),
    expected="of a frame declared 64 MiB long, the header and the first 1 MiB come back while the rest is unsent",
)
def test_a_frame_is_returned_before_it_has_fully_arrived(endpoint: Endpoint) -> None:
    arrays.check_returned_before_frame_complete(endpoint)


@case(
    "array-tcp/stream/2",
    level=MUST,
    requirement=(
        'SPEC.md §frame: "The server MUST return every frame it receives unchanged, byte for byte and '
        'in order, on the connection it arrived on."'
    ),
    expected="one frame of 1 GiB (2^27 <u8, each its own index), read while sent, returned element-exact",
)
def test_one_gib_in_one_frame_is_returned(endpoint: Endpoint) -> None:
    arrays.check_one_gib_frame(endpoint)


@case(
    "array-tcp/stream/3",
    level=INFO,
    level_for_runner={runner: SHOULD for runner in runners_for(STREAM)},
    requirement=(
        'SPEC.md §stream: "The server SHOULD hold a bounded amount of a frame, independent of the '
        'frame\'s size."'
    ),
    expected=(
        f"the server's Pss grows by less than {arrays.MEMORY_BOUND_BYTES >> 20} MiB while one 1 GiB frame "
        "passes through it (reference runners; a --target's memory is not ours to read)"
    ),
)
def test_memory_stays_bounded_during_a_one_gib_frame(
    endpoint: Endpoint, reference_server_pid: int | None, record_observation: Callable[[str], None]
) -> None:
    if reference_server_pid is None:
        record_observation("not measured: a --target server's processes are not known to the harness")
        return
    record_observation(arrays.check_memory_bounded_during_one_gib_frame(endpoint, reference_server_pid))
