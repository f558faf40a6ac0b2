"""array-tcp, section header: a malformed header (suites/array_tcp/SPEC.md §header).

"On a malformed header the server MAY close the connection": an echo server returns it, the
reference server closes without returning it. Both conform, so the case records, not judges.
"""

from typing import Callable

from harness.cases import case
from harness.checks import Endpoint
from harness.checks import arrays
from harness.verdicts import INFO


@case(
    "array-tcp/header/1",
    level=INFO,
    requirement=(
        'SPEC.md §header: "On a malformed header the server MAY close the connection; it MUST NOT '
        'return anything that it did not receive."'
    ),
    expected="recorded: what comes back of a header whose magic is b'ARRZ', and how the connection ends",
)
def test_a_malformed_header(endpoint: Endpoint, record_observation: Callable[[str], None]) -> None:
    record_observation(arrays.observe_malformed_header(endpoint))
