"""The chapter's XML-RPC client recipe (``ServerProxy``), made safe for untrusted servers.

The chapter talks to its KeyValueServer with ``xmlrpc.client.ServerProxy(url, allow_none=True)``.
That proxy trusts the server: no timeout (a silent server hangs the client forever) and the
stdlib's expat parser for the reply. :func:`server_proxy` is the same recipe with a timeout
on every socket operation and replies parsed by defusedxml's parser with a nesting bound
(harness.apps.xmlrpc_service.safe_loads), so a hostile reply cannot expand entities or
recurse without bound. :func:`encode_call` / :func:`decode_reply` are the wire level the
suites use with their own bounded HTTP connection.
"""

from __future__ import annotations

import http.client
import itertools
import os
import random
import secrets
import xmlrpc.client
from typing import Any

from harness.apps.xmlrpc_service import safe_loads
from harness.clients.requesters import KeepAliveHttpRequester, RequestOptions, RoundTripError

DEFAULT_TIMEOUT_S = 10.0


def encode_call(method: str, params: tuple) -> bytes:
    """A methodCall document (UTF-8). Raises OverflowError for an int past 32 bits."""
    return xmlrpc.client.dumps(params, method, encoding="utf-8", allow_none=False).encode("utf-8")


def decode_reply(body: bytes) -> Any:
    """The value of a methodResponse.

    Raises:
        xmlrpc.client.Fault: the reply is a fault.
        Exception: the reply is not a well-formed, safe XML-RPC response (defusedxml's
            refusals, ExpatError, ResponseError, NestingTooDeep...).
    """
    params, _method = safe_loads(body)
    if len(params) != 1:
        raise xmlrpc.client.ResponseError(f"a methodResponse holds one value, this one {len(params)}")
    return params[0]


class _SafeTransport(xmlrpc.client.Transport):
    """The stdlib transport with a timeout and defused reply parsing."""

    def __init__(self, timeout: float) -> None:
        super().__init__(use_builtin_types=True)
        self._timeout = timeout

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        connection = super().make_connection(host)
        connection.timeout = self._timeout
        return connection

    def parse_response(self, response: http.client.HTTPResponse) -> tuple:
        body = response.read()
        return (decode_reply(body),)


def server_proxy(url: str, *, timeout: float = DEFAULT_TIMEOUT_S) -> xmlrpc.client.ServerProxy:
    """``ServerProxy(url)`` as the chapter uses it, with a timeout and safe parsing.

    Example: ``server_proxy("http://127.0.0.1:15000").set("foo", "bar")``.
    """
    return xmlrpc.client.ServerProxy(url, transport=_SafeTransport(timeout), allow_none=False, use_builtin_types=True)


# --- the key-value service under load ----------------------------------------------------------

# The path the chapter's SimpleXMLRPCServer answers on (and every server here).
RPC_PATH = "/RPC2"

# Keys each requester works on: few enough that set/get/delete keep hitting keys that exist,
# and that a ``keys`` reply (every key on the server, ours among them) stays short.
KEYS_PER_REQUESTER = 8

# The operations a requester draws from, with weights: mostly reads and writes, a few
# ``keys`` listings (they grow with the number of users).
KEY_VALUE_OPERATIONS = ("set",) * 4 + ("get",) * 4 + ("exists",) * 2 + ("delete",) * 2 + ("keys",)


class KeyValueMismatchError(RoundTripError):
    """The key-value server answered differently from the model of what this client stored."""


_requester_numbers = itertools.count(1)


class KeyValueRequester(KeepAliveHttpRequester):
    """One keep-alive HTTP connection doing KeyValueServer calls, each reply checked against a model.

    The requester owns a key prefix no other requester uses (process id, a counter, a random
    token), so its in-memory model (a dict) is exactly what the server must hold under that
    prefix, whatever other clients do meanwhile: ``get`` returns the modelled value or the
    "no such key" fault when the model has none; ``exists`` and ``delete`` say whether the
    model has the key; ``keys``, filtered to the prefix, lists exactly the model's keys.

    Args:
        address: the server (loopback).
        options: ``connect_timeout_s`` bounds the connect; ``reply_timeout_s`` each reply
            (None: until :meth:`interrupt`).
        seed: the operation sequence's seed (default: drawn at random).

    Resource handling: owns one HTTP connection until :meth:`close`.
    """

    def __init__(self, address: tuple[str, int], options: RequestOptions, seed: int | None = None) -> None:
        super().__init__(address, options)
        self.prefix = f"wirecheck-{os.getpid()}-{next(_requester_numbers)}-{secrets.token_hex(3)}:"
        self.model: dict[str, str] = {}
        self._random = random.Random(seed if seed is not None else secrets.randbits(32))
        self._sequence = itertools.count(1)

    def _call(self, method: str, params: tuple) -> tuple[Any, bytes]:
        """One call; returns the value (or the Fault) and the reply's body."""
        body = encode_call(method, params)
        try:
            self.connection.request("POST", RPC_PATH, body, {"Content-Type": "text/xml"})
            response = self.connection.getresponse()
            reply = response.read()
        except http.client.HTTPException as error:
            raise KeyValueMismatchError(f"expected an HTTP response / actual: {type(error).__name__}: {error}") from None
        if response.status != 200:
            raise KeyValueMismatchError(f"{method}: expected HTTP 200 / actual: {response.status}")
        try:
            return decode_reply(reply), reply
        except xmlrpc.client.Fault as fault:
            return fault, reply
        except Exception as error:  # whatever the parser refused: the reply is not XML-RPC
            raise KeyValueMismatchError(f"{method}: expected a methodResponse / actual: {type(error).__name__}: {error}") from None

    def request(self) -> int:
        operation = self._random.choice(KEY_VALUE_OPERATIONS)
        key = f"{self.prefix}{self._random.randrange(KEYS_PER_REQUESTER)}"
        if operation == "set":
            value = f"value-{next(self._sequence)}"
            result, reply = self._call("set", (key, value))
            self.model[key] = value
            expected: Any = True
        elif operation == "get":
            result, reply = self._call("get", (key,))
            if key not in self.model:
                if not isinstance(result, xmlrpc.client.Fault):
                    raise KeyValueMismatchError(f"get {key!r}: expected a fault (no such key) / actual: {result!r}")
                return len(reply)
            expected = self.model[key]
        elif operation == "exists":
            result, reply = self._call("exists", (key,))
            expected = key in self.model
        elif operation == "delete":
            result, reply = self._call("delete", (key,))
            expected = self.model.pop(key, None) is not None
        else:
            everything, reply = self._call("keys", ())
            result = sorted(name for name in everything if isinstance(name, str) and name.startswith(self.prefix)) \
                if isinstance(everything, list) else everything
            expected = sorted(self.model)
            operation, key = "keys", self.prefix + "*"
        if isinstance(result, xmlrpc.client.Fault) or result != expected:
            raise KeyValueMismatchError(f"{operation} {key!r}: expected {expected!r} / actual: {result!r}")
        return len(reply)



def key_value_requester(address: tuple[str, int], options: RequestOptions) -> KeyValueRequester:
    """The key-value service's requester factory (harness/clients/requesters.py)."""
    return KeyValueRequester(address, options)
