"""The chapter's "authenticating clients simply" recipe made right: an HMAC challenge, then echo.

Wire format (the normative text is suites/auth_echo_tcp/SPEC.md):

    S: 32 random bytes (the challenge; fresh on every connection)
    C: 32 bytes, HMAC-SHA256(shared key, challenge)
    S: compares in constant time; right -> everything after the answer is echoed (RFC 862),
       wrong -> the connection is closed and nothing is ever echoed.

Differences from the recipe: the recipe's ``hmac.new(secret_key, message)`` has no digestmod
(an error since Python 3.8; MD5 before), reads the answer with one ``recv(len(digest))``
(which may return fewer bytes), and takes its randomness from ``os.urandom`` inside the
server; here the digest is SHA-256, the answer is buffered until all 32 bytes are in, and the
challenge comes from the configuration's ``random_bytes`` (tests pass a deterministic one).
There is no status byte: a client learns it was accepted when its data come back.
"""

from __future__ import annotations

import enum
import hmac
from typing import Callable

from harness.protocols.base import Chunk, ConnectionContext
from harness.protocols.echo import EchoProtocol

# 256 bits of challenge: as long as the MAC, so a guessed or replayed answer is hopeless.
CHALLENGE_BYTES = 32

# HMAC-SHA256's output length: the answer the server waits for.
ANSWER_BYTES = 32

ANSWER_DIGEST = "sha256"


def answer_for(key: bytes, challenge: bytes) -> bytes:
    """The client's answer: HMAC-SHA256(key, challenge)."""
    return hmac.new(key, challenge, ANSWER_DIGEST).digest()


class AuthState(enum.Enum):
    """Where a connection is: the one state table the protocol consults."""

    AWAIT_ANSWER = "challenge sent; buffering the client's 32-byte answer"
    ECHOING = "answer verified; every byte after it is echoed"
    CLOSING = "answer refused, or the peer left before answering; nothing is echoed"


class AuthEchoProtocol:
    """Challenge, verify HMAC-SHA256 with ``hmac.compare_digest``, then RFC 862 echo.

    Args:
        key: the shared secret.
        random_bytes: ``n -> n`` unpredictable bytes (ServiceConfig's), for the challenge.
    """

    def __init__(self, key: bytes, random_bytes: Callable[[int], bytes]) -> None:
        if not key:
            raise ValueError("auth-echo-tcp needs a non-empty key")
        self._key = key
        self._random_bytes = random_bytes
        self._challenge = b""
        self._pending_challenge = b""  # the part of the challenge not yet pulled
        self._answer = bytearray()
        self._echo = EchoProtocol()
        self.state = AuthState.AWAIT_ANSWER

    @property
    def wants_input(self) -> bool:
        if self.state is AuthState.ECHOING:
            return self._echo.wants_input
        return self.state is AuthState.AWAIT_ANSWER

    @property
    def wants_close(self) -> bool:
        if self.state is AuthState.ECHOING:
            return self._echo.wants_close
        return self.state is AuthState.CLOSING

    def connection_made(self, context: ConnectionContext) -> None:
        # SPEC: "a fresh challenge of 32 random bytes on every connection"
        self._challenge = self._random_bytes(CHALLENGE_BYTES)
        self._echo.connection_made(context)
        self._pending_challenge = self._challenge

    def data_received(self, data: bytes) -> None:
        if self.state is AuthState.ECHOING:
            self._echo.data_received(data)
            return
        if self.state is AuthState.CLOSING:
            return  # refused: read and dropped, never echoed
        needed = ANSWER_BYTES - len(self._answer)
        self._answer += data[:needed]
        if len(self._answer) < ANSWER_BYTES:
            return
        # Timing-safe: an early-exit comparison would tell an attacker how many leading bytes
        # of a forged answer were right.
        if hmac.compare_digest(bytes(self._answer), answer_for(self._key, self._challenge)):
            self.state = AuthState.ECHOING
            if data[needed:]:
                self._echo.data_received(data[needed:])  # what came with the answer is echoed
        else:
            self.state = AuthState.CLOSING
        self._answer.clear()

    def eof_received(self) -> None:
        if self.state is AuthState.ECHOING:
            self._echo.eof_received()
        else:
            self.state = AuthState.CLOSING  # a truncated answer: refused, not waited on

    def pull_output(self, max_bytes: int) -> Chunk:
        if self._pending_challenge:
            chunk, self._pending_challenge = self._pending_challenge[:max_bytes], self._pending_challenge[max_bytes:]
            return chunk
        if self.state is AuthState.ECHOING:
            return self._echo.pull_output(max_bytes)
        return b""

    def connection_lost(self) -> None:
        self._echo.connection_lost()
