"""time-tcp, RFC 868's TCP time service.

RFC 868, "TCP Based Time Service": "S: Listen on port 37 (45 octal). U: Connect to port 37.
S: Send the time as a 32 bit binary number. U: Receive the time. U: Close the connection.
S: Close the connection." and, above it, "When the connection is established, the server
returns a 32-bit time value and closes the connection."
"""


from harness.cases import case
from harness.checks import Endpoint
from harness.checks import timekeeping
from harness.verdicts import MUST, SHOULD

RFC_868_TCP = (
    'RFC 868: "When the connection is established, the server returns a 32-bit time value and '
    'closes the connection."'
)
RFC_868_VALUE = (
    'RFC 868: "The time is the number of seconds since 00:00 (midnight) 1 January 1900 GMT"'
)


@case("time-tcp/868/1", level=MUST, requirement=RFC_868_TCP, expected="4 bytes arrive without the client sending anything")
def test_time_is_sent_unasked(endpoint: Endpoint) -> None:
    timekeeping.check_tcp_reply_unasked(endpoint, "4 bytes sent on connect, unasked", minimum=4)


@case("time-tcp/868/2", level=MUST, requirement=RFC_868_TCP, expected="exactly 4 bytes, then the server's orderly close")
def test_server_closes_after_four_bytes(endpoint: Endpoint) -> None:
    timekeeping.check_tcp_closes_after_reply(endpoint, "exactly 4 bytes, then EOF", exact_length=4)


@case(
    "time-tcp/868/3",
    level=MUST,
    requirement=RFC_868_VALUE,
    expected="the 4 bytes, big-endian, count seconds since 1900 within --clock-tolerance of the local clock",
)
def test_time_value_is_seconds_since_1900(endpoint: Endpoint, clock_tolerance: float) -> None:
    timekeeping.check_tcp_time_value(
        endpoint, clock_tolerance, f"seconds since 1900 within {clock_tolerance:g} s of the local clock"
    )


@case(
    "time-tcp/concurrency/1",
    level=SHOULD,
    requirement=RFC_868_TCP + " (for each of several clients connecting at once)",
    expected="20 clients connected at once each get 4 bytes of time, then a close",
)
def test_concurrent_clients_each_get_the_time(endpoint: Endpoint, clock_tolerance: float) -> None:
    timekeeping.check_concurrent_tcp_replies(
        endpoint,
        lambda reply, arrived: timekeeping.judge_rfc868_value(reply, arrived, clock_tolerance),
        "each client gets the time",
    )
