"""Checkers of XML-RPC servers: calls over a bounded raw HTTP connection, replies parsed safely.

A call is a POST of a methodCall built by the standard library's marshaller; the reply is
judged at two levels: HTTP (status 200, ``Content-Type: text/xml``, as the XML-RPC spec
says) and XML-RPC (a methodResponse with one value, or a fault whose faultCode is an int and
faultString a string), parsed with defusedxml's parser (a reply is untrusted input too).
Results are compared with the spec's definitions by the checkers; faults come back as
:class:`xmlrpc.client.Fault` for the checkers that expect one.
"""

from __future__ import annotations

import xmlrpc.client
from dataclasses import dataclass
from typing import Any

from harness.checks.endpoint import Endpoint
from harness.checks.http import HttpResponse, exchange, request
from harness.clients.xmlrpc import decode_reply, encode_call
from harness.verdicts import ConformanceFailure, preview

SPEC_200 = 'XML-RPC spec: "Unless there\'s a lower-level error, always return 200 OK."'


@dataclass(frozen=True)
class Reply:
    """An XML-RPC reply: a value, or a fault."""

    value: Any = None
    fault: xmlrpc.client.Fault | None = None

    def describe(self) -> str:
        if self.fault is not None:
            return f"fault {self.fault.faultCode!r}: {str(self.fault.faultString)[:200]!r}"
        return f"value {self.value!r}"[:300]


def post(endpoint: Endpoint, body: bytes, expected: str, *, content_type: str = "text/xml", method: str = "POST") -> HttpResponse:
    headers = [("Content-Type", content_type)] if content_type else []
    return exchange(endpoint, request(method, "/RPC2", headers=headers, body=body), method, expected=expected)


def judge_reply(response: HttpResponse, expected: str) -> Reply:
    """The XML-RPC reply in ``response``; a ConformanceFailure for anything that is not one."""
    if response.status != 200:
        raise ConformanceFailure(expected, f"HTTP status {response.status} ({SPEC_200}): {preview(response.body)}")
    try:
        return Reply(value=decode_reply(response.body))
    except xmlrpc.client.Fault as fault:
        if not isinstance(fault.faultCode, int) or isinstance(fault.faultCode, bool) or not isinstance(fault.faultString, str):
            raise ConformanceFailure(
                expected, f"a fault whose faultCode is {type(fault.faultCode).__name__} and faultString {type(fault.faultString).__name__}"
            ) from None
        return Reply(fault=fault)
    except Exception as exc:
        raise ConformanceFailure(expected, f"not an XML-RPC methodResponse ({type(exc).__name__}: {exc}): {preview(response.body)}") from None


def call(endpoint: Endpoint, method: str, params: tuple, expected: str) -> Reply:
    return judge_reply(post(endpoint, encode_call(method, params), expected), expected)


def expect_value(endpoint: Endpoint, method: str, params: tuple, wanted: Any, expected: str) -> None:
    reply = call(endpoint, method, params, expected)
    if reply.fault is not None or not same_value(reply.value, wanted):
        raise ConformanceFailure(expected, f"{method}{_short(params)} returned {reply.describe()}")


def expect_fault(endpoint: Endpoint, method: str, params: tuple, expected: str) -> Reply:
    reply = call(endpoint, method, params, expected)
    if reply.fault is None:
        raise ConformanceFailure(expected, f"{method}{_short(params)} returned {reply.describe()}, not a fault")
    return reply


def expect_fault_for_body(endpoint: Endpoint, body: bytes, expected: str, **options: Any) -> Reply:
    reply = judge_reply(post(endpoint, body, expected, **options), expected)
    if reply.fault is None:
        raise ConformanceFailure(expected, f"{preview(body)} answered with {reply.describe()}, not a fault")
    return reply


def same_value(got: Any, wanted: Any) -> bool:
    """XML-RPC equality: struct member order ignored, doubles exact, types kept (1 is not True)."""
    if type(got) is not type(wanted):
        return False
    if isinstance(wanted, dict):
        return got.keys() == wanted.keys() and all(same_value(got[key], wanted[key]) for key in wanted)
    if isinstance(wanted, list):
        return len(got) == len(wanted) and all(same_value(a, b) for a, b in zip(got, wanted))
    return got == wanted


def _short(params: tuple) -> str:
    text = repr(params)
    return text if len(text) <= 200 else text[:200] + "…)"
