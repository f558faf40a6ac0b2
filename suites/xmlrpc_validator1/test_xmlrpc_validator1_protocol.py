"""xmlrpc-validator1: the protocol level (faults, malformed and hostile requests, multicall)."""

from harness.cases import case
from harness.checks import Endpoint
from harness.checks import xmlrpc as rpc
from harness.checks import xmlrpc_hostile
from harness.verdicts import INFO, MUST

FAULT_RULE = (
    'XML-RPC spec: "The <methodResponse> could also contain a <fault> which contains a <value> which is a <struct> '
    'containing two elements, one named <faultCode>, an <int> and one named <faultString>, a <string>." and '
    + rpc.SPEC_200
)


@case("xmlrpc-validator1/protocol/1", level=MUST, requirement=FAULT_RULE,
      expected="an unknown method answered HTTP 200 with a fault (faultCode int, faultString string)")
def test_unknown_method_is_a_fault(endpoint: Endpoint) -> None:
    rpc.expect_fault(endpoint, "validator1.noSuchMethod", (1,), "a fault")


@case("xmlrpc-validator1/protocol/2", level=MUST, requirement=FAULT_RULE, expected="a wrong number of parameters answered with a fault")
def test_wrong_arity_is_a_fault(endpoint: Endpoint) -> None:
    rpc.expect_fault(endpoint, "validator1.easyStructTest", ({"moe": 1, "larry": 2, "curly": 3}, 4), "a fault")


@case("xmlrpc-validator1/protocol/3", level=MUST, requirement=FAULT_RULE, expected="wrong parameter types answered with a fault")
def test_wrong_types_are_a_fault(endpoint: Endpoint) -> None:
    rpc.expect_fault(endpoint, "validator1.easyStructTest", ("not a struct",), "a fault")


@case("xmlrpc-validator1/protocol/4", level=MUST, requirement=FAULT_RULE, expected="malformed XML answered with a fault")
def test_malformed_xml_is_a_fault(endpoint: Endpoint) -> None:
    rpc.expect_fault_for_body(endpoint, b"<?xml version='1.0'?><methodCall><methodName>x</methodName><params>", "a fault")


@case("xmlrpc-validator1/protocol/5", level=MUST, requirement=FAULT_RULE, expected="a body that is not XML answered with a fault")
def test_non_xml_body_is_a_fault(endpoint: Endpoint) -> None:
    rpc.expect_fault_for_body(endpoint, b"this is not XML at all", "a fault")


@case("xmlrpc-validator1/protocol/6", level=INFO, requirement='XML-RPC spec: "An XML-RPC message is an HTTP-POST request." (a GET is not one)',
      expected="what a GET gets, recorded")
def test_get_is_observed(endpoint: Endpoint, record_observation) -> None:
    response = rpc.post(endpoint, b"", "any answer", method="GET", content_type="")
    record_observation(response.summary())


@case("xmlrpc-validator1/protocol/7", level=INFO, requirement='XML-RPC spec: "The Content-Type is text/xml."',
      expected="what a call with Content-Type: text/plain gets, recorded")
def test_wrong_content_type_is_observed(endpoint: Endpoint, record_observation) -> None:
    from harness.clients.xmlrpc import encode_call

    response = rpc.post(endpoint, encode_call("validator1.simpleStructReturnTest", (1,)), "any answer", content_type="text/plain")
    record_observation(response.summary())


@case("xmlrpc-validator1/protocol/8", level=MUST,
      requirement='system.multicall (XML-RPC introspection and multicall extension, as the reference and the chapter\'s SimpleXMLRPCServer provide): each call\'s result is a one-element array, or a fault struct for a call that failed, and "a fault inside does not stop the others"',
      expected="[[30], fault struct, [{times10: 20, ...}]] for three calls, the middle one failing")
def test_multicall_fault_does_not_stop_the_others(endpoint: Endpoint) -> None:
    calls = [
        {"methodName": "validator1.easyStructTest", "params": [{"moe": 10, "larry": 10, "curly": 10}]},
        {"methodName": "validator1.noSuchMethod", "params": []},
        {"methodName": "validator1.simpleStructReturnTest", "params": [2]},
    ]
    reply = rpc.call(endpoint, "system.multicall", (calls,), "three results")
    results = reply.value
    ok = (
        reply.fault is None and isinstance(results, list) and len(results) == 3
        and results[0] == [30] and isinstance(results[1], dict) and "faultCode" in results[1]
        and results[2] == [{"times10": 20, "times100": 200, "times1000": 2000}]
    )
    if not ok:
        raise rpc.ConformanceFailure("[[30], {faultCode, faultString}, [{...}]]", reply.describe())


@case("xmlrpc-validator1/protocol/9", level=MUST, requirement='XML-RPC spec: "Any characters are allowed in a string" (no size limit is set for a string)',
      expected="countTheEntities on a 1 MiB string answered with the right counts")
def test_large_request(endpoint: Endpoint) -> None:
    text = "<&>\"'" * 209_716  # 1 MiB of characters that must be escaped
    rpc.expect_value(endpoint, "validator1.countTheEntities", (text,), {
        "ctLeftAngleBrackets": text.count("<"), "ctRightAngleBrackets": text.count(">"), "ctAmpersands": text.count("&"),
        "ctApostrophes": text.count("'"), "ctQuotes": text.count('"'),
    }, "the counts of a 1 MiB string")


HOSTILE = (
    'suites/xmlrpc_validator1/SPEC.md: "An entity-expansion bomb, a 100 MiB body and arrays nested 100,000 deep MUST be '
    'refused — an XML-RPC fault or an HTTP 4xx status, or a close — without expanding entities" and "the server MUST '
    'keep serving other calls afterwards."'
)


@case("xmlrpc-validator1/hostile/1", level=MUST, requirement=HOSTILE, expected="a billion-laughs bomb refused, then a normal call served")
def test_entity_bomb_is_refused(endpoint: Endpoint) -> None:
    xmlrpc_hostile.check_entity_bomb_refused(endpoint, "refused without expansion, still serving")


@case("xmlrpc-validator1/hostile/2", level=MUST,
      requirement='suites/xmlrpc_validator1/SPEC.md: "an external entity (<!ENTITY x SYSTEM "file:///etc/passwd">) MUST NOT be fetched (refusing the request or leaving the entity empty are both safe); and the server MUST keep serving other calls afterwards."',
      expected="an external entity (file:///etc/passwd) not fetched (refused, or left empty), then a normal call served")
def test_external_entity_is_not_fetched(endpoint: Endpoint) -> None:
    xmlrpc_hostile.check_external_entity_refused(endpoint, "no file content in the reply, still serving")


@case("xmlrpc-validator1/hostile/3", level=MUST, requirement=HOSTILE, expected="a 100 MiB body refused (fault, 413 or close), then a normal call served")
def test_huge_body_is_refused(endpoint: Endpoint) -> None:
    xmlrpc_hostile.check_huge_body_refused(endpoint, "refused, still serving")


@case("xmlrpc-validator1/hostile/4", level=MUST, requirement=HOSTILE, expected="arrays nested 100,000 deep refused (a fault), then a normal call served")
def test_deep_nesting_is_refused(endpoint: Endpoint) -> None:
    xmlrpc_hostile.check_deep_nesting_refused(endpoint, "refused, still serving")


@case("xmlrpc-validator1/protocol/10", level=INFO,
      requirement="Fault codes for interoperability (the specification for fault codes adopted by xmlrpc-epi and most implementations: -32700 parse error, -32600 invalid request, -32601 method not found, -32602 invalid params) are an extension the XML-RPC spec does not require",
      expected="the faultCode answered for a parse error, an unknown method and wrong parameters, recorded")
def test_fault_codes_are_observed(endpoint: Endpoint, record_observation) -> None:
    record_observation(xmlrpc_hostile.observe_fault_codes(endpoint, "fault codes recorded"))
