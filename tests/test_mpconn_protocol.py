"""mpconn-echo's sans-IO Listener and the shared frame/MAC code, checked against CPython's own.

The stdlib's ``multiprocessing.connection`` is the oracle: its ``answer_challenge`` and
``deliver_challenge`` run over one end of a socketpair while our protocol, driven by the fake
runner, is the other end (each step is one pull, so no thread is needed: the socketpair's
buffers hold every handshake message). Input is fed whole, one byte at a time, and with
trailing data.
"""

from __future__ import annotations

import hmac
import itertools
import multiprocessing.connection as stdlib_connection
import socket
import struct
import threading

import pytest

from harness.protocols.mpconn import (
    CHALLENGE_PREFIX,
    FAILURE,
    WELCOME,
    AuthenticationFailed,
    FrameDecoder,
    ListenerState,
    MpconnProtocolError,
    MultiprocessingEchoProtocol,
    create_response,
    encode_frame,
    verify_response,
)
from tests.sansio import Drive

KEY = b"unit-test-key-not-a-secret"


def counting_random_bytes():
    counter = itertools.count()
    return lambda n: bytes((next(counter) + i) % 256 for i in range(n))


def decode_all(data: bytes) -> list[bytes]:
    decoder = FrameDecoder(1 << 30)
    decoder.feed(data)
    messages = []
    while (message := decoder.next_message()) is not None:
        messages.append(message)
    assert not decoder.mid_frame
    return messages


def started(max_bytes: int = 65536) -> tuple[MultiprocessingEchoProtocol, Drive, bytes]:
    protocol = MultiprocessingEchoProtocol(KEY, counting_random_bytes())
    drive = Drive(protocol, max_bytes=max_bytes)
    (challenge_message,) = decode_all(drive.start())
    assert challenge_message.startswith(CHALLENGE_PREFIX + b"{sha256}")
    return protocol, drive, challenge_message[len(CHALLENGE_PREFIX) :]


def authenticate(drive: Drive, challenge: bytes, *, our_challenge: bytes = b"{sha256}" + b"c" * 40) -> bytes:
    """Run the client's side of the handshake; return the server's MAC of our challenge."""
    assert decode_all(drive.feed(encode_frame(create_response(KEY, challenge)))) == [WELCOME]
    (server_mac,) = decode_all(drive.feed(encode_frame(CHALLENGE_PREFIX + our_challenge)))
    verify_response(KEY, our_challenge, server_mac)
    assert drive.feed(encode_frame(WELCOME)) == b""
    return server_mac


def test_frames_round_trip_including_the_extended_header() -> None:
    assert encode_frame(b"abc") == b"\x00\x00\x00\x03abc"
    assert encode_frame(b"abc", extended=True) == b"\xff\xff\xff\xff" + struct.pack("!Q", 3) + b"abc"
    stream = encode_frame(b"") + encode_frame(b"x" * 16385) + encode_frame(b"y", extended=True)
    assert decode_all(stream) == [b"", b"x" * 16385, b"y"]
    one_at_a_time = FrameDecoder(1 << 20)
    messages = []
    for byte in stream:
        one_at_a_time.feed(bytes([byte]))
        while (message := one_at_a_time.next_message()) is not None:
            messages.append(message)
    assert messages == [b"", b"x" * 16385, b"y"]


def test_decoder_refuses_an_oversized_or_negative_length_before_buffering_the_payload() -> None:
    decoder = FrameDecoder(256)
    decoder.feed(struct.pack("!i", 257))
    with pytest.raises(MpconnProtocolError):
        decoder.next_message()
    negative = FrameDecoder(256)
    negative.feed(struct.pack("!i", -2))
    with pytest.raises(MpconnProtocolError):
        negative.next_message()


@pytest.mark.parametrize("digest", ["md5", "sha256", "sha384", "sha3_256", "sha3_384"])
def test_our_mac_matches_cpython_for_each_allowed_digest(digest: str) -> None:
    challenge = b"{%s}" % digest.encode() + bytes(range(40))
    expected = b"{%s}" % digest.encode() + hmac.new(KEY, challenge, digest).digest()
    assert create_response(KEY, challenge) == expected
    verify_response(KEY, challenge, expected)


def test_legacy_challenge_is_answered_with_a_bare_hmac_md5() -> None:
    challenge = bytes(range(20))
    assert create_response(KEY, challenge) == hmac.new(KEY, challenge, "md5").digest()


@pytest.mark.parametrize(
    "challenge",
    [b"{sha1}" + bytes(40), bytes(41), bytes(19), b"{sha256}" + bytes(5)],
    ids=["unknown-digest", "missing-prefix", "too-short", "short-with-prefix"],
)
def test_malformed_challenges_get_no_mac(challenge: bytes) -> None:
    with pytest.raises(AuthenticationFailed):
        create_response(KEY, challenge)


def test_wrong_truncated_and_unlisted_macs_are_refused() -> None:
    challenge = b"{sha256}" + bytes(40)
    good = create_response(KEY, challenge)
    for bad in (
        create_response(b"another-key-entirely", challenge),
        good[:24],
        b"{sha1}" + hmac.new(KEY, challenge, "sha1").digest(),
    ):
        with pytest.raises(AuthenticationFailed):
            verify_response(KEY, challenge, bad)


@pytest.mark.parametrize("max_bytes", [65536, 1])
def test_listener_authenticates_both_ways_then_echoes(max_bytes: int) -> None:
    protocol, drive, challenge = started(max_bytes)
    authenticate(drive, challenge)
    assert protocol.state is ListenerState.AUTHENTICATED
    assert decode_all(drive.feed(encode_frame(b"") + encode_frame(b"hello"))) == [b"", b"hello"]
    assert decode_all(drive.feed(encode_frame(b"big", extended=True))) == [b"big"]
    assert not protocol.wants_close
    assert drive.eof() == b"" and protocol.wants_close


def test_listener_handles_the_handshake_fed_one_byte_at_a_time() -> None:
    protocol, drive, challenge = started()
    out = b""
    for byte in encode_frame(create_response(KEY, challenge)):
        out += drive.feed(bytes([byte]))
    assert decode_all(out) == [WELCOME]


def test_each_connection_gets_a_fresh_challenge_from_the_configured_randomness() -> None:
    random_bytes = counting_random_bytes()
    drives = [Drive(MultiprocessingEchoProtocol(KEY, random_bytes)) for _ in range(2)]
    first, second = (decode_all(drive.start())[0] for drive in drives)
    assert first != second


def test_a_wrong_key_gets_failure_then_close_and_trailing_data_is_never_echoed() -> None:
    protocol, drive, challenge = started()
    wrong = encode_frame(create_response(b"another-key-entirely", challenge))
    assert decode_all(drive.feed(wrong + encode_frame(b"smuggled"))) == [FAILURE]
    assert protocol.wants_close and not protocol.wants_input
    assert drive.feed(encode_frame(b"later")) == b""


def test_a_pickle_sent_instead_of_the_mac_is_refused_as_bytes() -> None:
    import pickle

    protocol, drive, _ = started()
    assert decode_all(drive.feed(encode_frame(pickle.dumps(("os.system", "true"))))) == [FAILURE]


def test_an_oversized_handshake_message_is_refused_at_its_header() -> None:
    protocol, drive, challenge = started()
    drive.feed(encode_frame(create_response(KEY, challenge)))
    assert decode_all(drive.feed(struct.pack("!i", 257))) == [FAILURE]
    assert protocol.wants_close


def test_a_refused_server_mac_closes_without_echo() -> None:
    protocol, drive, challenge = started()
    drive.feed(encode_frame(create_response(KEY, challenge)))
    drive.feed(encode_frame(CHALLENGE_PREFIX + b"{sha256}" + bytes(40)))
    assert drive.feed(encode_frame(FAILURE) + encode_frame(b"echo me")) == b""
    assert protocol.wants_close


def test_this_interpreters_stdlib_client_authenticates_with_our_listener() -> None:
    """The stdlib's Client half (answer_challenge, then deliver_challenge) over a socketpair.

    On Python 3.11 that is the legacy protocol (a bare HMAC-MD5 answer to our {sha256}
    challenge, a 20-byte challenge of its own); on 3.12+ the modern one. The stdlib runs in
    a thread; this thread is the runner, relaying bytes through the fake driver.
    """
    protocol, drive, challenge = started()
    ours, theirs = socket.socketpair()
    outcome: dict[str, object] = {}

    def stdlib_client() -> None:
        connection = stdlib_connection.Connection(theirs.detach())
        try:
            stdlib_connection.answer_challenge(connection, KEY)
            stdlib_connection.deliver_challenge(connection, KEY)
            connection.send_bytes(b"ping")
            outcome["echo"] = connection.recv_bytes()
        except BaseException as exc:  # reported by the assertion below
            outcome["error"] = exc
        finally:
            connection.close()

    with ours:
        ours.settimeout(5.0)
        ours.sendall(encode_frame(CHALLENGE_PREFIX + challenge))
        client = threading.Thread(target=stdlib_client)
        client.start()
        while data := ours.recv(65536):
            ours.sendall(drive.feed(data))
        client.join(5.0)
    assert outcome == {"echo": b"ping"}
    assert protocol.state is ListenerState.AUTHENTICATED
