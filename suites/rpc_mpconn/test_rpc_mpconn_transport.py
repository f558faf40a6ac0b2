"""rpc-mpconn, section transport: the authenticated connection under the calls (SPEC.md §transport).

The handshake is mpconn-echo's, so its refusals are judged by mpconn's own checkers; what is
particular here is that the handshake leads to calls, that the client's refusal of the server
is obeyed, and that nothing sent during the handshake is decoded.
"""

from harness.cases import case
from harness.checks import Endpoint
from harness.checks import mpconn, rpc
from harness.verdicts import MUST

T1 = (
    'SPEC.md T1: "The server MUST run the mutual handshake of suites/mpconn_echo/SPEC.md (H1-H8): a fresh '
    "challenge on every connection, a correct MAC welcomed, a MAC that is wrong, truncated or replayed "
    "answered with #FAILURE# and a close, and the client's challenge answered with a MAC the client "
    'accepts."'
)
T2 = (
    'SPEC.md T2: "A server MUST NOT decode (and so never unpickle) anything a client sends before both '
    "sides are authenticated; a pickle sent during the handshake, whatever its loading would do, MUST "
    'leave the server unhurt and serving."'
)
T3 = (
    'SPEC.md T3: "When the client refuses the server\'s MAC (#FAILURE#, or anything but #WELCOME#), the '
    'server MUST close the connection and MUST NOT answer anything the client sends after it."'
)


@case(
    "rpc-mpconn/transport/1",
    level=MUST,
    requirement=T1,
    expected="our MAC welcomed, the server's MAC of our {sha256} challenge verified, then add(2, 3) answered 5",
)
def test_mutual_handshake_leads_to_calls(endpoint: Endpoint, authkey: bytes, codec: str) -> None:
    rpc.check_mutual_handshake_then_call(endpoint, authkey, codec)


@case("rpc-mpconn/transport/2", level=MUST, requirement=T1, expected="two connections, two different challenges")
def test_challenge_is_fresh_per_connection(endpoint: Endpoint) -> None:
    mpconn.check_challenges_differ(endpoint)


@case("rpc-mpconn/transport/3", level=MUST, requirement=T1, expected="#FAILURE# and a close after a MAC under the wrong key")
def test_wrong_key_is_refused(endpoint: Endpoint, authkey: bytes) -> None:
    mpconn.check_wrong_key_refused(endpoint, authkey)


@case("rpc-mpconn/transport/4", level=MUST, requirement=T1, expected="#FAILURE# and a close after a MAC cut short")
def test_truncated_mac_is_refused(endpoint: Endpoint, authkey: bytes) -> None:
    mpconn.check_truncated_mac_refused(endpoint, authkey)


@case("rpc-mpconn/transport/5", level=MUST, requirement=T1, expected="#FAILURE# and a close after another connection's MAC")
def test_replayed_mac_is_refused(endpoint: Endpoint, authkey: bytes) -> None:
    mpconn.check_replayed_mac_refused(endpoint, authkey)


@case(
    "rpc-mpconn/transport/6",
    level=MUST,
    requirement=T2,
    expected="pickles that connect back or allocate 1 TiB, sent as our MAC and as our challenge: refused, "
    "never loaded, and the server still serving",
)
def test_pickle_bombs_before_authentication_leave_the_server_serving(endpoint: Endpoint, authkey: bytes, codec: str) -> None:
    rpc.check_pickle_bombs_before_authentication(endpoint, authkey, codec)


@case(
    "rpc-mpconn/transport/7",
    level=MUST,
    requirement=T3,
    expected="after our #FAILURE# to the server's MAC and a request: the server's close, no reply",
)
def test_client_refusal_ends_the_connection(endpoint: Endpoint, authkey: bytes, codec: str) -> None:
    rpc.check_client_refusal_ends_connection(endpoint, authkey, codec)
