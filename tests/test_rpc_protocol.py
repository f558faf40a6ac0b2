"""rpc-mpconn's sans-IO server: the mpconn handshake, then one reply per request, both codecs.

Driven by the fake runner (tests/sansio.py): requests are fed whole, one byte at a time, and
back to back with trailing data; the handshake is mpconn's (tests/test_mpconn_protocol.py
checks it against CPython's), so here it is only run, and shown to keep every request
undecoded until it is over. Hypothesis echoes any JSON value (and, under pickle, bytes and
tuples too) through the dispatcher and requires the same types back.
"""

from __future__ import annotations

import os
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.checks.rpc import deeply_nested_request, same_typed
from harness.protocols.mpconn import (
    CHALLENGE_PREFIX,
    FAILURE,
    WELCOME,
    create_response,
    encode_frame,
    verify_response,
)
from harness.protocols.rpc import (
    FUNCTIONS,
    JsonCodec,
    PickleCodec,
    PlainDataUnpickler,
    RpcDispatcher,
    codec_named,
    pickle_protocol_of,
    rpc_listener,
)
from tests.sansio import Drive
from tests.test_mpconn_protocol import KEY, counting_random_bytes, decode_all

def authenticated(codec: str, max_bytes: int = 65536) -> Drive:
    """A connection of the reference server past the mutual handshake."""
    drive = Drive(rpc_listener(KEY, counting_random_bytes(), codec), max_bytes=max_bytes)
    (challenge_message,) = decode_all(drive.start())
    challenge = challenge_message[len(CHALLENGE_PREFIX) :]
    assert decode_all(drive.feed(encode_frame(create_response(KEY, challenge)))) == [WELCOME]
    ours = b"{sha256}" + b"c" * 40
    (server_mac,) = decode_all(drive.feed(encode_frame(CHALLENGE_PREFIX + ours)))
    verify_response(KEY, ours, server_mac)
    assert drive.feed(encode_frame(WELCOME)) == b""
    return drive


@pytest.mark.parametrize("codec", ["json", "pickle"])
@pytest.mark.parametrize("feeding", ["whole", "byte-by-byte", "back-to-back"])
def test_calls_are_answered_in_order_however_the_requests_arrive(codec: str, feeding: str) -> None:
    encoder = codec_named(codec)
    drive = authenticated(codec, max_bytes=7)
    requests = [("add", (2, 3), {}), ("echo", (), {"value": [1, "a", None]}), ("raise_value_error", ("no",), {})]
    stream = b"".join(encode_frame(encoder.encode_request(*request)) for request in requests)
    if feeding == "whole":
        out = b"".join(drive.feed(encode_frame(encoder.encode_request(*request))) for request in requests)
    elif feeding == "byte-by-byte":
        out = b"".join(drive.feed(bytes([byte])) for byte in stream)
    else:  # all at once, with half of a fourth request trailing
        fourth = encode_frame(encoder.encode_request("add", (1, 1)))
        out = drive.feed(stream + fourth[:5])
        assert len(decode_all(out)) == 3
        out += drive.feed(fourth[5:])
    replies = [encoder.decode_reply(payload) for payload in decode_all(out)]
    assert [reply.result for reply in replies[:2]] == [5, [1, "a", None]]
    assert replies[2].error is not None and (replies[2].error.type_name, replies[2].error.message) == ("ValueError", "no")
    if feeding == "back-to-back":
        assert replies[3].result == 2


def test_nothing_is_decoded_before_both_sides_are_authenticated() -> None:
    decoded: list[bytes] = []

    class Recording(RpcDispatcher):
        def answer(self, request: bytes) -> tuple[bytes]:
            decoded.append(request)
            return super().answer(request)

    from harness.protocols.mpconn import AuthenticatedListenerProtocol

    protocol = AuthenticatedListenerProtocol(KEY, counting_random_bytes(), Recording(PickleCodec()).answer)
    drive = Drive(protocol)
    (challenge_message,) = decode_all(drive.start())
    challenge = challenge_message[len(CHALLENGE_PREFIX) :]
    request = encode_frame(pickle.dumps(("add", (1, 2), {})))
    # The MAC, then a request before our challenge, then a request before our #WELCOME#.
    drive.feed(encode_frame(create_response(KEY, challenge)) + request)
    assert protocol.wants_close and decoded == []
    assert drive.feed(request) == b""


def test_a_client_refusing_the_servers_mac_gets_no_answer() -> None:
    drive = Drive(rpc_listener(KEY, counting_random_bytes(), "json"))
    (challenge_message,) = decode_all(drive.start())
    drive.feed(encode_frame(create_response(KEY, challenge_message[len(CHALLENGE_PREFIX) :])))
    drive.feed(encode_frame(CHALLENGE_PREFIX + b"{sha256}" + bytes(40)))
    assert drive.feed(encode_frame(FAILURE) + encode_frame(JsonCodec().encode_request("add", (1, 2)))) == b""
    assert drive.protocol.wants_close


@pytest.mark.parametrize("codec", ["json", "pickle"])
def test_unknown_malformed_and_deep_requests_are_error_replies_and_the_connection_goes_on(codec: str) -> None:
    encoder = codec_named(codec)
    drive = authenticated(codec)
    for request in (
        encoder.encode_request("no_such_function"),
        b"\xff not a request",
        deeply_nested_request(codec),
        encoder.encode_request("add", (1,)),  # wrong arity: the function's TypeError
        encoder.encode_request("add", ("a", "b")),
    ):
        (payload,) = decode_all(drive.feed(encode_frame(request)))
        assert encoder.decode_reply(payload).error is not None
    (payload,) = decode_all(drive.feed(encode_frame(encoder.encode_request("add", (2, 3)))))
    assert encoder.decode_reply(payload).result == 5
    assert not drive.protocol.wants_close


def test_the_unknown_function_error_is_a_lookup_error() -> None:
    reply = JsonCodec().decode_reply(RpcDispatcher(JsonCodec()).answer(b'["nope", [], {}]')[0])
    assert reply.error is not None and reply.error.type_name == "LookupError"


def test_json_results_keep_their_types_and_non_finite_numbers_are_errors() -> None:
    codec = JsonCodec()
    dispatcher = RpcDispatcher(codec)
    value = [1, 1.0, "é", True, None, {"k": [False]}]
    reply = codec.decode_reply(dispatcher.answer(codec.encode_request("echo", (value,)))[0])
    assert same_typed(reply.result, value)
    assert codec.decode_reply(dispatcher.answer(codec.encode_request("add", (1e308, 1e308)))[0]).error is not None
    assert codec.decode_reply(dispatcher.answer(b'["add", [NaN, 1], {}]')[0]).error is not None


def test_json_codec_never_unpickles() -> None:
    codec = JsonCodec()
    reply = codec.decode_reply(RpcDispatcher(codec).answer(pickle.dumps(("echo", (os.system,), {})))[0])
    assert reply.error is not None and reply.error.type_name == "ValueError"


def test_pickle_codec_refuses_every_global_that_is_not_plain_data() -> None:
    codec = PickleCodec()
    dispatcher = RpcDispatcher(codec)
    for value in (os.system, PlainDataUnpickler, pickle.loads):
        reply = codec.decode_reply(dispatcher.answer(pickle.dumps(("echo", (value,), {}), 2))[0])
        assert reply.error is not None and "not plain data" in reply.error.message
    plain = [b"\x00bytes", (1, "t"), {1, 2}, frozenset({3}), bytearray(b"ba"), 1 + 2j]
    reply = codec.decode_reply(dispatcher.answer(pickle.dumps(("echo", (plain,), {}), 2))[0])
    assert reply.result == plain


def test_pickle_replies_use_the_requests_protocol_so_old_clients_can_read_them() -> None:
    dispatcher = RpcDispatcher(PickleCodec())
    for request_protocol, reply_protocol in ((0, 2), (2, 2), (3, 3), (4, 4), (pickle.HIGHEST_PROTOCOL, pickle.HIGHEST_PROTOCOL)):
        (reply,) = dispatcher.answer(pickle.dumps(("add", (2, 3), {}), request_protocol))
        assert pickle_protocol_of(reply) == reply_protocol and pickle.loads(reply) == 5


def test_the_recipes_rpcproxy_double_pickled_request_is_answered_double_pickled() -> None:
    dispatcher = RpcDispatcher(PickleCodec())
    (reply,) = dispatcher.answer(pickle.dumps(pickle.dumps(("add", (2, 3), {}))))
    assert pickle.loads(pickle.loads(reply)) == 5
    (error,) = dispatcher.answer(pickle.dumps(pickle.dumps(("divide", (1, 0), {}))))
    assert isinstance(pickle.loads(pickle.loads(error)), ZeroDivisionError)


def test_exceptions_come_back_as_instances_of_their_type_under_pickle() -> None:
    codec = PickleCodec()
    reply = codec.decode_reply(RpcDispatcher(codec).answer(codec.encode_request("raise_value_error", ("x",)))[0])
    assert isinstance(reply.exception, ValueError) and reply.error is not None and reply.error.message == "x"


def test_the_registered_functions_are_the_fixed_set_and_none_blocks() -> None:
    assert sorted(FUNCTIONS) == ["add", "divide", "echo", "raise_value_error"]
    assert FUNCTIONS["add"](2, 0.5) == 2.5
    with pytest.raises(TypeError):
        FUNCTIONS["add"](True, 1)


def test_an_unknown_codec_is_refused() -> None:
    with pytest.raises(ValueError):
        codec_named("marshal")


def test_pickle_codec_refuses_an_allocation_by_size_and_other_uses_of_the_allowed_globals() -> None:
    class Allocate:
        def __reduce__(self):
            return (bytearray, (1 << 40,))

    class Encode:
        def __reduce__(self):
            import _codecs

            return (_codecs.encode, (b"data", "zlib"))

    codec = PickleCodec()
    dispatcher = RpcDispatcher(codec)
    for value in (Allocate(), Encode()):
        reply = codec.decode_reply(dispatcher.answer(pickle.dumps(("echo", (value,), {}), 4))[0])
        assert reply.error is not None and reply.error.type_name == "ValueError"
    reply = codec.decode_reply(dispatcher.answer(pickle.dumps(("echo", (bytearray(b"ok"),), {}), 3))[0])
    assert reply.result == bytearray(b"ok")


# JSON values: what the JSON codec carries, each kind at its edges (no NaN or Infinity: not JSON).
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)


@given(value=json_values)
def test_any_json_value_is_echoed_with_its_types(value: object) -> None:
    codec = JsonCodec()
    reply = codec.decode_reply(RpcDispatcher(codec).answer(codec.encode_request("echo", (value,)))[0])
    assert reply.error is None and same_typed(reply.result, value)


@given(value=json_values | st.binary() | st.tuples(st.integers(), st.binary()))
def test_any_plain_value_is_echoed_with_its_types_under_pickle(value: object) -> None:
    codec = PickleCodec()
    for protocol in (2, pickle.HIGHEST_PROTOCOL):
        reply = codec.decode_reply(RpcDispatcher(codec).answer(codec.encode_request("echo", (value,), protocol=protocol))[0])
        assert reply.error is None and same_typed(reply.result, value)


def test_a_lone_surrogate_in_a_result_or_an_error_message_is_still_answered_in_json() -> None:
    codec = JsonCodec()
    dispatcher = RpcDispatcher(codec)
    assert codec.decode_reply(dispatcher.answer(b'["echo", ["\\ud800"], {}]')[0]).result == "\ud800"
    error = codec.decode_reply(dispatcher.answer(b'["raise_value_error", ["\\ud800"], {}]')[0]).error
    assert error is not None and error.message == "\ud800"
