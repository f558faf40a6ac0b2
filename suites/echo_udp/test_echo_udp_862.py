"""echo-udp, RFC 862's UDP echo.

RFC 862, "UDP Based Echo Service": "A server listens for UDP datagrams on UDP port 7. When a
datagram is received, the data from it is sent back in an answering datagram." Every case
reads "the data from it" as all of it, byte-exact, whatever its size or content, the empty
datagram included; "answering" as from the address and port the request went to. Loss is
measured, not judged: UDP promises no delivery.
"""

from typing import Callable

from hypothesis import strategies as st

from harness.cases import case
from harness.checks import Endpoint
from harness.checks import datagram, timekeeping
from harness.checks.properties import run_property
from harness.verdicts import INFO, MUST, SHOULD, describe_data

RFC_862_UDP = (
    'RFC 862: "When a datagram is received, the data from it is sent back in an answering datagram."'
)


@case("echo-udp/862/1", level=MUST, requirement=RFC_862_UDP, expected="b'hello\\r\\n' comes back byte-exact")
def test_small_datagram_is_echoed(endpoint: Endpoint) -> None:
    timekeeping.check_datagram_echo(endpoint, b"hello\r\n", "b'hello\\r\\n' echoed byte-exact")


@case(
    "echo-udp/862/2",
    level=MUST,
    requirement=RFC_862_UDP,
    expected="an empty datagram is answered with an empty datagram",
)
def test_empty_datagram_is_echoed(endpoint: Endpoint) -> None:
    timekeeping.check_datagram_echo(endpoint, b"", "an empty answering datagram")


@case(
    "echo-udp/862/3",
    level=MUST,
    requirement=RFC_862_UDP,
    expected="datagrams of 1 B up to the largest a loopback datagram carries come back whole",
)
def test_every_size_is_echoed(endpoint: Endpoint) -> None:
    for size in timekeeping.echo_sizes(endpoint):
        payload = bytes((offset * 7 + size) % 256 for offset in range(size))
        timekeeping.check_datagram_echo(endpoint, payload, f"a {size}-byte datagram echoed byte-exact")


@case(
    "echo-udp/862/4",
    level=MUST,
    requirement=RFC_862_UDP,
    expected="every byte value, and arbitrary datagrams (hypothesis), come back byte-exact",
)
def test_arbitrary_datagrams_are_echoed(endpoint: Endpoint) -> None:
    every_byte = bytes(range(256))
    timekeeping.check_datagram_echo(endpoint, every_byte * 4 + b"\xff\xfe\xc3\x28\x00\r\n", "every byte value echoed")
    largest = datagram.MAX_PAYLOAD_BYTES[datagram.family_of(endpoint)]
    run_property(
        lambda payload: timekeeping.check_datagram_echo(endpoint, payload, "the datagram echoed byte-exact"),
        st.binary(max_size=largest),
        lambda payload: f"a {len(payload)}-byte datagram",
        name="echo-udp/862/4",
    )


@case(
    "echo-udp/862/5",
    level=MUST,
    requirement=RFC_862_UDP + " (an answer comes from where the question went)",
    expected="the reply's source is the address and port the request went to; a connected client receives it",
)
def test_reply_comes_from_the_server_address(endpoint: Endpoint) -> None:
    timekeeping.check_reply_source(endpoint, "a reply from the server's own address and port")


@case(
    "echo-udp/concurrency/1",
    level=SHOULD,
    requirement=RFC_862_UDP + " (for each client sending at once)",
    expected="20 clients sending at once each get their own bytes back",
)
def test_concurrent_clients_get_their_own_bytes(endpoint: Endpoint) -> None:
    def judge(number: int, reply: bytes, arrived: float) -> str | None:
        mine = b"client %d" % number
        return None if reply == mine else describe_data(mine, reply)

    timekeeping.check_concurrent_datagram_clients(
        endpoint, lambda number: b"client %d" % number, judge, "each client's own bytes back"
    )


@case(
    "echo-udp/loss/1",
    level=INFO,
    requirement="UDP (RFC 768) promises no delivery; how many answers a burst gets is measured, not judged.",
    expected="recorded: replies to 500 requests sent back to back",
)
def test_burst_loss_is_measured(endpoint: Endpoint, record_observation: Callable[[str], None]) -> None:
    record_observation(datagram.observe_burst(endpoint, b"x" * 64, timekeeping.BURST_REQUESTS))
