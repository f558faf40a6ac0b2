"""Checkers of the chapter's REST interface and of the HTTP/1.1 server carrying it.

Plain functions of an endpoint (usable without pytest); each raises ConformanceFailure with
"expected ... / actual ..." when the server does not comply. Contents are parsed, never
grepped: the HTML with ``html.parser`` (title, h1, whether a body element exists), the XML
with ``xml.etree`` after the document passed defusedxml's refusal of entities (it is the
server's reply, so it is untrusted input).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import quote

import defusedxml.ElementTree

from harness.checks.endpoint import Endpoint
from harness.clients.rest import parse_hello_page
from harness.checks.http import HttpConnection, HttpResponse, chunked, exchange, request
from harness.verdicts import ConformanceFailure, preview

LOCALTIME_FIELDS = ("year", "month", "day", "hour", "minute", "second")

# A request line no server accepts: a method with a space and no version.
MALFORMED_REQUEST = b"GET /hello?name=x HTTP/1.1 EXTRA WORDS\r\nHost: wirecheck.test\r\n\r\n"

# Header block sizes: far past any server's limit (nginx 8 KiB per line, gunicorn 8190 per
# field) but a bounded thing for us to send.
OVERSIZED_HEADER_BYTES = 256 * 1024


def _require_status(response: HttpResponse, status: int, expected: str) -> None:
    if response.status != status:
        raise ConformanceFailure(expected, f"{response.summary()}: {preview(response.body)}")


def judge_hello_page(response: HttpResponse, name: str, expected: str) -> None:
    """A 200 text/html page whose title and h1 say ``Hello <name>`` inside a body element."""
    _require_status(response, 200, expected)
    if response.content_type != "text/html":
        raise ConformanceFailure(expected, f"Content-Type {response.header('content-type')!r} ({response.summary()})")
    page = parse_hello_page(response.text())
    greeting = f"Hello {name}"
    problems = []
    if " ".join(page.title.split()) != greeting:
        problems.append(f"<title> says {page.title.strip()!r}")
    if " ".join(page.h1.split()) != greeting:
        problems.append(f"<h1> says {page.h1.strip()!r}")
    if page.elements_in_h1:
        problems.append(f"<h1> contains elements {page.elements_in_h1} (the name was not escaped)")
    if not page.has_body:
        problems.append("there is no <body> element")
    if problems:
        raise ConformanceFailure(expected, "; ".join(problems))


def check_hello_get(endpoint: Endpoint, name: str, expected: str) -> None:
    response = exchange(endpoint, request("GET", f"/hello?name={quote(name)}"), expected=expected)
    judge_hello_page(response, name, expected)


def check_hello_post(endpoint: Endpoint, name: str, expected: str) -> None:
    body = f"name={quote(name)}".encode("ascii")
    data = request("POST", "/hello", headers=[("Content-Type", "application/x-www-form-urlencoded")], body=body)
    judge_hello_page(exchange(endpoint, data, expected=expected), name, expected)


def check_hello_without_a_name(endpoint: Endpoint, greeted: str, expected: str) -> None:
    for target in ("/hello", "/hello?name="):
        judge_hello_page(exchange(endpoint, request("GET", target), expected=expected), greeted, expected + f" (GET {target})")


def check_localtime(endpoint: Endpoint, tolerance_s: float, expected: str) -> None:
    """/localtime: 200, XML, the six fields as integers, within ``tolerance_s`` of local time."""
    response = exchange(endpoint, request("GET", "/localtime"), expected=expected)
    _require_status(response, 200, expected)
    if response.content_type not in ("application/xml", "text/xml"):
        raise ConformanceFailure(expected, f"Content-Type {response.header('content-type')!r}")
    try:
        root = defusedxml.ElementTree.fromstring(response.body)
    except Exception as exc:  # ParseError, or defusedxml's refusal of entities
        raise ConformanceFailure(expected, f"not well-formed XML ({exc}): {preview(response.body)}") from None
    values = {}
    for field in LOCALTIME_FIELDS:
        node = root.find(field)
        try:
            values[field] = int((node.text or "").strip()) if node is not None else None
        except ValueError:
            values[field] = None
    missing = [field for field, value in values.items() if value is None]
    if root.tag != "time" or missing:
        raise ConformanceFailure(expected, f"root <{root.tag}>, missing or non-integer fields: {missing}")
    try:
        served = time.mktime((values["year"], values["month"], values["day"], values["hour"],
                              values["minute"], values["second"], 0, 0, -1))
    except (OverflowError, ValueError) as exc:
        raise ConformanceFailure(expected, f"not a date: {values} ({exc})") from None
    skew = served - time.time()
    if abs(skew) > tolerance_s + 1:  # +1: the XML has whole seconds
        raise ConformanceFailure(expected, f"{values} is {skew:+.0f} s from this machine's local time")


def check_status(endpoint: Endpoint, data: bytes, status: int, expected: str, method: str = "GET") -> HttpResponse:
    response = exchange(endpoint, data, method, expected=expected)
    _require_status(response, status, expected)
    return response


def check_method_not_allowed(endpoint: Endpoint, expected: str) -> None:
    response = check_status(endpoint, request("DELETE", "/hello"), 405, expected)
    allowed = {method.strip().upper() for value in response.header_values("allow") for method in value.split(",")}
    if not {"GET", "POST"} <= allowed:
        raise ConformanceFailure(expected, f"Allow: {response.header_values('allow') or 'absent'}")


def check_head_has_no_body(endpoint: Endpoint, expected: str) -> None:
    """HEAD with ``Connection: close``: everything after the header block would be content."""
    get = exchange(endpoint, request("GET", "/hello?name=head"), expected=expected)
    with HttpConnection(endpoint) as connection:
        connection.send(request("HEAD", "/hello?name=head", headers=[("Connection", "close")]))
        head = connection.read_response("HEAD", expected=expected)
        extra = connection.wait_for_close(expected)
    _require_status(head, get.status, expected)
    if extra:
        raise ConformanceFailure(expected, f"{len(extra)} bytes of content after the HEAD response's header block: {preview(extra)}")
    if head.content_type != get.content_type:
        raise ConformanceFailure(expected, f"HEAD Content-Type {head.content_type!r}, GET {get.content_type!r}")


# Not ASCII, so that the page's octets and its characters differ in number: RFC 9112 §6.3
# counts "octets", and a length counted in characters (``len(text)``) is the classic bug.
LENGTH_CHECK_NAME = "Länge"


def check_content_length_matches(endpoint: Endpoint, expected: str) -> None:
    """Keep-alive GET: the response must frame itself and its Content-Length be its length.

    A response with no length and no chunking on a connection the server keeps open never
    ends (the stall limit reports it); one that the server's close ended although the
    response said the connection stays open did not frame itself (RFC 9112 §9.3: "In order
    to remain persistent, all messages on a connection need to have a self-defined message
    length"). Content past the declared length shows up as the start of the next response
    (on a kept connection) or as bytes before the close; a length past the content, as a stall.
    """
    with HttpConnection(endpoint) as connection:
        connection.send(request("GET", f"/hello?name={quote(LENGTH_CHECK_NAME)}"))
        response = connection.read_response(expected=expected)
        declared = response.header("content-length")
        if declared is not None and int(declared) != len(response.body):
            raise ConformanceFailure(expected, f"Content-Length {declared}, {len(response.body)} bytes of content")
        judge_hello_page(response, LENGTH_CHECK_NAME, expected)
        if declared is None:
            if response.header("transfer-encoding") is None and response.keeps_connection:
                raise ConformanceFailure(
                    expected,
                    f"{response.summary()}, with neither Content-Length nor Transfer-Encoding: its content "
                    "ended only at the server's close, on a connection the response did not say it closes",
                )
            return
        if response.keeps_connection:
            connection.send(request("GET", "/hello?name=next"))
            judge_hello_page(connection.read_response(expected=expected), "next", expected)
        else:
            extra = connection.wait_for_close(expected)
            if extra:
                raise ConformanceFailure(expected, f"{len(extra)} bytes past Content-Length {declared}: {preview(extra)}")


def check_keep_alive(endpoint: Endpoint, count: int, expected: str) -> None:
    with HttpConnection(endpoint) as connection:
        for number in range(count):
            connection.send(request("GET", f"/hello?name=n{number}"))
            response = connection.read_response(expected=expected)
            judge_hello_page(response, f"n{number}", expected)
            if number < count - 1 and (connection.eof or not response.keeps_connection):
                said = ", ".join(response.header_values("connection")) or "nothing"
                raise ConformanceFailure(
                    expected,
                    f"response {number + 1} of {count} ends the connection (HTTP/{response.http_version}, "
                    f"Connection: {said})",
                )


def check_pipelined_in_order(endpoint: Endpoint, names: list[str], expected: str) -> int:
    """Pipelined GETs: every response that comes must answer its request, in order. A server
    may close after a response that says so (HTTP/1.0, ``Connection: close``): the client
    then retries the rest, which is not disorder. Returns how many were answered."""
    with HttpConnection(endpoint) as connection:
        connection.send(b"".join(request("GET", f"/hello?name={name}") for name in names))
        for number, name in enumerate(names):
            response = connection.read_response(expected=expected)
            judge_hello_page(response, name, expected + f" (response {number + 1} answers request {number + 1})")
            if not response.keeps_connection:
                return number + 1
    return len(names)


def check_chunked_request_body(endpoint: Endpoint, name: str, expected: str) -> None:
    body = chunked(f"name={quote(name)}".encode("ascii"))
    data = request(
        "POST",
        "/hello",
        headers=[("Content-Type", "application/x-www-form-urlencoded"), ("Transfer-Encoding", "chunked")],
        body=body,
    )
    judge_hello_page(exchange(endpoint, data, expected=expected), name, expected)


def check_http10_not_chunked(endpoint: Endpoint, expected: str) -> None:
    with HttpConnection(endpoint) as connection:
        connection.send(request("GET", "/hello?name=old", version="1.0"))
        response = connection.read_response(expected=expected)
    if response.header("transfer-encoding") is not None:
        raise ConformanceFailure(expected, f"Transfer-Encoding: {response.header('transfer-encoding')} to an HTTP/1.0 request")
    judge_hello_page(response, "old", expected)


def check_connection_close_honoured(endpoint: Endpoint, expected: str) -> None:
    with HttpConnection(endpoint) as connection:
        connection.send(request("GET", "/hello?name=bye", headers=[("Connection", "close")]))
        judge_hello_page(connection.read_response(expected=expected), "bye", expected)
        extra = connection.wait_for_close(expected)
    if extra:
        raise ConformanceFailure(expected, f"{len(extra)} more bytes before the close: {preview(extra)}")


@dataclass(frozen=True)
class Refusal:
    """How a server answered a request it must refuse."""

    status: int | None  # None: no valid HTTP status line came
    observed: str  # "status 400", "orderly close (...)", "not a valid HTTP/1.1 response (...)"


def check_refused_then_still_serving(endpoint: Endpoint, data: bytes, statuses: set[int], expected: str) -> Refusal:
    """Send ``data`` (a bad request), note how it was refused, then require a new connection to
    be served. A refusal is a status in ``statuses``, a close or reset, or a reply that is not
    HTTP at all (wsgiref answers some bad request lines HTTP/0.9-style, with no status line);
    a status outside ``statuses`` (a 2xx for garbage) fails."""
    with HttpConnection(endpoint) as connection:
        try:
            connection.send(data)
        except ConformanceFailure:
            pass  # the server may stop reading a request it refused: that is allowed
        try:
            response = connection.read_response(expected=expected)
            refusal = Refusal(response.status, f"status {response.status}")
        except ConformanceFailure as failure:
            if not failure.actual.startswith(("orderly close", "reset", "not a valid HTTP")):
                raise
            refusal = Refusal(None, failure.actual)
    if refusal.status is not None and refusal.status not in statuses:
        raise ConformanceFailure(expected, f"status {refusal.status} for a request that must be refused")
    check_hello_get(endpoint, "after", expected + " (and then a new client is served)")
    return refusal


def check_expect_continue(endpoint: Endpoint, expected: str) -> None:
    body = b"name=expect"
    head = request(
        "POST",
        "/hello",
        headers=[("Content-Type", "application/x-www-form-urlencoded"), ("Content-Length", str(len(body))), ("Expect", "100-continue")],
    )
    with HttpConnection(endpoint) as connection:
        connection.send(head)
        # RFC 9110 §10.1.1: the server sends 100 or a final status before the content; a
        # server that waits for the content stalls here, which the stall limit reports.
        connection.receive_more(expected + " (a 100 Continue or a final status before the content is sent)", 0)
        connection.send(body)
        judge_hello_page(connection.read_response("POST", expected=expected), "expect", expected)


def check_others_served_during_a_slow_request(endpoint: Endpoint, expected: str) -> None:
    with HttpConnection(endpoint) as slow:
        slow.send(b"GET /hello?name=slow HTTP/1.1\r\nHost: wirecheck.test\r\nX-Half: ")
        check_hello_get(endpoint, "other", expected)
