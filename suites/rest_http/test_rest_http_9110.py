"""rest-http, HTTP semantics (RFC 9110): status codes, Allow, HEAD, Content-Type, Expect."""

from harness.cases import case
from harness.checks import Endpoint
from harness.checks import rest_http
from harness.checks.http import request
from harness.verdicts import ConformanceFailure, MUST, SHOULD


@case(
    "rest-http/9110/1",
    level=MUST,
    requirement=(
        'RFC 9110 §15.5.5: "The 404 (Not Found) status code indicates that the origin server did not '
        'find a current representation for the target resource" (SPEC.md: "A path other than /hello '
        'and /localtime MUST answer 404.")'
    ),
    expected="404 for GET /no-such-path",
)
def test_unknown_path_is_404(endpoint: Endpoint) -> None:
    rest_http.check_status(endpoint, request("GET", "/no-such-path"), 404, "404 for an unknown path")


@case(
    "rest-http/9110/2",
    level=MUST,
    requirement=(
        'RFC 9110 §15.5.6: "The origin server MUST generate an Allow header field in a 405 response '
        "containing a list of the target resource's currently supported methods.\""
    ),
    expected="405 for DELETE /hello, with Allow listing GET and POST",
)
def test_unsupported_method_is_405_with_allow(endpoint: Endpoint) -> None:
    rest_http.check_method_not_allowed(endpoint, "405 with Allow: GET, POST (HEAD)")


@case(
    "rest-http/9110/3",
    level=MUST,
    requirement='RFC 9110 §9.3.2: "The HEAD method is identical to GET except that the server MUST NOT send content in the response."',
    expected="HEAD /hello answered with GET's status and Content-Type and no content before the close",
)
def test_head_has_no_content(endpoint: Endpoint) -> None:
    rest_http.check_head_has_no_body(endpoint, "GET's status and headers, no content")


@case(
    "rest-http/9110/4",
    level=MUST,
    requirement=(
        'RFC 9110 §10.1.1: "An origin server MUST, upon receiving an HTTP/1.1 (or later) request that has '
        "a method, target URI, and complete header section that contains a 100-continue expectation and an "
        "indication that request content will follow, either send an immediate response with a final status "
        "code, if that status can be determined by examining just the method, target URI, and header fields, "
        'or send an immediate 100 (Continue) response to encourage the client to send the request content."'
    ),
    expected="100 Continue (or a final status) before the content is sent, then 'Hello expect'",
)
def test_expect_100_continue_is_answered(endpoint: Endpoint) -> None:
    rest_http.check_expect_continue(endpoint, "100 Continue before the content, then the page")


@case(
    "rest-http/9110/5",
    level=SHOULD,
    requirement=(
        'RFC 9110 §5.4: "A server that receives a request header field line, field value, or set of fields '
        'larger than it wishes to process MUST respond with an appropriate 4xx (Client Error) status code." '
        'RFC 6585 §5: "The 431 status code indicates that the server is unwilling to process the request '
        'because its header fields are too large." (SPEC.md: a refused request MUST NOT stop the server.)'
    ),
    expected="a 256 KiB header block refused with 431, then a new client served",
)
def test_oversized_header_block_is_431(endpoint: Endpoint) -> None:
    data = request("GET", "/hello", headers=[("X-Big", "a" * rest_http.OVERSIZED_HEADER_BYTES)])
    refusal = rest_http.check_refused_then_still_serving(endpoint, data, set(range(400, 500)), "431")
    if refusal.status != 431:
        raise ConformanceFailure("431 Request Header Fields Too Large", refusal.observed)
