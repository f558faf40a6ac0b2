"""rest-http, HTTP/1.1 messaging (RFC 9112): framing, persistence, pipelining, versions."""

from harness.cases import case
from harness.checks import Endpoint
from harness.checks import rest_http
from harness.verdicts import ConformanceFailure, MUST, SHOULD


@case(
    "rest-http/9112/1",
    level=MUST,
    requirement=(
        'RFC 9112 §6.3: "If a valid Content-Length header field is present without Transfer-Encoding, '
        'its decimal value defines the expected message body length in octets." RFC 9112 §9.3: "In order '
        "to remain persistent, all messages on a connection need to have a self-defined message length "
        '(i.e., one not defined by closure of the connection)"'
    ),
    expected="a keep-alive response that frames itself; Content-Length equal to the content; the next response then parses",
)
def test_content_length_is_the_content_length(endpoint: Endpoint) -> None:
    rest_http.check_content_length_matches(endpoint, "a self-framed response whose Content-Length is exact")


@case(
    "rest-http/9112/2",
    level=MUST,
    requirement=(
        'RFC 9112 §9.3.2: "A server MAY process a sequence of pipelined requests in parallel if they all '
        "have safe methods (Section 9.2.1 of [HTTP]), but it MUST send the corresponding responses in the "
        'same order that the requests were received."'
    ),
    expected="three pipelined GETs (a, b, c) answered a, b, c",
)
def test_pipelined_requests_are_answered_in_order(endpoint: Endpoint) -> None:
    rest_http.check_pipelined_in_order(endpoint, ["a", "b", "c"], "responses in request order")


@case(
    "rest-http/9112/3",
    level=MUST,
    requirement='RFC 9112 §7.1: "A recipient MUST be able to parse and decode the chunked transfer coding."',
    expected="a chunked form body name=chunky read whole: 'Hello chunky'",
)
def test_chunked_request_body_is_read(endpoint: Endpoint) -> None:
    rest_http.check_chunked_request_body(endpoint, "chunky", "'Hello chunky' from a chunked body")


@case(
    "rest-http/9112/4",
    level=MUST,
    requirement=(
        'RFC 9112 §6.1: "A server MUST NOT send a response containing Transfer-Encoding unless the '
        'corresponding request indicates HTTP/1.1 (or later minor revisions)."'
    ),
    expected="an HTTP/1.0 GET answered without Transfer-Encoding",
)
def test_http10_request_gets_no_chunked_response(endpoint: Endpoint) -> None:
    rest_http.check_http10_not_chunked(endpoint, "no Transfer-Encoding to HTTP/1.0")


@case(
    "rest-http/9112/5",
    level=MUST,
    requirement=(
        'RFC 9112 §9.6: "A server that receives a "close" connection option MUST initiate closure of the '
        'connection (see below) after it sends the final response to the request that contained the '
        '"close" connection option."'
    ),
    expected="the response to 'Connection: close', then the server's close, nothing more",
)
def test_connection_close_is_honoured(endpoint: Endpoint) -> None:
    rest_http.check_connection_close_honoured(endpoint, "the response, then the close")


@case(
    "rest-http/9112/6",
    level=SHOULD,
    requirement=(
        'RFC 9112 §3: "Recipients of an invalid request-line SHOULD respond with either a 400 (Bad Request) '
        'error or a 301 (Moved Permanently) redirect with the request-target properly encoded."'
    ),
    expected="400 for a malformed request line",
)
def test_malformed_request_line_is_400(endpoint: Endpoint) -> None:
    refusal = rest_http.check_refused_then_still_serving(
        endpoint, rest_http.MALFORMED_REQUEST, {400, 301}, "400 Bad Request"
    )
    if refusal.status is None:
        raise ConformanceFailure("400 Bad Request", refusal.observed)


@case(
    "rest-http/9112/7",
    level=SHOULD,
    requirement=(
        'RFC 9112 §9.3: "HTTP/1.1 defaults to the use of "persistent connections", allowing multiple '
        'requests and responses to be carried over a single connection."'
    ),
    expected="three requests answered one after another on one connection",
)
def test_keep_alive_serves_several_requests(endpoint: Endpoint) -> None:
    rest_http.check_keep_alive(endpoint, 3, "three responses on one connection")
