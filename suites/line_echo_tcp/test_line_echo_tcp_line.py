"""line-echo-tcp, section line: what a line is and when it is echoed (suites/line_echo_tcp/SPEC.md).

The service is the chapter's ``for line in self.rfile: self.wfile.write(line)`` made
bounded. A plain echo server passes every MUST here and only misses line/2 (it echoes a
partial line at once): a conforming line echo in all but timing, hence NON-STRICT, not
FAILED. The checkers are in harness/checks/echo.py.
"""

from harness.cases import case
from harness.checks import Endpoint
from harness.checks import echo
from harness.verdicts import MUST, SHOULD


@case(
    "line-echo-tcp/line/1",
    level=MUST,
    requirement=(
        'SPEC.md §line: "The server MUST echo a line as soon as its LF (0x0A) has arrived, '
        'without waiting for more data or for the end of the connection."'
    ),
    expected="b'one\\n' comes back without the client sending more or closing",
)
def test_line_is_echoed_when_its_lf_arrives(endpoint: Endpoint) -> None:
    echo.check_line_echoed_on_lf(endpoint)


@case(
    "line-echo-tcp/line/2",
    level=SHOULD,
    requirement=(
        'SPEC.md §line: "Except as allowed under "limit", the server SHOULD NOT send back any '
        "byte of a line before that line's LF has arrived.\""
    ),
    expected="nothing comes back within 0.5 s of b'partial'; b'partial\\n' once the LF is sent",
)
def test_partial_line_is_not_echoed_before_its_lf(endpoint: Endpoint) -> None:
    echo.check_partial_line_held(endpoint)


@case(
    "line-echo-tcp/line/3",
    level=MUST,
    requirement=(
        'SPEC.md §line: "When several lines arrive together, the server MUST echo all of them, '
        'byte-exact and in order."'
    ),
    expected="six lines sent in one segment all come back, byte-exact, in order",
)
def test_lines_in_one_segment_are_all_echoed(endpoint: Endpoint) -> None:
    echo.check_lines_in_one_segment(endpoint)


@case(
    "line-echo-tcp/line/4",
    level=MUST,
    requirement=(
        'SPEC.md §line: "How the client\'s data is divided into segments MUST NOT change what '
        'is echoed."'
    ),
    expected="lines sent one byte at a time or in random splits (hypothesis) come back byte-exact",
)
def test_lines_in_pieces_are_echoed(endpoint: Endpoint) -> None:
    echo.check_lines_in_pieces(endpoint)


@case(
    "line-echo-tcp/line/5",
    level=MUST,
    requirement=(
        'SPEC.md §line: "A line is any sequence of bytes other than LF, followed by LF; the '
        'server MUST echo its bytes unchanged (CR, NUL and bytes that are not UTF-8 included)."'
    ),
    expected=(
        "lines of arbitrary bytes but LF (hypothesis: CR, CRLF, NUL, invalid UTF-8) "
        "come back byte-exact"
    ),
)
def test_line_content_is_arbitrary_bytes(endpoint: Endpoint) -> None:
    echo.check_line_content_arbitrary(endpoint)
