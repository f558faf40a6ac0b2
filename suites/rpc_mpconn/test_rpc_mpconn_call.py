"""rpc-mpconn, sections call and codec: requests, results, errors (SPEC.md §call, §codec).

Every case authenticates first (mpconn's handshake as a 3.12+ Client makes it), then calls the
registered functions add, echo, raise_value_error and divide with the codec the suite is told
(``--codec``); the checkers are in harness/checks/rpc.py.
"""

import pytest

from harness.cases import case
from harness.checks import Endpoint
from harness.checks import rpc
from harness.verdicts import MUST, SHOULD

C1 = (
    'SPEC.md C1: "A call of a registered function MUST be answered with its result, typed as the codec '
    "carries it: an integer as an integer, a float as a float, a string as a string, a list as a list, a "
    "mapping as a mapping, true, false and null as themselves (under the pickle codec also bytes as bytes "
    'and a tuple as a tuple); keyword arguments MUST be passed as keywords."'
)
C2 = (
    'SPEC.md C2: "A call whose function raises MUST be answered with an error reply that names the '
    "exception's type and carries its message, distinguishable from any result.\""
)
C3 = (
    'SPEC.md C3: "A call naming a function that is not registered MUST get an error reply, and the server '
    'MUST go on serving that connection and new ones."'
)
C4 = (
    'SPEC.md C4: "A request that the codec cannot decode, or that is not (name, args, kwargs), MUST get an '
    'error reply, and the server MUST go on serving that connection."'
)
C5 = (
    'SPEC.md C5: "Requests sent back to back on one connection MUST each get exactly one reply, in the '
    'order they were sent."'
)
C6 = (
    'SPEC.md C6: "A request nested too deeply to decode or to answer (100,000 levels) MUST get an error '
    'reply, and the server MUST go on serving that connection."'
)
C7 = (
    'SPEC.md C7: "A standard multiprocessing.connection.Client with the same authkey MUST be able to call, '
    "requests past the 16,384 bytes it writes as two sends included: under the JSON codec with "
    "send_bytes/recv_bytes of the JSON texts, under the pickle codec with send((name, args, kwargs)) "
    'and recv()."'
)
K1 = (
    'SPEC.md K1: "Under the JSON codec the server MUST NOT unpickle anything, from an authenticated client '
    'either: a pickle gets an error reply."'
)
K2 = (
    'SPEC.md K2: "Under the pickle codec the server SHOULD load only plain data, from an authenticated '
    "client too: a pickle naming any other global (a function, a class) SHOULD get an error reply without "
    'the global being called."'
)


@case("rpc-mpconn/call/1", level=MUST, requirement=C1, expected="every result equal and of the type sent, keywords passed")
def test_results_come_back_typed(endpoint: Endpoint, authkey: bytes, codec: str) -> None:
    rpc.check_results_typed(endpoint, authkey, codec)


@case(
    "rpc-mpconn/call/2",
    level=MUST,
    requirement=C2,
    expected="error replies naming ValueError (with its message) and ZeroDivisionError, then a result",
)
def test_exceptions_come_back_typed(endpoint: Endpoint, authkey: bytes, codec: str) -> None:
    rpc.check_exceptions_typed(endpoint, authkey, codec)


@case(
    "rpc-mpconn/call/3",
    level=MUST,
    requirement=C3,
    expected="error replies to unregistered names, then add(2, 3) on that connection and on a new one",
)
def test_unknown_function_is_an_error_reply(endpoint: Endpoint, authkey: bytes, codec: str) -> None:
    rpc.check_unknown_function_is_an_error(endpoint, authkey, codec)


@case(
    "rpc-mpconn/call/4",
    level=MUST,
    requirement=C4,
    expected="an error reply to each malformed request, then add(2, 3) on the same connection",
)
def test_malformed_request_is_an_error_reply(endpoint: Endpoint, authkey: bytes, codec: str) -> None:
    rpc.check_malformed_requests_are_errors(endpoint, authkey, codec)


@case("rpc-mpconn/call/5", level=MUST, requirement=C5, expected="20 requests in one write, 20 replies in order")
def test_back_to_back_requests_are_answered_in_order(endpoint: Endpoint, authkey: bytes, codec: str) -> None:
    rpc.check_pipelined_requests_answered_in_order(endpoint, authkey, codec)


@case(
    "rpc-mpconn/call/6",
    level=MUST,
    requirement=C6,
    expected="an error reply to echo() of a list nested 100,000 deep, then add(2, 3) on the same connection",
)
def test_deeply_nested_request_is_an_error_reply(endpoint: Endpoint, authkey: bytes, codec: str) -> None:
    rpc.check_deep_nesting_is_an_error(endpoint, authkey, codec)


@case(
    "rpc-mpconn/call/7",
    level=MUST,
    plaintext_only=True,  # multiprocessing.connection speaks no TLS
    requirement=C7,
    expected="this interpreter's multiprocessing.connection.Client calls add, echo and raise_value_error",
)
def test_stdlib_client_calls(endpoint: Endpoint, authkey: bytes, codec: str, record_observation) -> None:
    version = rpc.check_stdlib_client_calls(endpoint, authkey, codec)
    record_observation(f"Python {version}'s Client: calls answered under the {codec} codec")


@pytest.mark.codec("json")
@case(
    "rpc-mpconn/codec/1",
    level=MUST,
    requirement=K1,
    expected="after authentication, a pickle naming a global: an error reply, never loaded, the connection kept",
)
def test_json_server_never_unpickles(endpoint: Endpoint, authkey: bytes, codec: str) -> None:
    rpc.check_authenticated_pickle_not_loaded(endpoint, authkey, codec)


@pytest.mark.codec("pickle")
@case(
    "rpc-mpconn/codec/2",
    level=SHOULD,
    requirement=K2,
    expected="after authentication, a pickle naming a global: an error reply, never called, the connection kept",
)
def test_pickle_server_loads_only_plain_data(endpoint: Endpoint, authkey: bytes, codec: str) -> None:
    rpc.check_authenticated_pickle_not_loaded(endpoint, authkey, codec)
