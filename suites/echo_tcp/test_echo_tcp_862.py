"""echo-tcp, section 862: RFC 862's TCP echo and our reading of it (suites/echo_tcp/SPEC.md).

RFC 862: "Once a connection is established any data received is sent back. This continues
until the calling user terminates the connection." Each case below checks one consequence
of those two sentences; what the RFC does not say (the close after the client's FIN, rude
clients) is quoted from SPEC.md, with its reasoning there. The checking itself is in
harness/checks/echo.py (plain functions, usable without pytest); this file only declares
the cases: ID, level, the requirement verbatim, and which checker decides.
"""

from harness.cases import case
from harness.checks import Endpoint
from harness.checks import echo
from harness.verdicts import MUST

RFC_862_DATA = 'RFC 862: "Once a connection is established any data received is sent back."'
RFC_862_END = 'RFC 862: "This continues until the calling user terminates the connection."'
SPEC_BYTES = (
    'SPEC.md §862: "The server MUST send back every byte it receives, unchanged and in order, '
    'whatever the byte values and however the client\'s data was divided into segments."'
)


@case(
    "echo-tcp/862/1",
    level=MUST,
    requirement=RFC_862_DATA,
    expected="b'hello\\r\\n' comes back byte-exact, and nothing more",
)
def test_small_payload_is_echoed(endpoint: Endpoint) -> None:
    echo.check_small_payload_echoed(endpoint)


@case(
    "echo-tcp/862/2",
    level=MUST,
    requirement=f"{RFC_862_DATA} {SPEC_BYTES}",
    expected="every byte value 0x00-0xFF, NUL runs, CR/LF and invalid UTF-8 come back byte-exact",
)
def test_every_byte_value_is_echoed(endpoint: Endpoint) -> None:
    echo.check_awkward_bytes_echoed(endpoint)


@case(
    "echo-tcp/862/3",
    level=MUST,
    requirement=RFC_862_DATA,
    expected="arbitrary payloads of 0 B - 1 MiB (hypothesis) come back byte-exact",
)
def test_arbitrary_payloads_are_echoed(endpoint: Endpoint) -> None:
    echo.check_arbitrary_payloads_echoed(endpoint)


@case(
    "echo-tcp/862/4",
    level=MUST,
    requirement=f"{RFC_862_DATA} {SPEC_BYTES}",
    expected="payloads of up to 2 KiB sent one byte per send (TCP_NODELAY) come back byte-exact",
)
def test_byte_at_a_time_is_echoed(endpoint: Endpoint) -> None:
    echo.check_bytewise_sends_echoed(endpoint)


@case(
    "echo-tcp/862/5",
    level=MUST,
    requirement=f"{RFC_862_DATA} {SPEC_BYTES}",
    expected="payloads cut into sends at points hypothesis chooses come back byte-exact",
)
def test_random_splits_are_echoed(endpoint: Endpoint) -> None:
    echo.check_split_sends_echoed(endpoint)


@case(
    "echo-tcp/862/6",
    level=MUST,
    requirement=(
        f"{RFC_862_DATA} SPEC.md §862: \"The server MUST echo an arbitrarily long stream "
        'through one connection, sending back while it is still receiving."'
    ),
    expected="16 MiB through one connection, read while writing, comes back byte-exact",
)
def test_sixteen_mebibytes_are_echoed(endpoint: Endpoint) -> None:
    echo.check_bulk_echo_with_concurrent_read(endpoint)


@case(
    "echo-tcp/862/7",
    level=MUST,
    requirement=(
        f"{RFC_862_END} SPEC.md §862: \"After the client shuts down its sending side (FIN), "
        'the server MUST still send back everything it received before the FIN."'
    ),
    expected="256 KiB sent, then SHUT_WR: all 256 KiB come back byte-exact",
)
def test_echo_completes_after_half_close(endpoint: Endpoint) -> None:
    echo.check_echo_complete_after_half_close(endpoint)


@case(
    "echo-tcp/862/8",
    level=MUST,
    requirement=(
        f"{RFC_862_END} SPEC.md §862: \"Once it has sent back everything received before the "
        'client\'s FIN, the server MUST close the connection in an orderly way (FIN, not RST)."'
    ),
    expected="after the client's SHUT_WR and the last echoed byte, an orderly close (EOF)",
)
def test_server_closes_after_half_close(endpoint: Endpoint) -> None:
    echo.check_close_after_half_close(endpoint)


@case(
    "echo-tcp/862/9",
    level=MUST,
    requirement=(
        f"{RFC_862_DATA} SPEC.md §862: \"Every connection MUST be echoed independently of the "
        'connections before it."'
    ),
    expected="200 connections, one after another, each get their own payload back byte-exact",
)
def test_sequential_connections_are_echoed(endpoint: Endpoint) -> None:
    echo.check_sequential_connections(endpoint)


@case(
    "echo-tcp/862/10",
    level=MUST,
    requirement=(
        'SPEC.md §862: "A client that resets its connection (RST) at any point MUST NOT prevent '
        'the server from echoing the next client."'
    ),
    expected="after each of 3 clients resets its connection mid-stream, the next client is echoed byte-exact",
)
def test_client_reset_does_not_hurt_next_client(endpoint: Endpoint) -> None:
    echo.check_client_reset_does_not_hurt_next_client(endpoint)
