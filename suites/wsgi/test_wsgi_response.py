"""wsgi, PEP 3333's response side: write(), exc_info, framing, HEAD, Date, close()."""

from harness.cases import case
from harness.checks import Endpoint
from harness.checks import wsgi
from harness.verdicts import MUST


@case("wsgi/response/1", level=MUST,
      requirement='PEP 3333: "The server or gateway must transmit the yielded bytestrings to the client in an unbuffered fashion, completing the transmission of each bytestring before requesting another one." (and the write() callable\'s data are part of the body, in the order written)',
      expected="the body 'first;second;third': write()'s output, then the iterable's, in order")
def test_write_output_comes_first_and_in_order(endpoint: Endpoint) -> None:
    wsgi.check_write_before_iterable(endpoint, "write() then the iterable")


@case("wsgi/response/2", level=MUST,
      requirement='PEP 3333: "However, if ``exc_info`` is provided, and the HTTP headers have already been sent, ``start_response`` **must** raise an error, and **should** re-raise using the ``exc_info`` tuple."',
      expected="the response aborted after 'partial;' (start_response raised), never 'NOT-RAISED'")
def test_exc_info_after_headers_raises(endpoint: Endpoint) -> None:
    wsgi.check_exc_info_reraised(endpoint, "an aborted response")


@case("wsgi/response/3", level=MUST,
      requirement='PEP 3333: "If the application does not supply a ``Content-Length`` header, a server or gateway may choose one of several approaches to handling it. The simplest of these is to close the client connection when the response is completed." ("the server **must** comply fully with RFC 2616 when doing this")',
      expected="a response without Content-Length framed by the server (chunked or closed): 'one;two;three' whole")
def test_unframed_response_is_framed_by_the_server(endpoint: Endpoint) -> None:
    wsgi.check_unframed_response_delivered(endpoint, "the whole body, correctly framed")


@case("wsgi/response/4", level=MUST,
      requirement='RFC 9110 §9.3.2: "The HEAD method is identical to GET except that the server MUST NOT send content in the response." (PEP 3333: the server "**must** comply fully with RFC 2616")',
      expected="HEAD answered with headers only, even though the probe returns a body")
def test_head_response_has_no_content(endpoint: Endpoint) -> None:
    wsgi.check_head_without_body(endpoint, "no content on HEAD")


@case("wsgi/response/5", level=MUST,
      requirement='PEP 3333: "if the application omits a header required by HTTP (or other relevant specifications that are in effect), the server or gateway **must** add it. For example, the HTTP ``Date:`` and ``Server:`` headers would normally be supplied by the server or gateway."',
      expected="a Date header on the probe's 200 response, which sets none")
def test_date_header_is_added(endpoint: Endpoint) -> None:
    wsgi.check_date_header(endpoint, "a Date header")


PEP_CLOSE = (
    'PEP 3333: "If the iterable returned by the application has a ``close()`` method, the server or gateway '
    "**must** call that method upon completion of the current request, whether the request was completed "
    'normally, or terminated early due to an application error during iteration or an early disconnect of the browser."'
)


@case("wsgi/close/1", level=MUST, requirement=PEP_CLOSE, expected="close() called after a complete response")
def test_close_is_called_after_a_response(endpoint: Endpoint) -> None:
    wsgi.check_close_called_after_response(endpoint, "close() called")


@case("wsgi/close/2", level=MUST, requirement=PEP_CLOSE, expected="close() called after the client left mid-response")
def test_close_is_called_after_a_disconnect(endpoint: Endpoint) -> None:
    wsgi.check_close_called_after_disconnect(endpoint, "close() called after the disconnect")
