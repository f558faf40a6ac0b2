"""echo-tcp, section concurrency: several clients at once (suites/echo_tcp/SPEC.md).

RFC 862 says nothing about several clients; SPEC.md makes concurrency a SHOULD. The
one-client-at-a-time reference runners ``raw`` and ``single`` cannot meet it by design, so
against them these cases are INFO: what happened is recorded (typically "1 of 20 clients got
their own bytes back; client 2 of 20: timeout …"), not judged. Each case waits a bounded
few seconds for the others, so a serial server costs seconds, not the idle timeout.
"""

from harness.cases import case, on_one_client_at_a_time_runners
from harness.checks import Endpoint
from harness.checks import echo
from harness.verdicts import INFO, SHOULD

# One client at a time by design (their registry traits): observed, not judged.
SERIAL_RUNNERS = on_one_client_at_a_time_runners(INFO)


@case(
    "echo-tcp/concurrency/1",
    level=SHOULD,
    level_for_runner=SERIAL_RUNNERS,
    requirement=(
        'SPEC.md §concurrency: "The server SHOULD serve clients concurrently: each of several '
        "clients connected at the same time SHOULD get its own data back without waiting for "
        'the others to disconnect."'
    ),
    expected="20 clients, all connected before any sends, each get their own bytes back",
)
def test_twenty_concurrent_clients_are_echoed(endpoint: Endpoint) -> None:
    echo.check_concurrent_clients(endpoint)


@case(
    "echo-tcp/concurrency/2",
    level=SHOULD,
    level_for_runner=SERIAL_RUNNERS,
    requirement=(
        'SPEC.md §concurrency: "A client that is connected but sends nothing SHOULD NOT delay '
        'the echo of another client."'
    ),
    expected="with one client connected and idle, a second client's echo arrives within 5 s",
)
def test_idle_client_does_not_block_another(endpoint: Endpoint) -> None:
    echo.check_idle_client_does_not_block_others(endpoint)
