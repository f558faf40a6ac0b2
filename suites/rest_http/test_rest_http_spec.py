"""rest-http, the contents suites/rest_http/SPEC.md defines: /hello and /localtime."""

from harness.cases import case, on_one_client_at_a_time_runners
from harness.checks import Endpoint
from harness.checks import rest_http
from harness.verdicts import INFO, MUST, SHOULD

HELLO_GET = (
    'SPEC.md: "GET /hello?name=X MUST answer 200 with Content-Type: text/html and an HTML page '
    'whose <title> and <h1> both say Hello X, inside a <body> element."'
)


@case("rest-http/spec/1", level=MUST, requirement=HELLO_GET, expected="200 text/html, <title> and <h1> 'Hello Ada', a <body>")
def test_hello_get_greets_the_name(endpoint: Endpoint) -> None:
    rest_http.check_hello_get(endpoint, "Ada", "200 text/html, <title> and <h1> 'Hello Ada', a <body>")


@case(
    "rest-http/spec/2",
    level=MUST,
    requirement='SPEC.md: "POST /hello with an application/x-www-form-urlencoded body name=X MUST answer the same."',
    expected="the same page for a posted form name=Grace",
)
def test_hello_post_greets_the_form_name(endpoint: Endpoint) -> None:
    rest_http.check_hello_post(endpoint, "Grace", "200 text/html greeting 'Hello Grace' for a posted form")


@case(
    "rest-http/spec/3",
    level=MUST,
    requirement=(
        'SPEC.md: "The name MUST be %-decoded and then read as UTF-8 (name=%C3%A9t%C3%A9 is été; + is '
        'a space), in the query and in the form alike."'
    ),
    expected="'Hello été à Zürich' for the name sent %-encoded as UTF-8, by GET and by POST",
)
def test_hello_decodes_utf8_escapes(endpoint: Endpoint) -> None:
    name = "été à Zürich"
    rest_http.check_hello_get(endpoint, name, f"'Hello {name}' by GET")
    rest_http.check_hello_post(endpoint, name, f"'Hello {name}' by POST")


@case(
    "rest-http/spec/4",
    level=MUST,
    requirement='SPEC.md: "The name MUST be HTML-escaped: name=<b> is shown as the text <b>, never as an element."',
    expected="the name <b>&\"' shown as text, no element inside <h1>",
)
def test_hello_escapes_the_name(endpoint: Endpoint) -> None:
    rest_http.check_hello_get(endpoint, "<b>bold</b>&\"'", "the name shown as text, not markup")


@case(
    "rest-http/spec/5",
    level=MUST,
    requirement='SPEC.md: "A missing or empty name MUST be greeted as world (Hello world)."',
    expected="'Hello world' for GET /hello and GET /hello?name=",
)
def test_hello_without_a_name_greets_the_world(endpoint: Endpoint) -> None:
    rest_http.check_hello_without_a_name(endpoint, "world", "'Hello world'")


@case(
    "rest-http/spec/6",
    level=MUST,
    requirement=(
        'SPEC.md: "GET /localtime MUST answer 200 with Content-Type: application/xml (or text/xml) '
        "and a well-formed XML document whose root is <time> with the children <year>, <month> "
        "(counted from 1), <day>, <hour>, <minute>, <second>, each a decimal integer, giving the "
        'server\'s local time, within --clock-tolerance seconds of the client\'s clock."'
    ),
    expected="200 XML <time> whose six fields are this machine's local time within --clock-tolerance",
)
def test_localtime_is_the_local_time_in_xml(endpoint: Endpoint, clock_tolerance: float) -> None:
    rest_http.check_localtime(endpoint, clock_tolerance, f"<time> within {clock_tolerance:g} s of local time")


@case(
    "rest-http/spec/7",
    level=MUST,
    requirement=(
        'SPEC.md: "A malformed request MUST be refused (RFC 9112 suggests 400) and MUST NOT stop the '
        'server: other clients, and new connections, MUST still be served."'
    ),
    expected="a malformed request line refused (4xx or a close), then a new client served",
)
def test_a_malformed_request_does_not_stop_the_server(endpoint: Endpoint) -> None:
    rest_http.check_refused_then_still_serving(
        endpoint, rest_http.MALFORMED_REQUEST, set(range(400, 500)), "a refusal, then service as usual"
    )


@case(
    "rest-http/spec/8",
    level=SHOULD,
    level_for_runner=on_one_client_at_a_time_runners(INFO),
    requirement='SPEC.md: "A client that has sent half a request SHOULD NOT delay other clients."',
    expected="while one client's request is half sent, another is greeted",
)
def test_a_half_sent_request_does_not_delay_others(endpoint: Endpoint) -> None:
    rest_http.check_others_served_during_a_slow_request(endpoint, "another client greeted meanwhile")
