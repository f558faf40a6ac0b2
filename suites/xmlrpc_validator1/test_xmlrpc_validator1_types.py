"""xmlrpc-validator1: every XML-RPC type round-tripped at its edges (through echoStructTest
and manyTypesTest), and the common extensions observed (i8, nil).

Requirements are quoted from the XML-RPC specification (xmlrpc.com, "XML-RPC Specification").
Values that must be refused are written as raw XML, since the client library would refuse
to encode them.
"""

import datetime

from harness.cases import case
from harness.checks import Endpoint
from harness.checks import xmlrpc as rpc
from harness.verdicts import INFO, MUST

ECHO = "validator1.echoStructTest"


def raw_echo(value_xml: str) -> bytes:
    return (
        "<?xml version='1.0'?><methodCall><methodName>validator1.echoStructTest</methodName><params><param>"
        f"<value><struct><member><name>v</name>{value_xml}</member></struct></value>"
        "</param></params></methodCall>"
    ).encode("utf-8")


@case("xmlrpc-validator1/types/1", level=MUST,
      requirement='XML-RPC spec: "<i4> or <int> four-byte signed integer" (-2147483648 to 2147483647)',
      expected="-2**31, 2**31-1, 0 and -1 echoed exactly")
def test_int_edges_round_trip(endpoint: Endpoint) -> None:
    for number in (-(2**31), 2**31 - 1, 0, -1):
        rpc.expect_value(endpoint, ECHO, ({"v": number},), {"v": number}, f"{number} echoed")


@case("xmlrpc-validator1/types/2", level=MUST,
      requirement='XML-RPC spec: "<i4> or <int> four-byte signed integer": 2147483648 and -2147483649 are not XML-RPC ints, so they cannot be echoed as one; never a wrapped value',
      expected="a fault (or the exact value as i8) for <int>2147483648</int> and <int>-2147483649</int>, never a wrapped int")
def test_int_just_outside_is_refused_not_wrapped(endpoint: Endpoint) -> None:
    for number in (2**31, -(2**31) - 1):
        reply = rpc.judge_reply(rpc.post(endpoint, raw_echo(f"<value><int>{number}</int></value>"), "no wrap"), "no wrap")
        if reply.fault is None and reply.value != {"v": number}:
            raise rpc.ConformanceFailure(f"a fault for <int>{number}</int>", f"answered {reply.describe()} (wrapped)")


@case("xmlrpc-validator1/types/3", level=MUST,
      requirement='XML-RPC spec: "<boolean> 0 (false) or 1 (true)"',
      expected="true and false echoed as booleans, written 0/1 (a `true` in the reply does not parse)")
def test_booleans_round_trip(endpoint: Endpoint) -> None:
    rpc.expect_value(endpoint, ECHO, ({"t": True, "f": False},), {"t": True, "f": False}, "booleans echoed")


@case("xmlrpc-validator1/types/4", level=MUST,
      requirement='XML-RPC spec: "Any characters are allowed in a string except < and &, which are encoded as &lt; and &amp;."',
      expected="strings with the five XML special characters, tab, LF, non-ASCII and an emoji echoed exactly")
def test_strings_round_trip(endpoint: Endpoint) -> None:
    for text in ("<>&'\"", "a\tb\nc", "caf\u00e9 \u4e2d\u6587 \U0001f600", "", "   spaces   ", "]]>"):
        rpc.expect_value(endpoint, ECHO, ({"s": text},), {"s": text}, f"{text!r} echoed")


@case("xmlrpc-validator1/types/5", level=MUST,
      requirement='XML-RPC spec: "<double> double-precision signed floating point number" (its value must come back as sent: precision kept, no exponent lost)',
      expected="0.1, 1e-300, 1.7976931348623157e308, -2.5 and 123456789.123456789 echoed exactly")
def test_doubles_keep_their_precision(endpoint: Endpoint) -> None:
    for number in (0.1, 1e-300, 1.7976931348623157e308, -2.5, 123456789.123456789, 5e-324):
        rpc.expect_value(endpoint, ECHO, ({"d": number},), {"d": number}, f"{number!r} echoed")


@case("xmlrpc-validator1/types/6", level=MUST,
      requirement='XML-RPC spec: "<dateTime.iso8601> date/time 19980717T14:08:55"',
      expected="a dateTime.iso8601 echoed as the same date and time")
def test_datetime_round_trips(endpoint: Endpoint) -> None:
    moment = datetime.datetime(1998, 7, 17, 14, 8, 55)
    rpc.expect_value(endpoint, ECHO, ({"when": moment},), {"when": moment}, "the dateTime echoed")


@case("xmlrpc-validator1/types/7", level=MUST,
      requirement='XML-RPC spec: "<base64> base64-encoded binary"',
      expected="base64 holding every byte value 0-255 echoed as the same bytes")
def test_base64_round_trips_every_byte(endpoint: Endpoint) -> None:
    data = bytes(range(256)) * 4
    rpc.expect_value(endpoint, ECHO, ({"b": data},), {"b": data}, "every byte value echoed")


@case("xmlrpc-validator1/types/8", level=MUST,
      requirement='XML-RPC spec: "An <array> contains a single <data> element, which can contain any number of <value>s." and "A <struct> contains <member>s"',
      expected="an empty array, an empty struct and arrays nested 20 deep echoed")
def test_empty_and_nested_containers(endpoint: Endpoint) -> None:
    nested: list = ["bottom"]
    for _ in range(19):
        nested = [nested]
    value = {"empty_array": [], "empty_struct": {}, "nested": nested}
    rpc.expect_value(endpoint, ECHO, (value,), value, "containers echoed")


@case("xmlrpc-validator1/types/9", level=MUST,
      requirement='XML-RPC spec: "A <struct> contains <member>s and each <member> contains a <name> and a <value>." (members are found by name; their order carries nothing)',
      expected="easyStructTest with members in the order curly, larry, moe (plus an extra member) still adds them")
def test_struct_member_order_is_not_assumed(endpoint: Endpoint) -> None:
    body = (
        "<?xml version='1.0'?><methodCall><methodName>validator1.easyStructTest</methodName><params><param><value><struct>"
        "<member><name>extra</name><value><int>1000</int></value></member>"
        "<member><name>curly</name><value><int>1</int></value></member>"
        "<member><name>larry</name><value><int>20</int></value></member>"
        "<member><name>moe</name><value><int>300</int></value></member>"
        "</struct></value></param></params></methodCall>"
    ).encode()
    reply = rpc.judge_reply(rpc.post(endpoint, body, "321"), "321")
    if reply.value != 321:
        raise rpc.ConformanceFailure("321 (moe + larry + curly, found by name)", reply.describe())


@case("xmlrpc-validator1/types/10", level=INFO,
      requirement="Extensions: <i8> (64-bit ints, Apache ws-xmlrpc) and <nil/> (the nil extension) are not in the XML-RPC spec",
      expected="whether <i8> and <nil/> are accepted, recorded")
def test_extensions(endpoint: Endpoint, record_observation) -> None:
    seen = []
    for label, xml in (("i8", "<value><i8>9007199254740993</i8></value>"), ("nil", "<value><nil/></value>")):
        try:
            reply = rpc.judge_reply(rpc.post(endpoint, raw_echo(xml), label), label)
            seen.append(f"{label}: {reply.describe()}")
        except rpc.ConformanceFailure as failure:
            seen.append(f"{label}: {failure.actual.splitlines()[0]}")
    record_observation("; ".join(seen))
