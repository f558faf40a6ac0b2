"""Hostile XML sent to an XML-RPC server: each must be refused, and the server keep serving.

A refusal is an XML-RPC fault, an HTTP 4xx, or the server closing the connection; what must
never happen is the entity expanded into the reply, a local file's content in the reply, or
a server that stops answering. After each, a normal call must be answered.
"""

from __future__ import annotations

from harness.checks.endpoint import Endpoint
from harness.checks.http import HttpConnection, request
from harness.checks.xmlrpc import expect_value, judge_reply, post
from harness.clients.xmlrpc import encode_call
from harness.verdicts import ConformanceFailure, preview

# The classic billion laughs: ten levels of ten references, 10**9 "lol"s if expanded.
BILLION_LAUGHS = (
    "<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>"
    + "".join(f"<!ENTITY lol{n} '{('&lol' + (str(n - 1) if n > 1 else '') + ';') * 10}'>" for n in range(1, 10))
    + "]><methodCall><methodName>validator1.countTheEntities</methodName><params><param>"
    "<value><string>&lol9;</string></value></param></params></methodCall>"
).encode()

EXTERNAL_ENTITY = (
    "<?xml version='1.0'?><!DOCTYPE x [<!ENTITY secret SYSTEM 'file:///etc/passwd'>]>"
    "<methodCall><methodName>validator1.echoStructTest</methodName><params><param><value><struct>"
    "<member><name>v</name><value><string>&secret;</string></value></member>"
    "</struct></value></param></params></methodCall>"
).encode()

HUGE_BODY_BYTES = 100 << 20
NESTING_DEPTH = 100_000


def _refused(
    endpoint: Endpoint, body: bytes, expected: str, forbidden: bytes | None = None, *, may_accept: bool = False
) -> str:
    """Send ``body``; return how it was refused. Fail if it leaked ``forbidden``, or, unless
    ``may_accept``, if it was accepted."""
    with HttpConnection(endpoint) as connection:
        try:
            connection.send(request("POST", "/RPC2", headers=[("Content-Type", "text/xml")], body=body))
            response = connection.read_response("POST", expected=expected)
        except ConformanceFailure as failure:
            if failure.actual.startswith(("orderly close", "reset")):
                return failure.actual
            raise
    if forbidden is not None and forbidden in response.body:
        raise ConformanceFailure(expected, f"the reply contains {forbidden!r}: {preview(response.body)}")
    if 400 <= response.status < 500:
        return f"HTTP {response.status}"
    reply = judge_reply(response, expected)
    if reply.fault is None and not may_accept:
        raise ConformanceFailure(expected, f"accepted: {reply.describe()}")
    return reply.describe()


def _still_serving(endpoint: Endpoint, expected: str) -> None:
    expect_value(endpoint, "validator1.simpleStructReturnTest", (3,), {"times10": 30, "times100": 300, "times1000": 3000},
                 expected + " (a normal call afterwards)")


def check_entity_bomb_refused(endpoint: Endpoint, expected: str) -> None:
    _refused(endpoint, BILLION_LAUGHS, expected, forbidden=b"lollollol")
    _still_serving(endpoint, expected)


def check_external_entity_refused(endpoint: Endpoint, expected: str) -> None:
    # Leaving the unfetched entity empty (the standard library's expat does) is safe too.
    _refused(endpoint, EXTERNAL_ENTITY, expected, forbidden=b"root:", may_accept=True)
    _still_serving(endpoint, expected)


def check_huge_body_refused(endpoint: Endpoint, expected: str) -> None:
    body = b"<?xml version='1.0'?><methodCall><methodName>validator1.countTheEntities</methodName><params><param><value><string>"
    body += b"x" * (HUGE_BODY_BYTES - len(body))
    _refused(endpoint, body, expected)
    _still_serving(endpoint, expected)


def check_deep_nesting_refused(endpoint: Endpoint, expected: str) -> None:
    body = (
        b"<?xml version='1.0'?><methodCall><methodName>validator1.echoStructTest</methodName><params><param><value>"
        + b"<array><data><value>" * NESTING_DEPTH
        + b"<int>1</int>"
        + b"</value></data></array>" * NESTING_DEPTH
        + b"</value></param></params></methodCall>"
    )
    _refused(endpoint, body, expected)
    _still_serving(endpoint, expected)


# The interoperability fault codes (xmlrpc-epi's specification for fault codes).
INTEROPERABLE_FAULT_CODES = {"parse error": -32700, "method not found": -32601, "invalid params": -32602}


def observe_fault_codes(endpoint: Endpoint, expected: str) -> str:
    """The faultCode each kind of bad call gets, beside the interoperable code for it."""
    calls = {
        "parse error": b"<?xml version='1.0'?><methodCall><methodName>x</methodName><params>",
        "method not found": encode_call("validator1.noSuchMethod", ()),
        "invalid params": encode_call("validator1.easyStructTest", ("not a struct",)),
    }
    seen = []
    for kind, body in calls.items():
        try:
            reply = judge_reply(post(endpoint, body, expected), expected)
            got = reply.fault.faultCode if reply.fault is not None else "no fault"
        except ConformanceFailure as failure:
            got = failure.actual.splitlines()[0][:80]
        seen.append(f"{kind}: {got} (interoperable: {INTEROPERABLE_FAULT_CODES[kind]})")
    return "; ".join(seen)
