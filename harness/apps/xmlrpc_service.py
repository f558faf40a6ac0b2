"""XML-RPC as a WSGI application: the chapter's KeyValueServer and UserLand's validator1.

The chapter serves a KeyValueServer (set, get, delete, exists, keys) with
``SimpleXMLRPCServer``. Here the same methods are registered on a dispatcher that is also a
WSGI application, so they ride the HTTP gateway on every runner (and TLS), and the same
registrations feed the ``stdlib-xmlrpc`` runner (the chapter's SimpleXMLRPCServer itself).

Untrusted XML is parsed with defusedxml's expat parser (written for exactly this: no DTDs
with entities, no external references), which refuses an entity-expansion bomb or an
external entity before it expands; nesting deeper than ``MAX_NESTING`` is refused while
parsing, so a deeply nested request cannot exhaust the stack when the reply is marshalled;
a body past the gateway's limit never reaches the parser (413). Every refusal is an XML-RPC
fault with the interoperability codes (-32700 parse error, -32600 invalid request, -32601
method not found, -32602 invalid params, -32603 internal error), answered with HTTP 200 as
the XML-RPC spec requires ("Unless there's a lower-level error, always return 200 OK").

Method dispatch, ``system.listMethods``, ``system.methodHelp``, ``system.methodSignature``
and ``system.multicall`` are the standard library's SimpleXMLRPCDispatcher: it is the
chapter's own machinery, and well kept; only its parsing is replaced.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import threading
import xmlrpc.client
from typing import Any, Callable, Iterable
from xmlrpc.server import SimpleXMLRPCDispatcher

import defusedxml
from defusedxml.xmlrpc import DefusedExpatParser

StartResponse = Callable[..., Any]

# XML-RPC fault codes for interoperability (the specification for fault codes of
# xmlrpc-epi, adopted by most implementations).
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603

# Arrays and structs nested deeper than this are refused while parsing.
MAX_NESTING = 64

XML_TYPE = "text/xml"


class NestingTooDeep(ValueError):
    """A request whose arrays and structs nest deeper than MAX_NESTING."""


class _BoundedParser(DefusedExpatParser):
    """defusedxml's expat parser, also refusing nesting deeper than MAX_NESTING."""

    def __init__(self, target: Any) -> None:
        super().__init__(target)
        self._depth = 0
        start, end = self._parser.StartElementHandler, self._parser.EndElementHandler

        def on_start(tag: str, attrs: Any) -> None:
            if tag in ("array", "struct"):
                self._depth += 1
                if self._depth > MAX_NESTING:
                    raise NestingTooDeep(f"arrays and structs nested deeper than {MAX_NESTING}")
            start(tag, attrs)

        def on_end(tag: str) -> None:
            if tag in ("array", "struct"):
                self._depth -= 1
            end(tag)

        self._parser.StartElementHandler = on_start
        self._parser.EndElementHandler = on_end


def safe_loads(data: bytes) -> tuple[tuple, str | None]:
    """``xmlrpc.client.loads`` with defusedxml's parser and the nesting bound.

    Raises:
        xmlrpc.client.Fault: a fault response (for a client).
        defusedxml.DefusedXmlException, NestingTooDeep, xml.parsers.expat.ExpatError,
        xmlrpc.client.ResponseError, ValueError: untrusted input refused.
    """
    unmarshaller = xmlrpc.client.Unmarshaller(use_builtin_types=True)
    parser = _BoundedParser(unmarshaller)
    parser.feed(data)
    parser.close()
    return unmarshaller.close(), unmarshaller.getmethodname()


def fault_response(code: int, message: str) -> bytes:
    return xmlrpc.client.dumps(xmlrpc.client.Fault(code, message), methodresponse=True, allow_none=False).encode("utf-8")


class XmlRpcApplication(SimpleXMLRPCDispatcher):
    """A SimpleXMLRPCDispatcher that is a WSGI application and parses requests safely.

    Args:
        functions: ``{name: callable}`` to register (their docstrings answer methodHelp).
    """

    def __init__(self, functions: dict[str, Callable[..., Any]]) -> None:
        super().__init__(allow_none=False, encoding="utf-8", use_builtin_types=True)
        self.functions_to_register = functions
        for name, function in functions.items():
            self.register_function(function, name)
        self.register_introspection_functions()
        self.register_multicall_functions()

    def _marshaled_dispatch(self, data: bytes, dispatch_method: Any = None, path: Any = None) -> bytes:
        try:
            params, method = safe_loads(data)
        except (defusedxml.DefusedXmlException, NestingTooDeep) as exc:
            return fault_response(PARSE_ERROR, f"refused: {type(exc).__name__}: {exc}")
        except Exception as exc:  # not XML, not XML-RPC
            return fault_response(PARSE_ERROR, f"parse error: {type(exc).__name__}: {exc}")
        if method is None:
            return fault_response(INVALID_REQUEST, "no methodName: not an XML-RPC call")
        try:
            result = self._dispatch(method, params)
            return xmlrpc.client.dumps((result,), methodresponse=True, allow_none=False, encoding="utf-8").encode("utf-8")
        except xmlrpc.client.Fault as fault:
            return fault_response(fault.faultCode, fault.faultString)
        except Exception as exc:
            return fault_response(_fault_code(exc), f"{type(exc).__name__}: {exc}")

    def _dispatch(self, method: str, params: tuple) -> Any:
        if method not in self.funcs:
            raise xmlrpc.client.Fault(METHOD_NOT_FOUND, f"method {method!r} is not supported")
        try:
            return self.funcs[method](*params)
        except TypeError as exc:
            if _is_arity_error(exc):
                raise xmlrpc.client.Fault(INVALID_PARAMS, f"{method}: {exc}") from None
            raise

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] != "POST":
            body = b"XML-RPC: POST a methodCall\n"
            start_response("405 Method Not Allowed", [("Allow", "POST"), ("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
            return [body]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        reply = self._marshaled_dispatch(environ["wsgi.input"].read(length))
        start_response("200 OK", [("Content-Type", XML_TYPE), ("Content-Length", str(len(reply)))])
        return [reply]


def _fault_code(exc: Exception) -> int:
    if isinstance(exc, (TypeError, ValueError, KeyError, OverflowError)):
        return INVALID_PARAMS
    return INTERNAL_ERROR


def _is_arity_error(exc: TypeError) -> bool:
    text = str(exc)
    return "positional argument" in text or "takes" in text or "missing" in text


# --- the chapter's KeyValueServer -------------------------------------------------------------


class KeyValueStore:
    """The KeyValueServer's data, shared by every thread and process of one server.

    Runners that fork (``forking``, ``prefork-processes``) serve connections in other
    processes, so a dict would give each its own data; SQLite in a private temporary file
    (created once, before any fork) is shared by all of them, with its own locking. Values
    are kept as their XML-RPC marshalling (never pickled), parsed back with the defused
    parser.

    Resource handling: the database file is removed when the server process that made it
    exits (atexit in the creating process only).
    """

    def __init__(self) -> None:
        handle, self._path = tempfile.mkstemp(prefix="wirecheck-kv-", suffix=".sqlite3")
        os.close(handle)
        self._creator = os.getpid()
        self._local = threading.local()
        with self._connect() as connection:
            connection.execute("CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        import atexit

        atexit.register(self._remove)

    def _remove(self) -> None:
        if os.getpid() == self._creator:
            for suffix in ("", "-journal", "-wal", "-shm"):
                try:
                    os.unlink(self._path + suffix)
                except FileNotFoundError:
                    pass

    def _connect(self) -> sqlite3.Connection:
        key = os.getpid()
        connection = getattr(self._local, "connection", None)
        if connection is None or getattr(self._local, "pid", None) != key:
            connection = sqlite3.connect(self._path, timeout=30.0, isolation_level=None)
            self._local.connection, self._local.pid = connection, key
        return connection

    def set(self, key: str, value: Any) -> bool:
        """Set key to value. Returns True."""
        marshalled = xmlrpc.client.dumps((value,), allow_none=False)
        self._connect().execute("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", (_key(key), marshalled))
        return True

    def get(self, key: str) -> Any:
        """The value of key; a fault (-32602, "no such key") when it is not set."""
        row = self._connect().execute("SELECT value FROM kv WHERE key = ?", (_key(key),)).fetchone()
        if row is None:
            raise xmlrpc.client.Fault(INVALID_PARAMS, f"no such key: {key!r}")
        return safe_loads(row[0].encode("utf-8"))[0][0]

    def delete(self, key: str) -> bool:
        """Delete key. Returns True if it was set, False otherwise."""
        return self._connect().execute("DELETE FROM kv WHERE key = ?", (_key(key),)).rowcount > 0

    def exists(self, key: str) -> bool:
        """Whether key is set."""
        return self._connect().execute("SELECT 1 FROM kv WHERE key = ?", (_key(key),)).fetchone() is not None

    def keys(self) -> list[str]:
        """Every key that is set, sorted."""
        return [row[0] for row in self._connect().execute("SELECT key FROM kv ORDER BY key")]


def _key(key: Any) -> str:
    if not isinstance(key, str):
        raise TypeError(f"keys are strings, not {type(key).__name__}")
    return key


def key_value_application() -> XmlRpcApplication:
    store = KeyValueStore()
    return XmlRpcApplication(
        {name: getattr(store, name) for name in ("set", "get", "delete", "exists", "keys")}
    )


# --- UserLand's validator1 -----------------------------------------------------------------------


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise xmlrpc.client.Fault(INVALID_PARAMS, message)


def array_of_structs_test(structs: list) -> int:
    """Sum of the "curly" members of an array of structs."""
    _require(isinstance(structs, list) and all(isinstance(s, dict) for s in structs), "an array of structs")
    return sum(item["curly"] for item in structs)


def count_the_entities(text: str) -> dict:
    """Counts of <, >, &, ' and " in a string."""
    _require(isinstance(text, str), "a string")
    return {
        "ctLeftAngleBrackets": text.count("<"),
        "ctRightAngleBrackets": text.count(">"),
        "ctAmpersands": text.count("&"),
        "ctApostrophes": text.count("'"),
        "ctQuotes": text.count('"'),
    }


def easy_struct_test(struct: dict) -> int:
    """moe + larry + curly of a struct."""
    return struct["moe"] + struct["larry"] + struct["curly"]


def echo_struct_test(struct: dict) -> dict:
    """The struct, unchanged."""
    _require(isinstance(struct, dict), "a struct")
    return struct


def many_types_test(number: int, boolean: bool, string: str, double: float, when: Any, data: bytes) -> list:
    """The six parameters, as an array."""
    return [number, boolean, string, double, when, data]


def moderate_size_array_check(strings: list) -> str:
    """The first and last strings of the array, concatenated."""
    _require(isinstance(strings, list) and strings and all(isinstance(s, str) for s in strings), "a non-empty array of strings")
    return strings[0] + strings[-1]


def nested_struct_test(calendar: dict) -> int:
    """moe + larry + curly of calendar["2000"]["04"]["01"]."""
    return easy_struct_test(calendar["2000"]["04"]["01"])


def simple_struct_return_test(number: int) -> dict:
    """number times 10, 100 and 1000."""
    return {"times10": number * 10, "times100": number * 100, "times1000": number * 1000}


VALIDATOR1 = {
    "validator1.arrayOfStructsTest": array_of_structs_test,
    "validator1.countTheEntities": count_the_entities,
    "validator1.easyStructTest": easy_struct_test,
    "validator1.echoStructTest": echo_struct_test,
    "validator1.manyTypesTest": many_types_test,
    "validator1.moderateSizeArrayCheck": moderate_size_array_check,
    "validator1.nestedStructTest": nested_struct_test,
    "validator1.simpleStructReturnTest": simple_struct_return_test,
}


def validator1_application() -> XmlRpcApplication:
    return XmlRpcApplication(VALIDATOR1)
