"""The chapter's REST application, called directly as a WSGI application: each of the
chapter's bugs named in a test that shows the right behaviour."""

from __future__ import annotations

import io
import time
import wsgiref.util
import wsgiref.validate
import xml.etree.ElementTree as ElementTree

from harness.apps.rest import RestApplication
from harness.checks.http import HttpResponse
from harness.checks.rest_http import judge_hello_page

FIXED_INSTANT = 1_700_000_000.0  # 2023-11-14, a Tuesday


def call(method: str, path: str, query: str = "", body: bytes = b"", content_type: str = "") -> HttpResponse:
    environ: dict = {"REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": query}
    wsgiref.util.setup_testing_defaults(environ)
    environ["wsgi.input"] = io.BytesIO(body)
    if body:
        environ["CONTENT_LENGTH"] = str(len(body))
    if content_type:
        environ["CONTENT_TYPE"] = content_type
    captured = {}

    def start_response(status, headers, exc_info=None):
        captured["status"], captured["headers"] = status, headers

    # wsgiref.validate checks the application side of PEP 3333 on every call.
    app = wsgiref.validate.validator(RestApplication(clock=lambda: FIXED_INSTANT))
    result = app(environ, start_response)
    try:
        content = b"".join(result)
    finally:
        result.close()
    return HttpResponse(
        status=int(captured["status"].split()[0]),
        http_version="1.1",
        headers=[(name.lower(), value) for name, value in captured["headers"]],
        body=content,
    )


def test_get_hello_greets_the_query_name() -> None:
    judge_hello_page(call("GET", "/hello", "name=Ada"), "Ada", "Hello Ada")


def test_post_hello_reads_the_form_without_cgi() -> None:
    # The chapter parsed parameters with cgi.FieldStorage; cgi is gone in Python 3.13.
    response = call("POST", "/hello", body=b"name=Grace+Hopper", content_type="application/x-www-form-urlencoded")
    judge_hello_page(response, "Grace Hopper", "Hello Grace Hopper")


def test_content_type_is_spelt_right() -> None:
    # The chapter sent ('Contetn-type', 'text/html'): the page had no Content-Type at all.
    assert call("GET", "/hello", "name=x").header("content-type") == "text/html; charset=utf-8"


def test_the_page_has_a_body_element_not_boby() -> None:
    body = call("GET", "/hello", "name=x").text()
    assert "<body>" in body and "boby" not in body


def test_a_missing_name_greets_the_world_not_none() -> None:
    # The chapter printed "Hello None".
    judge_hello_page(call("GET", "/hello"), "world", "Hello world")
    judge_hello_page(call("GET", "/hello", "name="), "world", "Hello world")


def test_the_name_is_html_escaped() -> None:
    response = call("GET", "/hello", "name=%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    judge_hello_page(response, "<script>alert(1)</script>", "the name as text")
    assert b"<script>" not in response.body


def test_localtime_is_the_clocks_local_time_with_months_from_one() -> None:
    response = call("GET", "/localtime")
    assert response.status == 200 and response.content_type == "application/xml"
    root = ElementTree.fromstring(response.body)
    expected = time.localtime(FIXED_INSTANT)
    fields = {child.tag: int(child.text) for child in root}
    assert fields == {
        "year": expected.tm_year, "month": expected.tm_mon, "day": expected.tm_mday,
        "hour": expected.tm_hour, "minute": expected.tm_min, "second": expected.tm_sec,
    }
    assert 1 <= fields["month"] <= 12


def test_unknown_path_is_404_and_unknown_method_is_405_with_allow() -> None:
    assert call("GET", "/nope").status == 404
    refused = call("DELETE", "/hello")
    assert refused.status == 405 and refused.header("allow") == "GET, HEAD, POST"
    assert call("POST", "/localtime").header("allow") == "GET, HEAD"


def test_head_is_answered_as_get() -> None:
    head, get = call("HEAD", "/hello", "name=x"), call("GET", "/hello", "name=x")
    assert head.status == get.status and head.header("content-length") == get.header("content-length")
