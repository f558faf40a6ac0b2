"""line-echo-tcp, section eof: the last line and the close (suites/line_echo_tcp/SPEC.md).

``for line in self.rfile`` yields the unterminated rest at EOF, then ends: the last partial
line is echoed when the client shuts down its sending side, and then the handler returns and
the connection closes. The checker is in harness/checks/echo.py.
"""

from harness.cases import case
from harness.checks import Endpoint
from harness.checks import echo
from harness.verdicts import MUST


@case(
    "line-echo-tcp/eof/1",
    level=MUST,
    requirement=(
        'SPEC.md §eof: "When the client shuts down its sending side, the server MUST echo the '
        'last line even if it has no LF, and then MUST close the connection."'
    ),
    expected="a last line without LF is echoed after the client's SHUT_WR, then an orderly close (EOF)",
)
def test_last_line_is_echoed_at_eof_then_closed(endpoint: Endpoint) -> None:
    echo.check_last_line_echoed_at_eof(endpoint)
