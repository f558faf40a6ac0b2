"""The Cookbook's RPCHandler over a multiprocessing.connection Listener: ``rpc-mpconn``, sans-IO.

The recipe ("implementing remote procedure calls", the pattern the chapter's "talking between
interpreters" leads to) registers functions by name on an ``RPCHandler``; each connection of a
``multiprocessing.connection.Listener`` carries requests ``(func_name, args, kwargs)`` and gets
back, per request, the function's result or the exception it raised. The normative text
wirecheck judges against is suites/rpc_mpconn/SPEC.md; this module is its reference server and
the one encoder/decoder of its messages (the checkers use the same :class:`Codec` objects as
clients).

Theory of operation. The transport is mpconn-echo's, unchanged and not repeated here: the
frames and the mutual HMAC challenge of :class:`harness.protocols.mpconn.AuthenticatedListenerProtocol`.
That class calls :meth:`RpcDispatcher.answer` only once both sides are authenticated, so a
request is never decoded before then: SPEC.md T2, "A server MUST NOT decode (and so never
unpickle) anything a client sends before both sides are authenticated". Each request frame is
answered by exactly one reply frame, in order; a request that cannot be decoded, names an
unknown function, or raises, gets an error reply and the connection goes on (C3: "A call naming
a function that is not registered MUST get an error reply, and the server MUST go on serving
that connection and new ones").

Two codecs (``--option codec=json|pickle``):

- ``json`` (the default, "the safe option"): a request is the UTF-8 JSON array
  ``[name, [args...], {kwargs...}]``; a reply is ``{"result": value}`` or
  ``{"error": {"type": "ValueError", "message": "..."}}``. Strict RFC 8259: NaN and
  Infinity are refused both ways. Decoding JSON cannot run code, whoever sent it.
- ``pickle`` (the recipe's own): a request is a pickle of the tuple ``(name, args, kwargs)``,
  which is what ``Connection.send((name, args, kwargs))`` writes; a reply is a pickle of the
  result or of the exception instance (the recipe's RPCProxy raises what ``isinstance(result,
  Exception)``). The recipe's RPCProxy pickles once more before ``Connection.send`` pickles
  again; a request that unpickles to ``bytes`` is that form, unpickled once more and answered
  the same way (pickled twice). Replies use the request's pickle protocol (2 at least), so a
  2.7 client can read its answer (a 3.8+ Listener's default protocol 4 is unreadable to it).
  Even after authentication, requests are loaded by :class:`PlainDataUnpickler`, which
  resolves no global beyond a few plain data types (SPEC.md K2): the pickle documentation's
  "Only unpickle data you trust" is honoured twice, by authentication and by the allow-list.

JSON is the default because a JSON server cannot be made to run code by any client, key or no
key; pickle is for peers that are Python and trusted, as the recipe's are.

The registered functions are a small fixed set (:data:`FUNCTIONS`): none blocks or sleeps,
because a sans-IO protocol runs inline in an event-loop runner's one thread, where a sleeping
function would stall every other connection.
"""

from __future__ import annotations

import builtins
import io
import json
import pickle
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from harness.protocols.mpconn import AuthenticatedListenerProtocol

# The codecs a server may be told to use; JSON is the default (see the module docstring).
CODEC_NAMES = ("json", "pickle")
DEFAULT_CODEC = "json"

# The largest request a server reads: generous for calls of plain data, and it bounds what one
# client can make the server hold (the frame header is checked before any payload is kept).
MAX_REQUEST_BYTES = 16 * 1024 * 1024

# An error reply's message is cut to this many characters: a message may quote the request.
MAX_ERROR_MESSAGE_CHARS = 500

# The lowest pickle protocol a reply uses: protocol 2 is read by every CPython from 2.3 on.
MIN_REPLY_PICKLE_PROTOCOL = 2

# The type name of the error reply to a request that cannot be decoded or answered.
MALFORMED_REQUEST_ERROR = "ValueError"
# ... and to a request naming a function that is not registered.
UNKNOWN_FUNCTION_ERROR = "LookupError"


class MalformedRequest(ValueError):
    """A request that its codec cannot decode, or that is not ``(name, args, kwargs)``."""


class UnknownFunction(LookupError):
    """A request naming a function that is not registered."""


@dataclass(frozen=True)
class RemoteError:
    """An error reply, as a client sees it: the exception's type name and its message."""

    type_name: str
    message: str


@dataclass(frozen=True)
class RpcReply:
    """One decoded reply: a result, or an error (then ``result`` is None).

    Attributes:
        result: the function's return value.
        error: the exception the call raised (or the server's refusal of the request).
        exception: for the pickle codec, the exception instance itself (its class is the
            server's): the recipe's RPCProxy raises it.
    """

    result: Any = None
    error: RemoteError | None = None
    exception: BaseException | None = None


# --- the registered functions -------------------------------------------------------------


def add(x: int | float, y: int | float) -> int | float:
    """``x + y`` for numbers (not booleans); a TypeError for anything else."""
    for value in (x, y):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"add() takes numbers, not {type(value).__name__}")
    return x + y


def echo(value: Any) -> Any:
    """The value, unchanged: every type the codec carries comes back as it went."""
    return value


def raise_value_error(message: str) -> None:
    """Always raises ValueError(message): an exception that must come back typed."""
    raise ValueError(message)


def divide(x: int | float, y: int | float) -> float:
    """``x / y``: divide(1, 0) raises ZeroDivisionError, which must come back typed."""
    for value in (x, y):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"divide() takes numbers, not {type(value).__name__}")
    return x / y


# The fixed set a server registers (the recipe's register_function(add) ...): by name.
FUNCTIONS: Mapping[str, Callable[..., Any]] = {
    function.__name__: function for function in (add, echo, raise_value_error, divide)
}


# --- codecs -------------------------------------------------------------------------------


def _plain_request(call: Any) -> tuple[str, tuple, dict]:
    """``call`` as ``(name, args, kwargs)``, or MalformedRequest saying what is wrong."""
    if not isinstance(call, (list, tuple)) or len(call) != 3:
        raise MalformedRequest("a request must be (name, args, kwargs)")
    name, args, kwargs = call
    if not isinstance(name, str):
        raise MalformedRequest(f"the function name must be a string, not {type(name).__name__}")
    if not isinstance(args, (list, tuple)):
        raise MalformedRequest(f"args must be a sequence, not {type(args).__name__}")
    if not isinstance(kwargs, dict) or not all(isinstance(key, str) for key in kwargs):
        raise MalformedRequest("kwargs must be a mapping of names to values")
    return name, tuple(args), kwargs


def _refuse_constant(text: str) -> float:
    raise MalformedRequest(f"{text} is not JSON (RFC 8259 has no NaN or Infinity)")


class JsonCodec:
    """``[name, [args], {kwargs}]`` in, ``{"result": v}`` / ``{"error": {...}}`` out, UTF-8 JSON."""

    name = "json"

    # -- the server's side -------------------------------------------------------------------

    def decode_request(self, payload: bytes) -> tuple[str, tuple, dict]:
        try:
            call = json.loads(payload.decode("utf-8"), parse_constant=_refuse_constant)
        except RecursionError:
            raise MalformedRequest("the request is nested too deeply to decode") from None
        except (UnicodeDecodeError, ValueError) as exc:
            raise MalformedRequest(f"not a JSON request: {exc}") from None
        return _plain_request(call)

    def encode_result(self, value: Any, request: bytes) -> bytes:
        return self._dumps({"result": value})

    def encode_error(self, type_name: str, message: str, exception: BaseException | None, request: bytes) -> bytes:
        return self._dumps({"error": {"type": type_name, "message": message}})

    @staticmethod
    def _dumps(document: Any) -> bytes:
        # allow_nan=False: the result inf (add(1e308, 1e308)) is an error, not invalid JSON.
        # ensure_ascii: a lone surrogate (a client may send "\ud800") is escaped, where UTF-8
        # could not encode it.
        return json.dumps(document, allow_nan=False).encode("ascii")

    # -- the client's side -------------------------------------------------------------------

    def encode_request(self, name: str, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None) -> bytes:
        return self._dumps([name, list(args), dict(kwargs or {})])

    def decode_reply(self, payload: bytes) -> RpcReply:
        """Raises MalformedRequest (here: a malformed *reply*) when it is not a reply."""
        try:
            reply = json.loads(payload.decode("utf-8"), parse_constant=_refuse_constant)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise MalformedRequest(f"not a JSON reply: {exc}") from None
        if isinstance(reply, dict) and set(reply) == {"result"}:
            return RpcReply(result=reply["result"])
        if isinstance(reply, dict) and set(reply) == {"error"}:
            error = reply["error"]
            if isinstance(error, dict) and isinstance(error.get("type"), str) and isinstance(error.get("message"), str):
                return RpcReply(error=RemoteError(error["type"], error["message"]))
        raise MalformedRequest('neither {"result": ...} nor {"error": {"type": ..., "message": ...}}')


def _from_data_only(kind: type) -> Callable[..., Any]:
    """``bytes``/``bytearray`` as pickles call them (empty, of bytes, or of text and an encoding),
    never of a size: ``bytearray(1 << 40)`` would make the loader allocate a terabyte."""

    def make(*args: Any) -> Any:
        if args and not isinstance(args[0], (bytes, str)):
            raise pickle.UnpicklingError(f"{kind.__name__}() is loaded only from data, not from a size")
        return kind(*args)

    return make


def _latin1_bytes(text: Any, encoding: Any = "latin1") -> bytes:
    """``_codecs.encode`` as protocol 2 calls it for Python 3 bytes: text to latin-1, nothing else."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("_codecs.encode is loaded only as protocol 2's latin-1 bytes")
    return text.encode("latin-1")


# The globals a request may name, and what each resolves to: plain data types only (protocol 2
# pickles Python 3 bytes as a call of _codecs.encode; Python 2 pickles name __builtin__).
# Nothing that runs code, and nothing that allocates more than the pickle's own size implies.
_PLAIN_DATA_GLOBALS: Mapping[tuple[str, str], Callable[..., Any]] = {
    **{
        (module, name): factory
        for module in ("builtins", "__builtin__")
        for name, factory in (
            ("set", set),
            ("frozenset", frozenset),
            ("bytes", _from_data_only(bytes)),  # protocol 2's b"": bytes()
            ("bytearray", _from_data_only(bytearray)),
            ("complex", complex),
        )
    },
    ("_codecs", "encode"): _latin1_bytes,
}
# A reply may also carry an exception instance of a built-in exception type.
_BUILTIN_EXCEPTIONS = frozenset(
    name for name, value in vars(builtins).items() if isinstance(value, type) and issubclass(value, BaseException)
)


class PlainDataUnpickler(pickle.Unpickler):
    """An unpickler that resolves only plain data types (and, for replies, built-in exceptions).

    ``pickle.loads`` resolves any global a pickle names and calls it: ``os.system`` included.
    This one refuses every global outside an allow-list, so loading cannot run code.
    """

    def __init__(self, data: bytes, *, exceptions_allowed: bool = False) -> None:
        super().__init__(io.BytesIO(data))
        self._exceptions_allowed = exceptions_allowed

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _PLAIN_DATA_GLOBALS:
            return _PLAIN_DATA_GLOBALS[(module, name)]
        if self._exceptions_allowed and module in ("builtins", "exceptions") and name in _BUILTIN_EXCEPTIONS:
            return getattr(builtins, name)
        raise pickle.UnpicklingError(f"global {module}.{name} is not plain data: refused")


def _load_plain(payload: bytes, *, exceptions_allowed: bool = False) -> Any:
    try:
        return PlainDataUnpickler(payload, exceptions_allowed=exceptions_allowed).load()
    except RecursionError:
        raise MalformedRequest("the pickle is nested too deeply to load") from None
    except Exception as exc:  # UnpicklingError, EOFError, ValueError...: all the peer's doing
        raise MalformedRequest(f"not a pickle of plain data: {type(exc).__name__}: {exc}") from None


def pickle_protocol_of(payload: bytes) -> int:
    """The protocol a pickle was written with (its PROTO opcode; 0 when it has none)."""
    return payload[1] if len(payload) >= 2 and payload[0] == pickle.PROTO[0] else 0


class PickleCodec:
    """The recipe's codec: a pickled ``(name, args, kwargs)`` in, a pickled result or exception out."""

    name = "pickle"

    def __init__(self) -> None:
        # Whether the request being answered came pickled twice (the recipe's RPCProxy): its
        # reply goes the same way. One codec per connection, and one request at a time in it.
        self._double_pickled = False

    # -- the server's side -------------------------------------------------------------------

    def decode_request(self, payload: bytes) -> tuple[str, tuple, dict]:
        self._double_pickled = False
        call = _load_plain(payload)
        if isinstance(call, bytes):
            # The recipe's RPCProxy: pickle.dumps((name, args, kwargs)) sent with
            # Connection.send, which pickles the bytes once more.
            self._double_pickled = True
            call = _load_plain(call)
        return _plain_request(call)

    def encode_result(self, value: Any, request: bytes) -> bytes:
        return self._dumps(value, request)

    def encode_error(self, type_name: str, message: str, exception: BaseException | None, request: bytes) -> bytes:
        if exception is None or type(exception).__name__ not in _BUILTIN_EXCEPTIONS:
            exception = getattr(builtins, type_name, ValueError)(message)
        return self._dumps(exception, request)

    def _dumps(self, value: Any, request: bytes) -> bytes:
        protocol = min(max(pickle_protocol_of(request), MIN_REPLY_PICKLE_PROTOCOL), pickle.HIGHEST_PROTOCOL)
        if self._double_pickled:
            # Answer the recipe's RPCProxy as it asked: pickled, then pickled again.
            return pickle.dumps(pickle.dumps(value, protocol), protocol)
        return pickle.dumps(value, protocol)

    # -- the client's side -------------------------------------------------------------------

    def encode_request(
        self, name: str, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None, *, protocol: int = 4
    ) -> bytes:
        return pickle.dumps((name, tuple(args), dict(kwargs or {})), protocol)

    def decode_reply(self, payload: bytes) -> RpcReply:
        """Loads only plain data and built-in exceptions: a hostile server cannot run code here."""
        value = _load_plain(payload, exceptions_allowed=True)
        if isinstance(value, BaseException):
            return RpcReply(error=RemoteError(type(value).__name__, _message_of(value)), exception=value)
        return RpcReply(result=value)


Codec = JsonCodec | PickleCodec

CODECS: Mapping[str, Callable[[], Codec]] = {"json": JsonCodec, "pickle": PickleCodec}


def codec_named(name: str) -> Codec:
    """The codec ``name`` (``json`` or ``pickle``); a ValueError for anything else."""
    if name not in CODECS:
        raise ValueError(f"must be one of {', '.join(CODEC_NAMES)}, got {name!r}")
    return CODECS[name]()


def parse_codec_name(text: str) -> str:
    """The ``codec`` option's parser."""
    codec_named(text)
    return text


def _message_of(exception: BaseException) -> str:
    text = str(exception.args[0]) if len(exception.args) == 1 else str(exception)
    return text[:MAX_ERROR_MESSAGE_CHARS]


# --- the dispatcher and the server --------------------------------------------------------


class RpcDispatcher:
    """The recipe's ``RPCHandler.handle_connection`` loop body: one request in, one reply out.

    Args:
        codec: the connection's codec.
        functions: the registered functions, by name.
    """

    def __init__(self, codec: Codec, functions: Mapping[str, Callable[..., Any]] = FUNCTIONS) -> None:
        self._codec = codec
        self._functions = functions

    def answer(self, request: bytes) -> tuple[bytes]:
        """The one reply frame's payload for ``request`` (an authenticated message)."""
        try:
            name, args, kwargs = self._codec.decode_request(request)
            function = self._functions.get(name)
            if function is None:
                raise UnknownFunction(f"no function named {name[:100]!r} is registered")
        except MalformedRequest as exc:
            return (self._error(MALFORMED_REQUEST_ERROR, exc, None, request),)
        except UnknownFunction as exc:
            return (self._error(UNKNOWN_FUNCTION_ERROR, exc, None, request),)
        try:
            result = function(*args, **kwargs)
        except Exception as exc:  # the function's exception is the reply, typed
            return (self._error(type(exc).__name__, exc, exc, request),)
        try:
            return (self._codec.encode_result(result, request),)
        except (ValueError, TypeError, RecursionError, pickle.PicklingError) as exc:
            # inf under JSON, a result nested too deeply to encode: the call cannot be answered.
            return (self._error(MALFORMED_REQUEST_ERROR, f"the result cannot be encoded: {exc}", None, request),)

    def _error(self, type_name: str, exc: BaseException | str, exception: BaseException | None, request: bytes) -> bytes:
        message = exc if isinstance(exc, str) else _message_of(exc)
        return self._codec.encode_error(type_name, message[:MAX_ERROR_MESSAGE_CHARS], exception, request)


def rpc_listener(authkey: bytes, random_bytes: Callable[[int], bytes], codec: str = DEFAULT_CODEC) -> AuthenticatedListenerProtocol:
    """One rpc-mpconn connection: the mutual handshake, then requests answered by :data:`FUNCTIONS`.

    Args:
        authkey: the shared key.
        random_bytes: ``n -> n`` unpredictable bytes, for the challenge.
        codec: ``json`` or ``pickle``.
    """
    dispatcher = RpcDispatcher(codec_named(codec))
    return AuthenticatedListenerProtocol(authkey, random_bytes, dispatcher.answer, max_message_bytes=MAX_REQUEST_BYTES)
