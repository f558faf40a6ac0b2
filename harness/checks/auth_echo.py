"""Checkers of auth-echo-tcp (suites/auth_echo_tcp/SPEC.md), over raw sockets with deadlines.

Each checker reads the server's 32-byte challenge (:func:`receive_challenge`), answers it —
rightly, wrongly, with a replayed or truncated answer — and then runs one
:class:`~harness.checks.stream.Conversation`: the payload sent with the answer must come back
byte-exact (then an orderly close after our SHUT_WR), or nothing at all may come back before
the server's close. A refusal may end in a reset as well as a FIN: a server that closes with
our unread payload in its buffer makes its kernel send RST, and that is still a refusal.
"""

from __future__ import annotations

import selectors
import socket

from harness.checks.endpoint import Endpoint
from harness.checks.stream import STALL_TIMEOUT_S, Conversation, Ending, converse, require_complete
from harness.protocols.auth_echo import ANSWER_BYTES, CHALLENGE_BYTES, answer_for
from harness.verdicts import ConformanceFailure, describe_close, describe_data, describe_reset, describe_timeout, preview

PAYLOAD = b"authenticated echo \x00\xff\r\n"


def receive_challenge(sock: socket.socket, endpoint: Endpoint) -> bytes:
    """The server's first 32 bytes, sent unasked."""
    expected = f"a {CHALLENGE_BYTES}-byte challenge, unasked, right after the connect"
    received = bytearray()
    with selectors.DefaultSelector() as selector:
        selector.register(sock, selectors.EVENT_READ)
        while len(received) < CHALLENGE_BYTES:
            wait = endpoint.deadline.cap(STALL_TIMEOUT_S)
            if wait <= 0 or not selector.select(wait):
                raise ConformanceFailure(expected, describe_timeout(wait, len(received), CHALLENGE_BYTES))
            try:
                data = sock.recv(CHALLENGE_BYTES - len(received))
            except BlockingIOError:
                continue
            except ConnectionResetError:
                raise ConformanceFailure(expected, describe_reset(len(received), CHALLENGE_BYTES)) from None
            if not data:
                raise ConformanceFailure(expected, describe_close(len(received), CHALLENGE_BYTES))
            received += data
    return bytes(received)


def check_right_answer_gets_the_echo(endpoint: Endpoint, key: bytes) -> None:
    """HMAC-SHA256(key, challenge) and a payload in one send: the payload comes back, then EOF."""
    expected = f"after the right {ANSWER_BYTES}-byte answer, the {preview(PAYLOAD)} echoed, then a close at our EOF"
    sock = endpoint.connect()
    with sock:
        challenge = receive_challenge(sock, endpoint)
        conversation = Conversation(sock, [answer_for(key, challenge) + PAYLOAD], PAYLOAD, shut_wr=True, read_to_eof=True)
        converse([conversation], endpoint.deadline)
        require_complete(conversation, expected, endpoint.deadline)


def check_challenges_differ(endpoint: Endpoint) -> None:
    """Two connections, two different challenges."""
    challenges = []
    for _ in range(2):
        with endpoint.connect() as sock:
            challenges.append(receive_challenge(sock, endpoint))
    if challenges[0] == challenges[1]:
        raise ConformanceFailure("a different challenge on each of two connections", f"the same challenge twice: {preview(challenges[0])}")


def _check_refused(endpoint: Endpoint, make_answer, what: str, *, whole: bool = True) -> None:
    """Send ``make_answer(challenge)`` (+ the payload when ``whole``), then SHUT_WR: nothing back, a close."""
    expected = f"after {what}: nothing echoed, and the server's close (EOF or reset)"
    with endpoint.connect() as sock:
        answer = make_answer(receive_challenge(sock, endpoint))
        conversation = Conversation(sock, [answer + (PAYLOAD if whole else b"")], b"", shut_wr=True, read_to_eof=True)
        converse([conversation], endpoint.deadline)
        if conversation.ending is Ending.RESET and not conversation.received:
            return  # a refusal by RST: still a refusal
        if conversation.ending is Ending.MISMATCH:
            raise ConformanceFailure(expected, describe_data(b"", bytes(conversation.received)))
        require_complete(conversation, expected, endpoint.deadline)


def check_wrong_answer_refused(endpoint: Endpoint, key: bytes) -> None:
    """An answer under another key, with a payload after it: nothing echoed, a close."""
    other = b"not-" + key
    _check_refused(endpoint, lambda challenge: answer_for(other, challenge), "an answer under the wrong key and a payload")


def check_replayed_answer_refused(endpoint: Endpoint, key: bytes) -> None:
    """The right answer to an earlier connection's challenge does not open a new one."""
    with endpoint.connect() as first:
        earlier = answer_for(key, receive_challenge(first, endpoint))
    _check_refused(endpoint, lambda challenge: earlier, "an answer replayed from an earlier connection and a payload")


def check_truncated_answer_refused(endpoint: Endpoint, key: bytes) -> None:
    """The first 16 bytes of the right answer, then our EOF: nothing echoed, a close, no hang."""
    _check_refused(
        endpoint,
        lambda challenge: answer_for(key, challenge)[: ANSWER_BYTES // 2],
        "the first 16 bytes of the right answer, then our EOF",
        whole=False,
    )

