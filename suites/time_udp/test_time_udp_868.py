"""time-udp, RFC 868's UDP time service.

RFC 868, "UDP Based Time Service": "The server listens for a datagram on port 37. When a
datagram arrives, the server returns a datagram containing the 32-bit time value. If the
server is unable to determine the time at its site, it should discard the arriving datagram
and make no reply." And: "The time is the number of seconds since 00:00 (midnight) 1 January
1900 GMT". "A datagram arrives" is any datagram, the empty one included (the chapter's client
sends b''). The value is judged against the local clock within ``--clock-tolerance``.
"""

import time
from typing import Callable

from harness.cases import case
from harness.checks import Endpoint
from harness.checks import datagram, timekeeping
from harness.verdicts import INFO, MUST, SHOULD

RFC_868_UDP = (
    'RFC 868: "When a datagram arrives, the server returns a datagram containing the 32-bit '
    'time value."'
)
RFC_868_VALUE = (
    'RFC 868: "The time is the number of seconds since 00:00 (midnight) 1 January 1900 GMT, '
    'such that the time 1 is 12:01:01 am on 1 January 1900 GMT"'
)


def four_bytes(reply: bytes) -> str | None:
    return None if len(reply) == 4 else f"a reply of {len(reply)} bytes: {reply[:24].hex(' ')}"


@case("time-udp/868/1", level=MUST, requirement=RFC_868_UDP, expected="an empty datagram gets a reply of exactly 4 bytes")
def test_empty_datagram_gets_four_bytes(endpoint: Endpoint) -> None:
    timekeeping.check_datagram_answered(endpoint, b"", four_bytes, "a 4-byte reply to an empty datagram")


@case("time-udp/868/2", level=MUST, requirement=RFC_868_UDP, expected="a non-empty datagram gets a reply of exactly 4 bytes")
def test_non_empty_datagram_gets_four_bytes(endpoint: Endpoint) -> None:
    timekeeping.check_datagram_answered(
        endpoint, timekeeping.NON_EMPTY_REQUEST, four_bytes, "a 4-byte reply to a non-empty datagram"
    )


@case(
    "time-udp/868/3",
    level=MUST,
    requirement=RFC_868_VALUE,
    expected="the 4 bytes, big-endian, count seconds since 1900 within --clock-tolerance of the local clock",
)
def test_time_value_is_seconds_since_1900(endpoint: Endpoint, clock_tolerance: float) -> None:
    expected = f"seconds since 1900 within {clock_tolerance:g} s of the local clock"
    timekeeping.check_datagram_answered(
        endpoint,
        timekeeping.NON_EMPTY_REQUEST,
        lambda reply: timekeeping.judge_rfc868_value(reply, time.time(), clock_tolerance),
        expected,
    )


@case(
    "time-udp/868/4",
    level=MUST,
    requirement=RFC_868_UDP + " (a datagram returned: from where the request went)",
    expected="the reply's source is the address and port the request went to; a connected client receives it",
)
def test_reply_comes_from_the_server_address(endpoint: Endpoint) -> None:
    timekeeping.check_reply_source(endpoint, "a reply from the server's own address and port")


@case(
    "time-udp/868/5",
    level=INFO,
    requirement=RFC_868_VALUE + " (32 bits: the count wraps on 2036-02-07 06:28:16 UTC; the RFC is silent on what follows)",
    expected="recorded: the server's value and the years left before the 32-bit count wraps",
)
def test_2036_rollover_is_noted(endpoint: Endpoint, record_observation: Callable[[str], None]) -> None:
    reply = datagram.exchange(endpoint, timekeeping.NON_EMPTY_REQUEST, expected="a time reply").data
    record_observation(timekeeping.observe_rollover(reply, time.time()))


@case(
    "time-udp/concurrency/1",
    level=SHOULD,
    requirement=RFC_868_UDP + " (for each client asking at once)",
    expected="20 clients asking at once each get a 4-byte time within tolerance",
)
def test_concurrent_clients_each_get_the_time(endpoint: Endpoint, clock_tolerance: float) -> None:
    timekeeping.check_concurrent_datagram_clients(
        endpoint,
        lambda number: b"client %d" % number,
        lambda number, reply, arrived: timekeeping.judge_rfc868_value(reply, arrived, clock_tolerance),
        "each client gets the time",
    )


@case(
    "time-udp/loss/1",
    level=INFO,
    requirement="UDP (RFC 768) promises no delivery; how many answers a burst gets is measured, not judged.",
    expected="recorded: replies to 500 requests sent back to back",
)
def test_burst_loss_is_measured(endpoint: Endpoint, record_observation: Callable[[str], None]) -> None:
    record_observation(datagram.observe_burst(endpoint, timekeeping.NON_EMPTY_REQUEST, timekeeping.BURST_REQUESTS))
