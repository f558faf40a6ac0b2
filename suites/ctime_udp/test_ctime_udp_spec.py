"""ctime-udp, the chapter's UDP time server (suites/ctime_udp/SPEC.md)."""

import time

from harness.cases import case
from harness.checks import Endpoint
from harness.checks import timekeeping
from harness.verdicts import MUST, SHOULD

SPEC_REPLY = (
    'SPEC.md §reply: "A server MUST answer every datagram it receives, empty or not, with '
    'exactly one datagram."'
)
SPEC_FORMAT = (
    'SPEC.md §format: "The reply MUST be exactly the text time.ctime() returns for the '
    "server's current local time, encoded in ASCII: 24 characters, Www Mmm dd hh:mm:ss yyyy "
    '(day of the month space-padded), with no terminator."'
)
SPEC_SOURCE = (
    'SPEC.md §source: "The reply MUST come from the address and port the request was sent to, '
    'so that a connected client socket receives it."'
)
SPEC_CONCURRENCY = (
    'SPEC.md §concurrency: "A server SHOULD answer clients that send at the same time, each '
    'with its own reply."'
)


def any_reply(reply: bytes) -> str | None:
    return None


@case("ctime-udp/reply/1", level=MUST, requirement=SPEC_REPLY, expected="an empty datagram is answered")
def test_empty_datagram_is_answered(endpoint: Endpoint) -> None:
    timekeeping.check_datagram_answered(endpoint, b"", any_reply, "a reply to an empty datagram")


@case("ctime-udp/reply/2", level=MUST, requirement=SPEC_REPLY, expected="a non-empty datagram is answered")
def test_non_empty_datagram_is_answered(endpoint: Endpoint) -> None:
    timekeeping.check_datagram_answered(endpoint, timekeeping.NON_EMPTY_REQUEST, any_reply, "a reply to a non-empty datagram")


@case(
    "ctime-udp/format/1",
    level=MUST,
    requirement=SPEC_FORMAT,
    expected="24 ASCII characters 'Www Mmm dd hh:mm:ss yyyy', no terminator, within --clock-tolerance",
)
def test_reply_is_ctime_text(endpoint: Endpoint, clock_tolerance: float) -> None:
    timekeeping.check_datagram_answered(
        endpoint,
        timekeeping.NON_EMPTY_REQUEST,
        lambda reply: timekeeping.judge_ctime_text(reply, time.time(), clock_tolerance),
        "exactly time.ctime() of the server's clock",
    )


@case("ctime-udp/source/1", level=MUST, requirement=SPEC_SOURCE, expected="the reply's source is where the request went")
def test_reply_comes_from_the_server_address(endpoint: Endpoint) -> None:
    timekeeping.check_reply_source(endpoint, "a reply from the server's own address and port")


@case("ctime-udp/concurrency/1", level=SHOULD, requirement=SPEC_CONCURRENCY, expected="20 clients asking at once each get a ctime reply")
def test_concurrent_clients_each_get_a_reply(endpoint: Endpoint, clock_tolerance: float) -> None:
    timekeeping.check_concurrent_datagram_clients(
        endpoint,
        lambda number: b"client %d" % number,
        lambda number, reply, arrived: timekeeping.judge_ctime_text(reply, arrived, clock_tolerance),
        "each client gets the time",
    )
