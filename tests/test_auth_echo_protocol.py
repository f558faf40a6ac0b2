"""auth-echo-tcp's sans-IO protocol: challenge, constant-time check, then echo; fed whole,
one byte at a time and with trailing data.

SPEC S2's constant-time comparison cannot be observed over loopback, so it is shown here: the
stdlib's ``hmac.compare_digest`` is replaced by a recording fake that answers as told, and the
protocol must hand it the received and the expected MAC and obey its answer (a server that
compared with ``==`` would never call it, and would decide against the fake's answer).
"""

from __future__ import annotations

import hmac
import itertools

import pytest

from harness.protocols.auth_echo import CHALLENGE_BYTES, AuthEchoProtocol, AuthState, answer_for
from tests.sansio import Drive

KEY = b"unit-test-key-not-a-secret"


def counting_random_bytes():
    counter = itertools.count()
    return lambda n: bytes((next(counter) * 7 + i) % 256 for i in range(n))


def started(random_bytes=None, max_bytes: int = 65536) -> tuple[AuthEchoProtocol, Drive, bytes]:
    protocol = AuthEchoProtocol(KEY, random_bytes or counting_random_bytes())
    drive = Drive(protocol, max_bytes=max_bytes)
    challenge = drive.start()
    assert len(challenge) == CHALLENGE_BYTES
    return protocol, drive, challenge


def test_right_answer_then_echo_and_trailing_data_echoed() -> None:
    protocol, drive, challenge = started(max_bytes=5)
    assert drive.feed(answer_for(KEY, challenge) + b"hello") == b"hello"
    assert drive.feed(b" world") == b" world"
    assert not protocol.wants_close
    assert drive.eof() == b"" and protocol.wants_close


def test_answer_fed_one_byte_at_a_time() -> None:
    protocol, drive, challenge = started()
    for byte in answer_for(KEY, challenge):
        assert drive.feed(bytes([byte])) == b""
    assert protocol.state is AuthState.ECHOING
    assert drive.feed(b"x") == b"x"


def test_wrong_answer_closes_and_nothing_is_ever_echoed() -> None:
    protocol, drive, challenge = started()
    assert drive.feed(answer_for(b"another-key-entirely", challenge) + b"smuggled") == b""
    assert protocol.wants_close and not protocol.wants_input
    assert drive.feed(b"later") == b""


def test_truncated_answer_then_eof_closes_without_waiting() -> None:
    protocol, drive, challenge = started()
    assert drive.feed(answer_for(KEY, challenge)[:16]) == b""
    assert drive.eof() == b""
    assert protocol.wants_close and protocol.state is AuthState.CLOSING


def test_challenges_differ_per_connection_and_an_old_answer_is_refused() -> None:
    random_bytes = counting_random_bytes()
    first, _, first_challenge = started(random_bytes)
    second, drive, second_challenge = started(random_bytes)
    assert first_challenge != second_challenge
    assert drive.feed(answer_for(KEY, first_challenge) + b"x") == b""
    assert second.state is AuthState.CLOSING


class RecordingCompareDigest:
    """A stand-in for ``hmac.compare_digest`` that records its arguments and answers ``verdict``
    (None: the real comparison's answer)."""

    def __init__(self, verdict: bool | None) -> None:
        self.verdict = verdict
        self.calls: list[tuple[bytes, bytes]] = []
        self._real = hmac.compare_digest

    def __call__(self, a: bytes, b: bytes) -> bool:
        self.calls.append((bytes(a), bytes(b)))
        return self._real(a, b) if self.verdict is None else self.verdict


def patched_compare(monkeypatch: pytest.MonkeyPatch, verdict: bool | None) -> RecordingCompareDigest:
    fake = RecordingCompareDigest(verdict)
    monkeypatch.setattr(hmac, "compare_digest", fake)  # the module's `hmac.compare_digest` lookup finds it
    return fake


@pytest.mark.parametrize("right", [True, False], ids=["right-answer", "wrong-answer"])
def test_the_answer_is_compared_with_hmac_compare_digest(monkeypatch: pytest.MonkeyPatch, right: bool) -> None:
    compare = patched_compare(monkeypatch, None)
    protocol, drive, challenge = started()
    expected = answer_for(KEY, challenge)
    sent = expected if right else answer_for(b"another-key-entirely", challenge)
    drive.feed(sent + b"data")
    assert len(compare.calls) == 1
    assert sorted(compare.calls[0]) == sorted([sent, expected])  # the received and the expected MAC, in either order
    assert protocol.state is (AuthState.ECHOING if right else AuthState.CLOSING)


def test_a_correct_answer_is_refused_when_compare_digest_says_no(monkeypatch: pytest.MonkeyPatch) -> None:
    compare = patched_compare(monkeypatch, False)
    protocol, drive, challenge = started()
    assert drive.feed(answer_for(KEY, challenge) + b"data") == b""
    assert compare.calls and protocol.state is AuthState.CLOSING and protocol.wants_close


def test_a_wrong_answer_is_taken_when_compare_digest_says_yes(monkeypatch: pytest.MonkeyPatch) -> None:
    compare = patched_compare(monkeypatch, True)
    protocol, drive, challenge = started()
    assert drive.feed(answer_for(b"another-key-entirely", challenge) + b"data") == b"data"
    assert compare.calls and protocol.state is AuthState.ECHOING
