"""line-echo-tcp, section limit: long lines (suites/line_echo_tcp/SPEC.md).

A server MAY echo a line longer than 64 KiB in 64 KiB pieces before its LF arrives (the
reference protocol does, so that one endless line cannot exhaust it). Servers differ here
legitimately, so the case is INFO: it records what came back and when, and is not judged.
"""

from typing import Callable

from harness.cases import case
from harness.checks import Endpoint
from harness.checks import echo
from harness.verdicts import INFO


@case(
    "line-echo-tcp/limit/1",
    level=INFO,
    requirement=(
        'SPEC.md §limit: "A server MAY bound the length of a line it holds: a line longer than '
        '64 KiB MAY be echoed in pieces of 64 KiB before its LF arrives."'
    ),
    expected="recorded: what comes back of a 200 KiB line with no LF, before and after SHUT_WR",
)
def test_long_line_without_lf(endpoint: Endpoint, record_observation: Callable[[str], None]) -> None:
    record_observation(echo.observe_long_line(endpoint))
