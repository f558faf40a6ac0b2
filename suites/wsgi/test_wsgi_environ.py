"""wsgi, PEP 3333's environ, judged through the probe application the server hosts.

Requirements are quoted from PEP 3333 ("environ Variables" and "Unicode Issues") and, for
the HTTP_ variables PEP 3333 defers to CGI, from RFC 3875 §4.1.18.
"""

from harness.cases import case, on_one_client_at_a_time_runners
from harness.checks import Endpoint
from harness.checks import wsgi
from harness.verdicts import INFO, MUST, SHOULD

PEP_REQUIRED = (
    'PEP 3333: "The following variables **must** be present, unless their value would be an empty '
    'string, in which case they **may** be omitted" and the environ "**must** contain the following '
    'WSGI-defined variables"'
)


@case("wsgi/environ/1", level=MUST, requirement=PEP_REQUIRED,
      expected="REQUEST_METHOD, PATH_INFO, SERVER_NAME, SERVER_PORT, SERVER_PROTOCOL and every wsgi.* variable present")
def test_required_variables_are_present(endpoint: Endpoint) -> None:
    wsgi.check_required_keys(endpoint, "every required variable present")


@case(
    "wsgi/environ/2",
    level=MUST,
    requirement='PEP 3333: "It is a violation of this specification for *any* CGI variable\'s value to be of any type other than ``str``."',
    expected="every CGI variable (upper case, no dot) a str",
)
def test_cgi_variables_are_native_strings(endpoint: Endpoint) -> None:
    wsgi.check_cgi_values_are_str(endpoint, "every CGI variable a str")


@case("wsgi/environ/3", level=MUST, requirement='PEP 3333: "``wsgi.version`` The tuple ``(1, 0)``, representing WSGI version 1.0."',
      expected="wsgi.version is the tuple (1, 0)")
def test_wsgi_version_is_the_tuple_1_0(endpoint: Endpoint) -> None:
    wsgi.check_wsgi_version(endpoint, "the tuple (1, 0)")


@case("wsgi/environ/4", level=MUST,
      requirement='PEP 3333: "``REQUEST_METHOD`` The HTTP request method, such as ``"GET"`` or ``"POST"``. This cannot ever be an empty string, and so is always required."',
      expected="REQUEST_METHOD is GET, POST, PUT, DELETE for those requests")
def test_request_method_is_the_method(endpoint: Endpoint) -> None:
    wsgi.check_request_method(endpoint, "the request's method")


@case(
    "wsgi/environ/5",
    level=MUST,
    requirement=(
        'PEP 3333: "all "strings" referred to in this specification must contain only code points representable '
        "in ISO-8859-1 encoding (``\\u0000`` through ``\\u00FF``, inclusive). [...] Similarly, servers and gateways "
        '**must not** supply strings to an application containing any other Unicode characters." and '
        '"``PATH_INFO`` The remainder of the request URL\'s "path""'
    ),
    expected="PATH_INFO for /caf%C3%A9/%E2%82%AC carries the decoded bytes one per character (latin-1), not UTF-8 text",
)
def test_path_info_is_decoded_bytes_as_latin1(endpoint: Endpoint) -> None:
    wsgi.check_path_info_is_latin1_bytes(endpoint, "the %-decoded path, bytes as latin-1 characters")


@case("wsgi/environ/6", level=INFO, requirement='PEP 3333: "``PATH_INFO`` The remainder of the request URL\'s "path"" (an encoded slash is not addressed)',
      expected="what the server does with %2F in the path")
def test_encoded_slash_in_path(endpoint: Endpoint, record_observation) -> None:
    record_observation(wsgi.observe_encoded_slash(endpoint, "PATH_INFO reported"))


@case("wsgi/environ/7", level=MUST,
      requirement='PEP 3333: "``QUERY_STRING`` The portion of the request URL that follows the ``"?"``, if any."',
      expected="QUERY_STRING exactly as sent, %-escapes and + left alone")
def test_query_string_is_raw(endpoint: Endpoint) -> None:
    wsgi.check_query_string_raw(endpoint, "the raw query")


@case("wsgi/environ/8", level=MUST,
      requirement='PEP 3333: "``SERVER_NAME`` and ``SERVER_PORT`` are required strings and must never be empty."',
      expected="SERVER_NAME a non-empty str, SERVER_PORT a str of digits")
def test_server_name_and_port_are_strings(endpoint: Endpoint) -> None:
    wsgi.check_server_name_and_port(endpoint, "non-empty strings")


@case("wsgi/environ/9", level=MUST,
      requirement='PEP 3333: "``SERVER_PROTOCOL`` The version of the protocol the client used to send the request."',
      expected="SERVER_PROTOCOL HTTP/1.1 for an HTTP/1.1 request and HTTP/1.0 for an HTTP/1.0 one")
def test_server_protocol_is_the_clients(endpoint: Endpoint) -> None:
    wsgi.check_server_protocol(endpoint, "the client's protocol version")


@case("wsgi/environ/10", level=SHOULD,
      requirement='PEP 3333: "The presence or absence of these variables should correspond with the presence or absence of the appropriate HTTP header in the request."',
      expected="HTTP_X_PROBE_MARKER and HTTP_ACCEPT_LANGUAGE for the headers sent")
def test_http_variables_follow_the_headers(endpoint: Endpoint) -> None:
    wsgi.check_http_variables(endpoint, "an HTTP_ variable per header")


@case("wsgi/environ/11", level=MUST,
      requirement=(
          'PEP 3333: "``CONTENT_TYPE`` The contents of any ``Content-Type`` fields in the HTTP request." and '
          '"``CONTENT_LENGTH`` The contents of any ``Content-Length`` fields in the HTTP request." (required '
          "unless empty)"
      ),
      expected="CONTENT_LENGTH '10' and CONTENT_TYPE as sent, for a POST")
def test_content_variables_hold_the_request_fields(endpoint: Endpoint) -> None:
    wsgi.check_content_variables(endpoint, "CONTENT_LENGTH and CONTENT_TYPE")


@case("wsgi/environ/12", level=SHOULD,
      requirement=(
          'RFC 3875 §4.1.18: "it SHOULD remove any header fields carrying authentication information, such as '
          '"Authorization"; or that are available to the script in other meta-variables, such as '
          '"Content-Length" and "Content-Type"."'
      ),
      expected="no HTTP_CONTENT_LENGTH or HTTP_CONTENT_TYPE")
def test_no_http_content_variables(endpoint: Endpoint) -> None:
    wsgi.check_no_http_content_variables(endpoint, "no HTTP_CONTENT_* duplicates")


@case("wsgi/environ/13", level=MUST,
      requirement='RFC 3875 §4.1.18: "If multiple header fields with the same field-name are received then the server MUST rewrite them as a single value having the same semantics."',
      expected="HTTP_X_DUP 'one, two' for two X-Dup fields")
def test_repeated_headers_are_joined(endpoint: Endpoint) -> None:
    wsgi.check_repeated_header_joined(endpoint, "one value, both fields, in order")


@case("wsgi/environ/14", level=INFO,
      requirement='PEP 3333: "Variables corresponding to the client-supplied HTTP request headers (i.e., variables whose names begin with ``"HTTP_"``)" (X-Foo and X_Foo both map to HTTP_X_FOO; neither text says which wins)',
      expected="what the server does with X-Foo and X_Foo together: dropped, merged or overwritten")
def test_underscore_header_collision(endpoint: Endpoint, record_observation) -> None:
    record_observation(wsgi.observe_underscore_header(endpoint, "HTTP_X_FOO reported"))


@case("wsgi/environ/15", level=SHOULD,
      requirement='PEP 3333: "``wsgi.url_scheme`` [...] Normally, this will have the value ``"http"`` or ``"https"``, as appropriate."',
      expected="wsgi.url_scheme 'http' on a plaintext connection ('https' over TLS)")
def test_url_scheme(endpoint: Endpoint) -> None:
    wsgi.check_url_scheme(endpoint, "the connection's scheme")


@case(
    "wsgi/environ/16",
    level=SHOULD,
    level_for_runner=on_one_client_at_a_time_runners(INFO),
    requirement=(
        'PEP 3333: "``wsgi.multithread`` This value should evaluate true if the application object may be '
        'simultaneously invoked by another thread in the same process, and should evaluate false otherwise."'
    ),
    expected=(
        "wsgi.multithread true wherever a second request is seen in the application, on another thread of the "
        "same process, while a first one is held there (the flags and what was seen recorded)"
    ),
)
def test_multithread_flag_matches_what_is_seen(endpoint: Endpoint, record_observation) -> None:
    record_observation(wsgi.check_multithread_flag(endpoint, "wsgi.multithread true if two threads of one process run requests at once"))
