"""daytime-tcp, RFC 867's TCP daytime service.

RFC 867, "TCP Based Daytime Service": "Once a connection is established the current date and
time is sent out the connection as a ascii character string (and any data received is
thrown away). The service closes the connection after sending the quote." And, under
"Daytime Syntax": "There is no specific syntax for the daytime. It is recommended that it be
limited to the ASCII printing characters, space, carriage return, and line feed."

We judge "a ascii character string" by that recommendation (printing characters, space, CR,
LF), as a MUST: a reply with other bytes is not what any daytime client can display. Whether
the date parses is recorded (INFO), since the RFC fixes no syntax.
"""

from typing import Callable

from harness.cases import case
from harness.checks import Endpoint
from harness.checks import timekeeping
from harness.verdicts import INFO, MUST, SHOULD

RFC_867_TCP = (
    'RFC 867: "Once a connection is established the current date and time is sent out the '
    'connection as a ascii character string (and any data received is thrown away). The '
    'service closes the connection after sending the quote."'
)
RFC_867_SYNTAX = (
    'RFC 867: "There is no specific syntax for the daytime. It is recommended that it be '
    'limited to the ASCII printing characters, space, carriage return, and line feed."'
)


@case("daytime-tcp/867/1", level=MUST, requirement=RFC_867_TCP, expected="the daytime arrives without the client sending anything")
def test_daytime_is_sent_unasked(endpoint: Endpoint) -> None:
    timekeeping.check_tcp_reply_unasked(endpoint, "a daytime string sent on connect, unasked")


@case("daytime-tcp/867/2", level=MUST, requirement=RFC_867_TCP, expected="after the daytime, the server's orderly close")
def test_server_closes_after_sending(endpoint: Endpoint) -> None:
    timekeeping.check_tcp_closes_after_reply(endpoint, "the daytime, then EOF", exact_length=None)


@case(
    "daytime-tcp/867/3",
    level=MUST,
    requirement=f"{RFC_867_TCP} {RFC_867_SYNTAX}",
    expected="a non-empty reply of ASCII printing characters, space, CR and LF only",
)
def test_daytime_is_ascii_text(endpoint: Endpoint) -> None:
    expected = "ASCII printing characters, space, CR and LF only"
    reply = bytes(timekeeping.check_tcp_reply_unasked(endpoint, expected).received)
    problem = timekeeping.judge_daytime_text(reply)
    if problem:
        raise timekeeping.ConformanceFailure(expected, problem)


@case(
    "daytime-tcp/867/4",
    level=MUST,
    requirement=RFC_867_TCP,
    expected="bytes the client sends do not come back; the daytime is still sent, then a close",
)
def test_client_data_is_thrown_away(endpoint: Endpoint) -> None:
    timekeeping.check_tcp_daytime_ignores_input(endpoint, "the client's bytes thrown away, the daytime sent")


@case("daytime-tcp/867/5", level=INFO, requirement=RFC_867_SYNTAX, expected="recorded: which date syntax the reply follows, and its offset from the local clock")
def test_date_syntax_is_recorded(endpoint: Endpoint, record_observation: Callable[[str], None]) -> None:
    conversation = timekeeping.check_tcp_reply_unasked(endpoint, "a daytime reply")
    reply = bytes(conversation.received)
    record_observation(timekeeping.describe_daytime_date(reply, timekeeping.arrival_time(conversation, len(reply))))


@case(
    "daytime-tcp/concurrency/1",
    level=SHOULD,
    requirement=RFC_867_TCP + " (for each of several clients connecting at once)",
    expected="20 clients connected at once each get an ASCII daytime, then a close",
)
def test_concurrent_clients_each_get_the_daytime(endpoint: Endpoint) -> None:
    timekeeping.check_concurrent_tcp_replies(
        endpoint, lambda reply, arrived: timekeeping.judge_daytime_text(reply), "each client gets the daytime"
    )
