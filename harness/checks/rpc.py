"""Checkers of rpc-mpconn (suites/rpc_mpconn/SPEC.md): calls over an authenticated connection.

The transport is mpconn-echo's, and so are its client-side tools: every connection here is a
:class:`harness.checks.mpconn.FramedPeer` (each wait bounded by the case's deadline and a 5 s
stall limit), authenticated with mpconn's handshake checkers, and the handshake refusals are
mpconn's own checkers, reused as they are. What is new is the call: a request encoded by the
same :class:`harness.protocols.rpc.Codec` the reference server uses, one reply frame decoded
and judged. A reply from the server under test is never unpickled with ``pickle.loads``: the
pickle codec's client side loads only plain data and built-in exceptions, so a hostile target
cannot run code in the harness.

Every checker takes the codec's name (``json`` or ``pickle``): the server's setting, which the
suite is told (``pytest --codec``).
"""

from __future__ import annotations

import pickle
import socket
import struct
import sys
import textwrap
from typing import Any, Mapping, Sequence

from harness.checks import mpconn
from harness.checks.endpoint import Endpoint
from harness.checks.mpconn import FramedPeer, authenticated_peer, describe_frame
from harness.protocols.mpconn import FAILURE, encode_frame
from harness.protocols.rpc import Codec, MalformedRequest, RpcReply, codec_named
from harness.verdicts import ConformanceFailure

# How deep the hostile request nests (SPEC.md C6): past every default recursion limit.
DEEP_NESTING_LEVELS = 100_000

# Requests sent back to back in one write (SPEC.md C5).
PIPELINED_REQUESTS = 20

# The allocation a bomb asks for if loaded: a terabyte, which no loopback test machine has.
ALLOCATION_BOMB_BYTES = 1 << 40


def call(peer: FramedPeer, codec: Codec, name: str, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None, *, expected: str) -> RpcReply:
    """One request, one reply frame, decoded.

    Raises:
        ConformanceFailure: no reply (close, reset, silence), or a frame that is not a reply.
    """
    reply = peer.exchange(codec.encode_request(name, args, kwargs), expected=expected)
    return decode_reply(codec, reply, expected=expected)


def decode_reply(codec: Codec, payload: bytes, *, expected: str) -> RpcReply:
    try:
        return codec.decode_reply(payload)
    except MalformedRequest as exc:
        raise ConformanceFailure(expected, f"a frame {describe_frame(payload)} that is not a {codec.name} reply: {exc}") from None


def require_result(reply: RpcReply, wanted: Any, *, expected: str) -> None:
    """The reply is a result equal to ``wanted`` with the same types all the way down."""
    if reply.error is not None:
        raise ConformanceFailure(expected, f"an error reply: {reply.error.type_name}: {reply.error.message[:200]}")
    if not same_typed(reply.result, wanted):
        raise ConformanceFailure(expected, f"the result {describe_value(reply.result)}")


def require_error(reply: RpcReply, *, expected: str, type_name: str | None = None, message: str | None = None) -> None:
    """The reply is an error (of ``type_name`` and with ``message``, when given)."""
    if reply.error is None:
        raise ConformanceFailure(expected, f"a result {describe_value(reply.result)} instead of an error reply")
    if type_name is not None and reply.error.type_name != type_name:
        raise ConformanceFailure(expected, f"an error reply of type {reply.error.type_name!r}: {reply.error.message[:200]}")
    if message is not None and reply.error.message != message:
        raise ConformanceFailure(expected, f"an error reply {reply.error.type_name} with the message {reply.error.message[:200]!r}")


def same_typed(got: Any, wanted: Any) -> bool:
    """Equal, and of the same type at every level (1 is not 1.0, True is not 1, a list not a tuple)."""
    if type(got) is not type(wanted):
        return False
    if isinstance(wanted, (list, tuple)):
        return len(got) == len(wanted) and all(same_typed(g, w) for g, w in zip(got, wanted))
    if isinstance(wanted, dict):
        return got.keys() == wanted.keys() and all(same_typed(got[key], wanted[key]) for key in wanted)
    return got == wanted


def describe_value(value: Any) -> str:
    text = repr(value)
    return f"{text[:200]}{'...' if len(text) > 200 else ''} ({type(value).__name__})"


def check_serving(endpoint: Endpoint, authkey: bytes, codec_name: str, *, after: str) -> None:
    """A new connection authenticates and add(2, 3) comes back 5: the server is unhurt."""
    codec = codec_named(codec_name)
    expected = f"after {after}, a new connection authenticated and add(2, 3) answered 5"
    with authenticated_peer(endpoint, authkey) as peer:
        require_result(call(peer, codec, "add", (2, 3), expected=expected), 5, expected=expected)


# --- transport -------------------------------------------------------------------------------


def check_mutual_handshake_then_call(endpoint: Endpoint, authkey: bytes, codec_name: str) -> None:
    """Both directions of the handshake (our MAC welcomed, the server's MAC of our {sha256}
    challenge verified), then add(2, 3) == 5."""
    check_serving(endpoint, authkey, codec_name, after="the mutual handshake")


def check_client_refusal_ends_connection(endpoint: Endpoint, authkey: bytes, codec_name: str) -> None:
    """We say #FAILURE# to the server's MAC and send add(2, 3): a close, no reply."""
    mpconn.check_client_refusal_ends_connection(endpoint, authkey, codec_named(codec_name).encode_request("add", (2, 3)))


class _Allocate:
    """Pickles as ``bytearray(ALLOCATION_BOMB_BYTES)``: a terabyte, if it is ever loaded."""

    def __reduce__(self):
        return (bytearray, (ALLOCATION_BOMB_BYTES,))


def check_pickle_bombs_before_authentication(endpoint: Endpoint, authkey: bytes, codec_name: str) -> None:
    """Pickles sent in the handshake are neither loaded nor fatal; the server goes on serving.

    A pickle that connects back to a listener of ours if loaded (observable, harmless) and one
    that would allocate a terabyte, each sent as our MAC (#FAILURE# and a close expected), and
    the connect-back one as our challenge after a correct MAC (a close, #FAILURE# allowed);
    then a new connection must authenticate and get add(2, 3) answered.
    """
    expected = "no pickle loaded in the handshake: #FAILURE# (or a close), no connection back to us, and the server still serving"
    with socket.create_server(("127.0.0.1", 0)) as canary:
        canary.setblocking(False)
        connect_back = pickle.dumps(mpconn.ConnectBack(canary.getsockname()[:2]), protocol=2)
        allocate = pickle.dumps(_Allocate(), protocol=2)
        for bomb, what in ((connect_back, "a pickle that connects back"), (allocate, "a pickle that allocates 1 TiB")):
            with FramedPeer(endpoint) as peer:
                mpconn.receive_challenge(peer)
                peer.send_message(bomb, expected=expected)
                verdict = peer.receive_message(expected=f"{expected} ({what} sent as our MAC)")
                if verdict != FAILURE:
                    raise ConformanceFailure(expected, f"a frame {describe_frame(verdict)} after {what} sent as our MAC")
                peer.expect_close(expected=expected)
        with FramedPeer(endpoint) as peer:
            mpconn.answer_challenge(peer, authkey, mpconn.receive_challenge(peer))
            peer.send_message(connect_back, expected=expected)
            peer.expect_close(expected=f"{expected} (a pickle sent as our challenge)", allowed_last=FAILURE)
        mpconn.require_no_connection_back(canary, expected)
    check_serving(endpoint, authkey, codec_name, after="pickle bombs in the handshake")


# --- calls -----------------------------------------------------------------------------------

_TYPED_CALLS: tuple[tuple[str, tuple, dict, Any], ...] = (
    ("add", (2, 3), {}, 5),
    ("add", (0.5, 0.25), {}, 0.75),
    ("add", (2, 0.5), {}, 2.5),
    ("echo", ("text, é, ✓",), {}, "text, é, ✓"),
    ("echo", ([1, "a", None, True, False, 2.5, -(2**53)],), {}, [1, "a", None, True, False, 2.5, -(2**53)]),
    ("echo", ({"k": [1, {"n": None}], "": 0.0},), {}, {"k": [1, {"n": None}], "": 0.0}),
    ("echo", (), {"value": 7}, 7),
)
# Under pickle, the types JSON has not.
_PICKLE_TYPED_CALLS: tuple[tuple[str, tuple, dict, Any], ...] = (
    ("echo", (b"\x00\xff bytes",), {}, b"\x00\xff bytes"),
    ("echo", ((1, "tuple"),), {}, (1, "tuple")),
)


def check_results_typed(endpoint: Endpoint, authkey: bytes, codec_name: str) -> None:
    """Each result comes back equal and of the same type (int, float, str, list, dict, bool, null;
    bytes and tuple under pickle); keyword arguments are passed as keywords."""
    codec = codec_named(codec_name)
    calls = _TYPED_CALLS + (_PICKLE_TYPED_CALLS if codec_name == "pickle" else ())
    with authenticated_peer(endpoint, authkey) as peer:
        for name, args, kwargs, wanted in calls:
            shown = ", ".join([repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()])
            expected = f"{name}({shown}) answered with {describe_value(wanted)}"
            require_result(call(peer, codec, name, args, kwargs, expected=expected), wanted, expected=expected)


def check_exceptions_typed(endpoint: Endpoint, authkey: bytes, codec_name: str) -> None:
    """raise_value_error and divide(1, 0) come back as error replies naming their exception types."""
    codec = codec_named(codec_name)
    with authenticated_peer(endpoint, authkey) as peer:
        expected = "raise_value_error('boom, ✓') answered with an error reply: ValueError, 'boom, ✓'"
        reply = call(peer, codec, "raise_value_error", ("boom, ✓",), expected=expected)
        require_error(reply, expected=expected, type_name="ValueError", message="boom, ✓")
        expected = "divide(1, 0) answered with an error reply: ZeroDivisionError"
        require_error(call(peer, codec, "divide", (1, 0), expected=expected), expected=expected, type_name="ZeroDivisionError")
        expected = "divide(1, 4) answered 0.25 after the errors"
        require_result(call(peer, codec, "divide", (1, 4), expected=expected), 0.25, expected=expected)


def check_unknown_function_is_an_error(endpoint: Endpoint, authkey: bytes, codec_name: str) -> None:
    """An unregistered name gets an error reply; the same connection, then a new one, still serve."""
    codec = codec_named(codec_name)
    with authenticated_peer(endpoint, authkey) as peer:
        for name in ("no_such_function", "__import__", "__init__"):
            expected = f"an error reply to a call of {name!r}, which is not registered"
            require_error(call(peer, codec, name, ("os",), expected=expected), expected=expected)
        expected = "add(2, 3) answered 5 on the same connection after calls of unknown functions"
        require_result(call(peer, codec, "add", (2, 3), expected=expected), 5, expected=expected)
    check_serving(endpoint, authkey, codec_name, after="calls of unknown functions")


def _malformed_requests(codec_name: str) -> tuple[tuple[bytes, str], ...]:
    if codec_name == "json":
        return (
            (b"not json at all", "text that is not JSON"),
            (b"\xff\xfe[]", "bytes that are not UTF-8"),
            (b'["add", [1, 2]]', "a two-element array"),
            (b'{"name": "add", "args": [1, 2]}', "an object, not an array"),
            (b'[1, [], {}]', "a number for the function's name"),
            (b'["add", [NaN, 1], {}]', "NaN, which is not JSON"),
        )
    return (
        (b"not a pickle", "bytes that are not a pickle"),
        (pickle.dumps(("add", (1, 2)), 2), "a pickled two-tuple"),
        (pickle.dumps([1, [], {}], 2), "a number for the function's name"),
        (pickle.dumps(("add", (1, 2), {}), 2)[:-5], "a pickle cut short"),
    )


def check_malformed_requests_are_errors(endpoint: Endpoint, authkey: bytes, codec_name: str) -> None:
    """Undecodable or misshapen requests each get an error reply; the connection goes on."""
    codec = codec_named(codec_name)
    with authenticated_peer(endpoint, authkey) as peer:
        for payload, what in _malformed_requests(codec_name):
            expected = f"an error reply to {what}, and the connection kept"
            reply = decode_reply(codec, peer.exchange(payload, expected=expected), expected=expected)
            require_error(reply, expected=expected)
        expected = "add(2, 3) answered 5 on the same connection after the malformed requests"
        require_result(call(peer, codec, "add", (2, 3), expected=expected), 5, expected=expected)


def check_pipelined_requests_answered_in_order(endpoint: Endpoint, authkey: bytes, codec_name: str) -> None:
    """Twenty requests in one write: twenty replies, echo(0) ... echo(19), in that order."""
    codec = codec_named(codec_name)
    expected = f"{PIPELINED_REQUESTS} requests sent in one write answered one reply each, in order"
    with authenticated_peer(endpoint, authkey) as peer:
        requests = b"".join(encode_frame(codec.encode_request("echo", (number,))) for number in range(PIPELINED_REQUESTS))
        peer.send_raw(requests, expected=expected)
        for number in range(PIPELINED_REQUESTS):
            reply = decode_reply(codec, peer.receive_message(expected=f"{expected} (reply {number + 1})"), expected=expected)
            require_result(reply, number, expected=f"{expected}: reply {number + 1} is echo({number})'s")


def deeply_nested_request(codec_name: str, levels: int = DEEP_NESTING_LEVELS) -> bytes:
    """``echo([[[...]]])`` nested ``levels`` deep, written without recursion."""
    if codec_name == "json":
        return b'["echo", [' + b"[" * levels + b"]" * levels + b"], {}]"
    name = "echo".encode("utf-8")
    # PROTO 2; BINUNICODE 'echo'; EMPTY_LIST x levels, APPEND x (levels - 1); TUPLE1; EMPTY_DICT; TUPLE3; STOP
    return (
        pickle.PROTO + bytes([2]) + pickle.BINUNICODE + struct.pack("<I", len(name)) + name
        + pickle.EMPTY_LIST * levels + pickle.APPEND * (levels - 1)
        + pickle.TUPLE1 + pickle.EMPTY_DICT + pickle.TUPLE3 + pickle.STOP
    )


def check_deep_nesting_is_an_error(endpoint: Endpoint, authkey: bytes, codec_name: str) -> None:
    """echo() of a list nested 100,000 deep: an error reply, and the connection goes on."""
    codec = codec_named(codec_name)
    expected = f"an error reply to a request nested {DEEP_NESTING_LEVELS:,} levels deep, and the connection kept"
    with authenticated_peer(endpoint, authkey) as peer:
        reply = decode_reply(codec, peer.exchange(deeply_nested_request(codec_name), expected=expected), expected=expected)
        require_error(reply, expected=expected)
        require_result(call(peer, codec, "add", (2, 3), expected=expected), 5, expected=expected)


# --- codecs ----------------------------------------------------------------------------------


def check_authenticated_pickle_not_loaded(endpoint: Endpoint, authkey: bytes, codec_name: str) -> None:
    """After authentication, a pickled request whose argument connects back to us if loaded:
    an error reply, no connection back, and the connection goes on."""
    codec = codec_named(codec_name)
    expected = f"under the {codec_name} codec, an error reply to a pickle naming a global, which is never called"
    with socket.create_server(("127.0.0.1", 0)) as canary:
        canary.setblocking(False)
        bomb = pickle.dumps(("echo", (mpconn.ConnectBack(canary.getsockname()[:2]),), {}), protocol=2)
        with authenticated_peer(endpoint, authkey) as peer:
            reply = decode_reply(codec, peer.exchange(bomb, expected=expected), expected=expected)
            mpconn.require_no_connection_back(canary, expected)
            require_error(reply, expected=expected)
            require_result(call(peer, codec, "add", (2, 3), expected=expected), 5, expected=expected)


def check_stdlib_client_calls(endpoint: Endpoint, authkey: bytes, codec_name: str, interpreter: str = sys.executable) -> str:
    """``multiprocessing.connection.Client`` calls add, echo (20,000 characters) and
    raise_value_error, in a child interpreter; the key travels on its stdin.

    Returns:
        The client's interpreter version, for the record.
    """
    expected = (
        f"the stdlib Client authenticates and, under the {codec_name} codec, add(2, 3) == 5, echo of 20,000 "
        "characters, and raise_value_error seen as a ValueError"
    )
    return mpconn.run_client_script(
        endpoint, authkey, _STDLIB_CLIENT, expected=expected, arguments=(codec_name,), interpreter=interpreter
    )


# The stdlib Client's side of the recipe's RPCProxy, for CPython 2.7 and 3.x alike (any
# interpreter's Client can be the peer). Under pickle the request goes with
# Connection.send, as the recipe's proxy sends it; the reply is read with recv_bytes and loaded
# with an allow-list, not recv(): the server under test may be hostile, and recv() would run
# whatever its pickle names in this process.
_STDLIB_CLIENT = textwrap.dedent(
    """
    import binascii, io, json, pickle, sys
    from multiprocessing.connection import Client
    try:
        import builtins
    except ImportError:  # Python 2
        import __builtin__ as builtins

    class Plain(pickle.Unpickler):
        def find_class(self, module, name):
            value = getattr(builtins, name, None)
            if module in ("builtins", "exceptions") and isinstance(value, type) and issubclass(value, BaseException):
                return value
            raise pickle.UnpicklingError("refused global %s.%s" % (module, name))

    key = binascii.unhexlify(sys.stdin.read().strip())
    codec = sys.argv[3]
    connection = Client((sys.argv[1], int(sys.argv[2])), authkey=key)
    print(sys.version.split()[0])

    def call(name, *args, **kwargs):
        if codec == "json":
            connection.send_bytes(json.dumps([name, list(args), kwargs]).encode("utf-8"))
            reply = json.loads(connection.recv_bytes().decode("utf-8"))
            if "error" in reply:
                raise RuntimeError(reply["error"]["type"])
            return reply["result"]
        connection.send((name, args, kwargs))
        reply = Plain(io.BytesIO(connection.recv_bytes())).load()
        if isinstance(reply, Exception):
            raise RuntimeError(type(reply).__name__)
        return reply

    assert call("add", 2, 3) == 5, "add(2, 3) is not 5"
    assert call("echo", "z" * 20000) == "z" * 20000, "20,000 characters not echoed"
    try:
        call("raise_value_error", "boom")
    except RuntimeError as error:
        assert str(error) == "ValueError", "raised %s, not ValueError" % error
    else:
        raise AssertionError("raise_value_error did not raise")
    connection.close()
    print("OK")
    """
)
