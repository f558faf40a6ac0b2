"""wsgi, PEP 3333's response side: write(), exc_info, framing, HEAD, Date, latin-1 status and
headers, hop-by-hop headers refused, close()."""

from harness.cases import case
from harness.checks import Endpoint
from harness.checks import wsgi
from harness.verdicts import MUST, SHOULD


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


@case("wsgi/response/6", level=MUST,
      requirement=(
          'PEP 3333: "Note also that strings passed to ``start_response()`` as a status or as response headers '
          "**must** follow :rfc:`2616` with respect to encoding. That is, they must either be ISO-8859-1 characters, "
          'or use :rfc:`2047` MIME encoding." and "even if Python\'s ``str`` type is actually Unicode "under the '
          'hood", the *content* of native strings must still be translatable to bytes via the Latin-1 encoding!"'
      ),
      expected="status '200 Caf\u00e9' and 'X-Probe-Latin1: caf\u00e9' sent as latin-1: the byte E9, not UTF-8's C3 A9")
def test_status_and_headers_are_sent_as_latin1(endpoint: Endpoint) -> None:
    wsgi.check_status_and_headers_as_latin1(endpoint, "status and header bytes in latin-1")


@case("wsgi/response/7", level=SHOULD,
      requirement=(
          'PEP 3333: "Applications and middleware are forbidden from using HTTP/1.1 "hop-by-hop" features or '
          "headers, any equivalent features in HTTP/1.0, or any headers that would affect the persistence of the "
          "client's connection to the web server.  These features are the exclusive province of the actual web "
          "server, and a server or gateway **should** consider it a fatal error for an application to attempt "
          'sending them, and raise an error if they are supplied to ``start_response()``."'
      ),
      expected="start_response raises when given Keep-Alive: timeout=5 (the actual says what it raised)")
def test_hop_by_hop_header_is_refused(endpoint: Endpoint, record_observation) -> None:
    record_observation(wsgi.check_hop_by_hop_refused(endpoint, "start_response refuses a hop-by-hop header"))


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
