"""auth-echo-tcp, section spec: challenge, HMAC-SHA256 answer, then echo (suites/auth_echo_tcp/SPEC.md)."""

from harness.cases import case
from harness.checks import Endpoint
from harness.checks import auth_echo
from harness.verdicts import MUST

S1 = (
    'SPEC.md S1: "The server MUST send a challenge of 32 random bytes, fresh on every connection, '
    'before reading anything."'
)
S3 = (
    'SPEC.md S3: "When the answer is right, the server MUST echo every byte received after it, '
    'including bytes that arrived in the same segment as the answer, and MUST close after the '
    'client\'s EOF."'
)
S4 = (
    'SPEC.md S4: "When the answer is wrong, replayed from another connection, or cut short by the '
    'client\'s EOF, the server MUST close the connection and MUST NOT echo anything."'
)


@case("auth-echo-tcp/spec/1", level=MUST, requirement=S3, expected="the payload sent with the right answer echoed, then a close")
def test_right_answer_gets_the_echo(endpoint: Endpoint, authkey: bytes) -> None:
    auth_echo.check_right_answer_gets_the_echo(endpoint, authkey)


@case("auth-echo-tcp/spec/2", level=MUST, requirement=S1, expected="two connections, two different 32-byte challenges")
def test_challenge_is_fresh_per_connection(endpoint: Endpoint) -> None:
    auth_echo.check_challenges_differ(endpoint)


@case("auth-echo-tcp/spec/3", level=MUST, requirement=S4, expected="a wrong answer and a payload: nothing echoed, a close")
def test_wrong_answer_is_refused(endpoint: Endpoint, authkey: bytes) -> None:
    auth_echo.check_wrong_answer_refused(endpoint, authkey)


@case("auth-echo-tcp/spec/4", level=MUST, requirement=S4, expected="an earlier connection's answer and a payload: nothing echoed, a close")
def test_replayed_answer_is_refused(endpoint: Endpoint, authkey: bytes) -> None:
    auth_echo.check_replayed_answer_refused(endpoint, authkey)


@case("auth-echo-tcp/spec/5", level=MUST, requirement=S4, expected="half the right answer, then EOF: nothing echoed, a close, no hang")
def test_truncated_answer_is_refused(endpoint: Endpoint, authkey: bytes) -> None:
    auth_echo.check_truncated_answer_refused(endpoint, authkey)

