"""multiprocessing.connection's wire protocol, and the ``mpconn-echo`` server built on it.

The chapter's "talking between interpreters" recipe is a ``multiprocessing.connection``
Listener and Client with an ``authkey``. Their wire protocol (CPython's
``Lib/multiprocessing/connection.py``; the normative text wirecheck judges against is
suites/mpconn_echo/SPEC.md) has two layers:

- **Frames.** Every message is a 4-byte big-endian *signed* length, then the payload. A
  payload longer than ``0x7fffffff`` bytes is sent as the length ``-1`` followed by an 8-byte
  big-endian unsigned length; a reader accepts that extended header for any length. The
  sender concatenates header and payload up to 16,384 bytes and sends them apart above
  (a Nagle concern of the sender only: on the wire both are the same frames).
- **Mutual HMAC challenge.** The Listener sends ``#CHALLENGE#`` + a challenge; the Client
  answers with a MAC of the challenge under the shared key; the Listener says ``#WELCOME#``
  or ``#FAILURE#``. Then the roles swap: the Client challenges, the Listener answers, the
  Client says ``#WELCOME#``. Since Python 3.12 a challenge is ``{digest}`` + 40 random bytes
  and a MAC is ``{digest}`` + HMAC-digest(key, the whole challenge, prefix included); Python
  3.11 and older send 20 random bytes and answer with a bare 16-byte HMAC-MD5. A message of
  20 (or 16) bytes is read as legacy; anything else needs a ``{digest}`` prefix naming one of
  :data:`ALLOWED_DIGESTS`.

:class:`AuthenticatedListenerProtocol` is the server side (a Listener), sans-IO: it challenges
with ``{sha256}`` + 40 bytes drawn from the configuration's ``random_bytes``, checks the
answer with :func:`hmac.compare_digest`, answers the client's challenge, and only after both
welcomes hands each message to what the service does with it. :class:`MultiprocessingEchoProtocol`
sends every message back as it came; the RPC service (``harness.protocols.rpc``) decodes a
call. The handshake itself never unpickles anything: before authentication every payload is
opaque bytes, so a pickle bomb is only bytes to it.

The frame codec and the MAC functions are shared with the checkers and clients
(``harness.checks.mpconn``): one implementation of the wire format in the project.
"""

from __future__ import annotations

import enum
import hmac
import struct
from typing import Callable, Sequence

from harness.protocols.base import Chunk, ConnectionContext, OutputQueue

CHALLENGE_PREFIX = b"#CHALLENGE#"
WELCOME = b"#WELCOME#"
FAILURE = b"#FAILURE#"

# CPython 3.12's _ALLOWED_DIGESTS: the digests a {digest} prefix may name.
ALLOWED_DIGESTS = frozenset({"md5", "sha256", "sha384", "sha3_256", "sha3_384"})
_LONGEST_DIGEST_NAME = max(len(name) for name in ALLOWED_DIGESTS)

# The digest a 3.12+ Listener names in its challenge (deliver_challenge's default).
CHALLENGE_DIGEST = "sha256"

# Random bytes after the {digest} prefix: CPython's MESSAGE_LENGTH, which "MUST be > 20" so
# that a modern challenge is never mistaken for a legacy one.
CHALLENGE_RANDOM_BYTES = 40

# A legacy (<= 3.11) challenge is 20 random bytes; a legacy answer a bare 16-byte HMAC-MD5.
# No modern message has either length, which is how a reader tells the two apart.
LEGACY_CHALLENGE_BYTES = 20
LEGACY_MAC_BYTES = 16
LEGACY_LENGTHS = (LEGACY_CHALLENGE_BYTES, LEGACY_MAC_BYTES)

# CPython reads every handshake message with recv_bytes(256): "reject large message".
MAX_HANDSHAKE_MESSAGE_BYTES = 256

# The largest length a 4-byte signed header can carry; past it the -1 + 8-byte header.
MAX_SHORT_FRAME_BYTES = 0x7FFFFFFF
EXTENDED_LENGTH_MARKER = -1

# The largest echoed message this server holds: twice the suite's 64 MiB case, so that one
# client costs at most this much memory (a Listener's recv_bytes() has no bound at all).
MAX_MESSAGE_BYTES = 128 * 1024 * 1024

# Input is paused while this much echo is unsent (as harness.protocols.echo).
HIGH_WATER_BYTES = 1 << 20


class MpconnProtocolError(ValueError):
    """The peer broke the wire protocol (a bad header, an oversized or malformed message)."""


class AuthenticationFailed(ValueError):
    """A challenge or a MAC that the handshake refuses; the message never holds key material."""


# --- frames -------------------------------------------------------------------------------


def encode_frame(payload: bytes, *, extended: bool = False) -> bytes:
    """One frame: the 4-byte signed big-endian length (or ``-1`` + 8-byte length), then payload.

    Args:
        payload: the message.
        extended: use the ``-1`` + 8-byte header even for a short payload (always used past
            ``0x7fffffff`` bytes, as CPython's ``_send_bytes`` does).
    """
    return encode_header(len(payload), extended=extended) + bytes(payload)


def encode_header(length: int, *, extended: bool = False) -> bytes:
    """The header of a frame of ``length`` payload bytes."""
    if length < 0:
        raise ValueError(f"a frame length cannot be negative, got {length}")
    if extended or length > MAX_SHORT_FRAME_BYTES:
        return struct.pack("!iQ", EXTENDED_LENGTH_MARKER, length)
    return struct.pack("!i", length)


class FrameDecoder:
    """Incremental frame reader: feed bytes, take whole messages.

    Args:
        max_message_bytes: the largest payload accepted; a header announcing more is a
            :class:`MpconnProtocolError` at once (nothing of the payload is buffered).

    The limit can be changed between messages (:attr:`max_message_bytes`): the handshake
    reads with 256, the echo with :data:`MAX_MESSAGE_BYTES`.
    """

    def __init__(self, max_message_bytes: int) -> None:
        self.max_message_bytes = max_message_bytes
        self._buffer = bytearray()
        self._expected: int | None = None  # payload length once the header is complete
        self._header_bytes = 0

    @property
    def buffered_bytes(self) -> int:
        """Bytes held: a partial header or a partial payload."""
        return len(self._buffer)

    @property
    def mid_frame(self) -> bool:
        """True when part of a frame has arrived (an EOF now truncates a message)."""
        return bool(self._buffer)

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def next_message(self) -> bytes | None:
        """The next complete payload, or None until more bytes arrive.

        Raises:
            MpconnProtocolError: a negative length other than -1, or a length over the limit.
        """
        if self._expected is None:
            if len(self._buffer) < 4:
                return None
            (length,) = struct.unpack_from("!i", self._buffer)
            header = 4
            if length == EXTENDED_LENGTH_MARKER:
                if len(self._buffer) < 12:
                    return None
                (length,) = struct.unpack_from("!Q", self._buffer, 4)
                header = 12
            elif length < 0:
                raise MpconnProtocolError(f"a negative frame length {length} (only -1 has a meaning)")
            if length > self.max_message_bytes:
                raise MpconnProtocolError(
                    f"a frame of {length} bytes, over the limit of {self.max_message_bytes} here"
                )
            self._expected, self._header_bytes = length, header
        end = self._header_bytes + self._expected
        if len(self._buffer) < end:
            return None
        payload = bytes(self._buffer[self._header_bytes : end])
        del self._buffer[:end]
        self._expected = None
        return payload


# --- the HMAC challenge ---------------------------------------------------------------------


def digest_of(message: bytes) -> tuple[str, bytes]:
    """Split a challenge or a MAC into (digest name, payload); ``""`` for the legacy form.

    Raises:
        AuthenticationFailed: neither a legacy length nor a ``{digest}`` prefix naming an
            allowed digest (CPython: "unsupported message length, missing digest prefix, or
            unsupported digest").
    """
    if len(message) in LEGACY_LENGTHS:
        return "", message
    if message.startswith(b"{"):
        closing = message.find(b"}", 1, _LONGEST_DIGEST_NAME + 2)
        if closing > 0:
            name = message[1:closing].decode("ascii", "replace")
            if name in ALLOWED_DIGESTS:
                return name, message[closing + 1 :]
    raise AuthenticationFailed(
        f"a {len(message)}-byte message with neither a legacy length nor an allowed {{digest}} prefix"
    )


def create_response(authkey: bytes, challenge: bytes) -> bytes:
    """The MAC that answers ``challenge`` (the bytes after ``#CHALLENGE#``).

    A legacy challenge gets a bare HMAC-MD5 of it; a ``{digest}`` one gets ``{digest}`` +
    HMAC-digest over the whole challenge, prefix included (so a peer cannot downgrade it).

    Raises:
        AuthenticationFailed: the challenge is too short or names no allowed digest.
    """
    if len(challenge) < LEGACY_CHALLENGE_BYTES:
        raise AuthenticationFailed(f"a challenge of {len(challenge)} bytes, under {LEGACY_CHALLENGE_BYTES}")
    name, _ = digest_of(challenge)
    if not name:
        return hmac.new(authkey, challenge, "md5").digest()
    return b"{%s}%s" % (name.encode("ascii"), hmac.new(authkey, challenge, name).digest())


def verify_response(authkey: bytes, challenge: bytes, response: bytes) -> None:
    """Check a peer's MAC of the challenge we sent, in constant time.

    A bare 16-byte answer is a legacy client's HMAC-MD5 (accepted, as 3.12 does, so that a
    3.11 Client can still talk to this Listener); otherwise the answer names its digest.

    Raises:
        AuthenticationFailed: a malformed answer, a wrong length, or a wrong MAC.
    """
    name, mac = digest_of(response)
    expected = hmac.new(authkey, challenge, name or "md5").digest()
    if len(expected) != len(mac):
        raise AuthenticationFailed(f"a {name or 'md5'} MAC of {len(mac)} bytes, not {len(expected)}")
    # Timing-safe: an early-exit comparison leaks how many leading bytes were right.
    if not hmac.compare_digest(expected, mac):
        raise AuthenticationFailed("the MAC does not match the challenge under the shared key")


# --- the server ------------------------------------------------------------------------------


class ListenerState(enum.Enum):
    """Where a Listener's connection is (the one state table its methods consult)."""

    AWAIT_ANSWER = "our challenge sent; awaiting the client's MAC"
    AWAIT_CHALLENGE = "client welcomed; awaiting its challenge"
    AWAIT_VERDICT = "our MAC sent; awaiting the client's #WELCOME#"
    AUTHENTICATED = "authenticated both ways; each message is answered"
    CLOSING = "refused or done; sending what is queued, then closing"


# What an authenticated Listener does with each message: the payloads of the frames that
# answer it, in order (the echo's is the message itself; an RPC's, the encoded reply).
MessageAnswerer = Callable[[bytes], Sequence[Chunk]]


class AuthenticatedListenerProtocol:
    """A ``multiprocessing.connection.Listener`` connection, sans-IO: the mutual handshake,
    then each message handed to ``answer`` and its reply payloads sent back as frames.

    Args:
        authkey: the shared key.
        random_bytes: ``n -> n`` unpredictable bytes, for the challenge (ServiceConfig's).
        answer: turns one authenticated message into the payloads that answer it. It is
            never called before both sides are authenticated, so nothing a client sends
            before then reaches it (SPEC.md H6: nothing is echoed or unpickled).
        max_message_bytes: the largest message accepted after the handshake; a longer one
            closes the connection.

    Any refusal (a wrong MAC, a malformed challenge, an oversized handshake message) sends
    ``#FAILURE#`` and closes; a frame broken off by EOF closes without a word.
    """

    def __init__(
        self,
        authkey: bytes,
        random_bytes: Callable[[int], bytes],
        answer: MessageAnswerer,
        *,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
    ) -> None:
        if not authkey:
            raise ValueError("a multiprocessing.connection Listener needs a non-empty authkey")
        self._authkey = authkey
        self._random_bytes = random_bytes
        self._answer = answer
        self._max_message_bytes = max_message_bytes
        self._decoder = FrameDecoder(MAX_HANDSHAKE_MESSAGE_BYTES)
        self._output = OutputQueue()
        self._challenge = b""
        self.state = ListenerState.AWAIT_ANSWER
        self._peer_done = False

    @property
    def wants_input(self) -> bool:
        return self.state is not ListenerState.CLOSING and self._output.pending_bytes < HIGH_WATER_BYTES

    @property
    def wants_close(self) -> bool:
        return self.state is ListenerState.CLOSING or self._peer_done

    def connection_made(self, context: ConnectionContext) -> None:
        # deliver_challenge: b'#CHALLENGE#' + b'{sha256}' + 40 random bytes.
        self._challenge = b"{%s}%s" % (
            CHALLENGE_DIGEST.encode("ascii"),
            self._random_bytes(CHALLENGE_RANDOM_BYTES),
        )
        self._send(CHALLENGE_PREFIX + self._challenge)

    def data_received(self, data: bytes) -> None:
        if self.state is ListenerState.CLOSING:
            return  # refused: what the peer still sends is read and dropped, never parsed
        self._decoder.feed(data)
        while self.state is not ListenerState.CLOSING:
            try:
                message = self._decoder.next_message()
            except MpconnProtocolError:
                self._refuse()
                return
            if message is None:
                return
            self._handle(message)

    def _handle(self, message: bytes) -> None:
        state = self.state
        if state is ListenerState.AWAIT_ANSWER:
            try:
                verify_response(self._authkey, self._challenge, message)
            except AuthenticationFailed:
                self._refuse()
                return
            self._send(WELCOME)
            self.state = ListenerState.AWAIT_CHALLENGE
        elif state is ListenerState.AWAIT_CHALLENGE:
            if not message.startswith(CHALLENGE_PREFIX):
                self._refuse()
                return
            try:
                response = create_response(self._authkey, message[len(CHALLENGE_PREFIX) :])
            except AuthenticationFailed:
                self._refuse()
                return
            self._send(response)
            self.state = ListenerState.AWAIT_VERDICT
        elif state is ListenerState.AWAIT_VERDICT:
            if message != WELCOME:
                self._close()  # the client refused our MAC: nothing more to say
                return
            self.state = ListenerState.AUTHENTICATED
            self._decoder.max_message_bytes = self._max_message_bytes
        elif state is ListenerState.AUTHENTICATED:
            # Header and payload queued apart, so a 64 MiB reply is not copied once more to
            # prepend 4 bytes.
            for payload in self._answer(message):
                self._output.append(encode_header(len(payload)))
                self._output.append(payload)

    def _send(self, payload: bytes) -> None:
        self._output.append(encode_frame(payload))

    def _refuse(self) -> None:
        self._send(FAILURE)
        self._close()

    def _close(self) -> None:
        self.state = ListenerState.CLOSING
        self._decoder = FrameDecoder(0)  # drop whatever was buffered

    def eof_received(self) -> None:
        # A frame cut off by EOF is dropped (CPython: "got end of file during message").
        self._peer_done = True

    def pull_output(self, max_bytes: int) -> Chunk:
        return self._output.pull(max_bytes)

    def connection_lost(self) -> None:
        self._decoder = FrameDecoder(0)


def echo_message(message: bytes) -> tuple[bytes]:
    """mpconn-echo's answer: "each message received is sent back as it came"."""
    return (message,)


class MultiprocessingEchoProtocol(AuthenticatedListenerProtocol):
    """A ``multiprocessing.connection.Listener`` that sends each message back, sans-IO.

    Args:
        authkey: the shared key.
        random_bytes: ``n -> n`` unpredictable bytes, for the challenge (ServiceConfig's).
        max_message_bytes: the largest message echoed; a longer one closes the connection.
    """

    def __init__(
        self, authkey: bytes, random_bytes: Callable[[int], bytes], *, max_message_bytes: int = MAX_MESSAGE_BYTES
    ) -> None:
        super().__init__(authkey, random_bytes, echo_message, max_message_bytes=max_message_bytes)
