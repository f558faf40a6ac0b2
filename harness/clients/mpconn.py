"""A ``multiprocessing.connection`` client: the mutual HMAC handshake, then framed messages.

The stdlib's ``Client(address, authkey=...)`` is the model, and the suites use it as a peer;
a load generator cannot: none of its waits has a timeout (a server that stalls mid-handshake
hangs the caller for good), and nothing from another greenlet can end them. So this client
plays the same bytes (suites/mpconn_echo/SPEC.md) over an :class:`~harness.clients.echo.EchoConnection`,
every wait bounded:

1. the Listener's ``#CHALLENGE#{sha256}`` + 40 random bytes is answered with ``{sha256}`` +
   HMAC-SHA256 over the whole challenge (``answer_challenge``), and ``#WELCOME#`` must follow;
2. we challenge the Listener the same way (``deliver_challenge``), check its MAC in constant
   time, and say ``#WELCOME#``;
3. each request is one frame, a 4-byte big-endian length then a numbered payload, and the
   reply must be that frame again, byte for byte: a Listener echoing a message sends it with
   the same 4-byte header (CPython's ``_send_bytes`` uses the ``-1`` + 8-byte header only past
   2 GiB), so comparing whole frames checks the header and the message at once.

The protocol's own helpers (``harness.protocols.mpconn``: frames, ``create_response``,
``verify_response``) compute what is sent and checked, so the server and this client cannot
drift apart in what they think the wire format is. A refused handshake is an
:class:`MpconnHandshakeError` whose message reads "expected ... / actual ...".
"""

from __future__ import annotations

import functools
import os
import struct

from harness.clients.echo import EchoConnection, StreamEchoRequester
from harness.clients.requesters import RequestOptions, RoundTripError
from harness.protocols.mpconn import (
    CHALLENGE_DIGEST,
    CHALLENGE_PREFIX,
    CHALLENGE_RANDOM_BYTES,
    MAX_HANDSHAKE_MESSAGE_BYTES,
    WELCOME,
    AuthenticationFailed,
    create_response,
    encode_frame,
    verify_response,
)
from harness.services import AUTHKEY, secret_from_environment
from harness.verdicts import preview

# The 4-byte big-endian signed length of every frame under 2 GiB.
SHORT_HEADER = struct.Struct("!i")


class MpconnHandshakeError(RoundTripError):
    """The Listener refused us, or we refused it: the handshake did not complete."""


def receive_handshake_message(connection: EchoConnection, *, expected: str) -> bytes:
    """One handshake frame (at most 256 bytes, as CPython's ``recv_bytes(256)`` reads them).

    Raises:
        MpconnHandshakeError: a length that is negative or over 256.
        EchoClosedError, EchoResetError, EchoTimeoutError: the frame did not arrive whole.
    """
    (length,) = SHORT_HEADER.unpack(connection.receive_exactly(SHORT_HEADER.size))
    if not 0 <= length <= MAX_HANDSHAKE_MESSAGE_BYTES:
        raise MpconnHandshakeError(f"expected {expected} / actual: a frame header announcing {length} bytes")
    return connection.receive_exactly(length)


def authenticate(connection: EchoConnection, authkey: bytes) -> None:
    """Both halves of the handshake, as a 3.12+ ``Client`` makes them.

    Raises:
        MpconnHandshakeError: a frame other than the one the handshake calls for, or a MAC
            that does not verify under ``authkey``.
        EchoError: the connection ended or stalled mid-handshake.
    """
    expected = "a #CHALLENGE# frame, unasked, right after the connect"
    challenge = receive_handshake_message(connection, expected=expected)
    if not challenge.startswith(CHALLENGE_PREFIX):
        raise MpconnHandshakeError(f"expected {expected} / actual: a frame of {preview(challenge)}")
    try:
        response = create_response(authkey, challenge[len(CHALLENGE_PREFIX) :])
    except AuthenticationFailed as exc:
        raise MpconnHandshakeError(f"expected a challenge we can answer / actual: {exc}") from None
    connection.send(encode_frame(response))
    expected = "#WELCOME# after our MAC of the Listener's challenge"
    verdict = receive_handshake_message(connection, expected=expected)
    if verdict != WELCOME:  # #FAILURE#: the keys differ
        raise MpconnHandshakeError(f"expected {expected} / actual: a frame of {preview(verdict)}")
    ours = b"{%s}%s" % (CHALLENGE_DIGEST.encode("ascii"), os.urandom(CHALLENGE_RANDOM_BYTES))
    connection.send(encode_frame(CHALLENGE_PREFIX + ours))
    expected = "the Listener's MAC of our challenge under the shared key"
    mac = receive_handshake_message(connection, expected=expected)
    try:
        verify_response(authkey, ours, mac)
    except AuthenticationFailed as exc:
        raise MpconnHandshakeError(f"expected {expected} / actual: a frame of {preview(mac)}: {exc}") from None
    connection.send(encode_frame(WELCOME))


def mpconn_echo_requester(address: tuple[str, int], options: RequestOptions) -> StreamEchoRequester:
    """One authenticated connection to a Listener that echoes messages, keyed by
    ``WIRECHECK_OPTION_AUTHKEY``; each request a numbered message in a frame, the whole frame
    checked.

    Raises:
        MissingSecretError: the key is not in the environment.
        MpconnHandshakeError, EchoError: the handshake failed.
    """
    authkey = secret_from_environment(AUTHKEY)
    return StreamEchoRequester(address, options, preamble=functools.partial(authenticate, authkey=authkey), frame=encode_frame)
