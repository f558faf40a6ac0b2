"""daytime-udp, RFC 867's UDP daytime service.

RFC 867, "UDP Based Daytime Service": "A server listens for UDP datagrams on UDP port 13.
When a datagram is received, an answering datagram is sent containing the current date and
time as a ASCII character string (the data in the received datagram is ignored)." The text
is judged as in daytime-tcp (ASCII printing characters, space, CR, LF), the date recorded.
"""

import time
from typing import Callable

from harness.cases import case
from harness.checks import Endpoint
from harness.checks import datagram, timekeeping
from harness.verdicts import INFO, MUST, SHOULD

RFC_867_UDP = (
    'RFC 867: "When a datagram is received, an answering datagram is sent containing the '
    'current date and time as a ASCII character string (the data in the received datagram is '
    'ignored)."'
)
RFC_867_SYNTAX = (
    'RFC 867: "It is recommended that it be limited to the ASCII printing characters, space, '
    'carriage return, and line feed."'
)


@case("daytime-udp/867/1", level=MUST, requirement=RFC_867_UDP, expected="an empty datagram gets a non-empty ASCII daytime")
def test_empty_datagram_is_answered(endpoint: Endpoint) -> None:
    timekeeping.check_datagram_answered(endpoint, b"", timekeeping.judge_daytime_text, "a daytime reply to an empty datagram")


@case(
    "daytime-udp/867/2",
    level=MUST,
    requirement=RFC_867_UDP,
    expected="a non-empty datagram gets a daytime, and its content is not in the reply",
)
def test_non_empty_datagram_is_answered_and_ignored(endpoint: Endpoint) -> None:
    def judge(reply: bytes) -> str | None:
        if timekeeping.NON_EMPTY_REQUEST.strip() in reply:
            return f"the request's bytes came back in the reply: {reply[:48]!r}"
        return timekeeping.judge_daytime_text(reply)

    timekeeping.check_datagram_answered(endpoint, timekeeping.NON_EMPTY_REQUEST, judge, "a daytime; the request ignored")


@case(
    "daytime-udp/867/3",
    level=MUST,
    requirement=f"{RFC_867_UDP} {RFC_867_SYNTAX}",
    expected="the reply is ASCII printing characters, space, CR and LF only",
)
def test_daytime_is_ascii_text(endpoint: Endpoint) -> None:
    timekeeping.check_datagram_answered(
        endpoint, b"x", timekeeping.judge_daytime_text, "ASCII printing characters, space, CR and LF only"
    )


@case(
    "daytime-udp/867/4",
    level=MUST,
    requirement=RFC_867_UDP + " (an answering datagram: from where the request went)",
    expected="the reply's source is the address and port the request went to; a connected client receives it",
)
def test_reply_comes_from_the_server_address(endpoint: Endpoint) -> None:
    timekeeping.check_reply_source(endpoint, "a reply from the server's own address and port")


@case("daytime-udp/867/5", level=INFO, requirement=RFC_867_SYNTAX, expected="recorded: which date syntax the reply follows")
def test_date_syntax_is_recorded(endpoint: Endpoint, record_observation: Callable[[str], None]) -> None:
    reply = datagram.exchange(endpoint, timekeeping.NON_EMPTY_REQUEST, expected="a daytime reply").data
    record_observation(timekeeping.describe_daytime_date(reply, time.time()))


@case(
    "daytime-udp/concurrency/1",
    level=SHOULD,
    requirement=RFC_867_UDP + " (for each client asking at once)",
    expected="20 clients asking at once each get an ASCII daytime",
)
def test_concurrent_clients_each_get_the_daytime(endpoint: Endpoint) -> None:
    timekeeping.check_concurrent_datagram_clients(
        endpoint,
        lambda number: b"client %d" % number,
        lambda number, reply, arrived: timekeeping.judge_daytime_text(reply),
        "each client gets the daytime",
    )
