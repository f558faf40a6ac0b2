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
import xmlrpc.client
from typing import Any

from harness.apps.xmlrpc_service import safe_loads

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
