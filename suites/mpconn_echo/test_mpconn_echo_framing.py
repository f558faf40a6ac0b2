"""mpconn-echo, section framing: length-prefixed frames (suites/mpconn_echo/SPEC.md §framing).

Every case authenticates first (the mutual handshake with {sha256} both ways, as a 3.12+
Client does), then sends one message; the checkers are in harness/checks/mpconn.py.
"""


from harness.cases import case
from harness.checks import Endpoint
from harness.checks import mpconn
from harness.verdicts import MUST

F1 = (
    'SPEC.md F1: "Every message MUST be sent as a 4-byte big-endian signed length followed by that '
    "many bytes; a payload longer than 0x7fffffff bytes MUST use the length -1 followed by an 8-byte "
    'big-endian unsigned length."'
)
F2 = (
    'SPEC.md F2: "A receiver MUST accept the -1 + 8-byte header for a payload of any length, small '
    'ones included."'
)
F3 = (
    'SPEC.md F3: "After authentication, the server MUST send every message back as one frame carrying '
    "the same payload, byte-exact, in order; payloads of 0 bytes, 1 byte, 16,384 and 16,385 bytes "
    '(either side of the sender\'s concatenation switch), 1 MiB and 64 MiB included."'
)
F4 = (
    'SPEC.md F4: "When the client\'s EOF cuts a frame off mid-payload, the server MUST close the '
    'connection without echoing the partial message, and MUST NOT wait for the rest."'
)


@case("mpconn-echo/framing/1", level=MUST, requirement=F3, expected="a 0-byte message echoed as a 0-byte frame")
def test_empty_message_is_echoed(endpoint: Endpoint, authkey: bytes) -> None:
    mpconn.check_message_echoed(endpoint, authkey, 0)


@case("mpconn-echo/framing/2", level=MUST, requirement=F1, expected="a 1-byte message echoed in a 4-byte big-endian frame")
def test_one_byte_message_is_echoed(endpoint: Endpoint, authkey: bytes) -> None:
    mpconn.check_message_echoed(endpoint, authkey, 1)


@case("mpconn-echo/framing/3", level=MUST, requirement=F3, expected="16,384 bytes (header and payload in one send) echoed")
def test_message_at_the_concatenation_switch_is_echoed(endpoint: Endpoint, authkey: bytes) -> None:
    mpconn.check_message_echoed(endpoint, authkey, 16384)


@case("mpconn-echo/framing/4", level=MUST, requirement=F3, expected="16,385 bytes (header, then payload, by two sends) echoed")
def test_message_past_the_concatenation_switch_is_echoed(endpoint: Endpoint, authkey: bytes) -> None:
    mpconn.check_message_echoed(endpoint, authkey, 16385)


@case("mpconn-echo/framing/5", level=MUST, requirement=F3, expected="a 1 MiB message echoed byte-exact")
def test_one_mebibyte_message_is_echoed(endpoint: Endpoint, authkey: bytes) -> None:
    mpconn.check_message_echoed(endpoint, authkey, 1 << 20)


@case("mpconn-echo/framing/6", level=MUST, requirement=F3, expected="a 64 MiB message echoed byte-exact")
def test_sixty_four_mebibyte_message_is_echoed(endpoint: Endpoint, authkey: bytes) -> None:
    mpconn.check_message_echoed(endpoint, authkey, 64 << 20)


@case("mpconn-echo/framing/7", level=MUST, requirement=F2, expected="a 5-byte message sent with the -1 + 8-byte header echoed")
def test_extended_header_on_a_small_message_is_accepted(endpoint: Endpoint, authkey: bytes) -> None:
    mpconn.check_message_echoed(endpoint, authkey, 5, extended=True)


@case(
    "mpconn-echo/framing/8",
    level=MUST,
    requirement=F4,
    expected="after a frame announcing 1,000 bytes, 10 sent, then SHUT_WR: the server's close, no frame",
)
def test_frame_cut_off_by_eof_ends_in_a_close(endpoint: Endpoint, authkey: bytes) -> None:
    mpconn.check_truncated_frame_then_eof_closes(endpoint, authkey)
