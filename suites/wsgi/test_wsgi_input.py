"""wsgi, PEP 3333's input and error streams, through the probe application."""

from harness.cases import case
from harness.checks import Endpoint
from harness.checks import wsgi
from harness.verdicts import INFO, MUST, SHOULD

PEP_METHODS = (
    'PEP 3333: "The methods listed in the table above **must** be supported by all servers conforming to this '
    'specification." (read(size), readline(), readlines(hint), __iter__(); "The semantics of each method are as '
    'documented in the Python Library Reference")'
)
BODY = b"one\ntwo\nthree"
# The method cases ask only for what lies within the body, its last line terminated: PEP 3333
# makes end-of-file at CONTENT_LENGTH a SHOULD (wsgi/input/5), so a server that does not
# simulate it (wsgiref: the input is the socket's file) must not fail a MUST for that here.
LINES = b"one\ntwo\nthree\n"


@case("wsgi/input/1", level=MUST, requirement=PEP_METHODS, expected="read(4), read(9) on 'one\\ntwo\\nthree' return 'one\\n', 'two\\nthree'")
def test_read_with_a_size(endpoint: Endpoint) -> None:
    wsgi.check_input_operations(endpoint, BODY, "read:4,read:9", ["one\n", "two\nthree"], "sized reads of the body")


@case("wsgi/input/2", level=MUST, requirement=PEP_METHODS,
      expected="readline() three times on 'one\\ntwo\\nthree\\n' returns the three lines")
def test_readline(endpoint: Endpoint) -> None:
    lines = ["one\n", "two\n", "three\n"]
    wsgi.check_input_operations(endpoint, LINES, "readline,readline,readline", lines, "the body's lines")


@case("wsgi/input/3", level=MUST, requirement=PEP_METHODS,
      expected="readlines(13) on the 14-byte 'one\\ntwo\\nthree\\n' returns the three lines (the hint may be ignored)")
def test_readlines(endpoint: Endpoint) -> None:
    lines = ["one\n", "two\n", "three\n"]
    wsgi.check_input_operations(endpoint, LINES, f"readlines:{len(LINES) - 1}", [lines], "the body's lines")


@case("wsgi/input/4", level=MUST, requirement=PEP_METHODS,
      expected="an iterator over wsgi.input yields 'one\\n', 'two\\n', 'three\\n' for 'one\\ntwo\\nthree\\n'")
def test_iteration(endpoint: Endpoint) -> None:
    lines = ["one\n", "two\n", "three\n"]
    wsgi.check_input_operations(endpoint, LINES, "next,next,next", lines, "the body's lines")


@case("wsgi/input/5", level=SHOULD,
      requirement='PEP 3333: "The server is not required to read past the client\'s specified ``Content-Length``, and **should** simulate an end-of-file condition if the application attempts to read past that point."',
      expected="read(100) on a 13-byte body returns the 13 bytes, then read(10) returns b''")
def test_reading_past_the_body_is_eof(endpoint: Endpoint) -> None:
    wsgi.check_input_operations(endpoint, BODY, "read:100,read:10", ["one\ntwo\nthree", ""], "EOF at the end of the body")


@case("wsgi/input/6", level=SHOULD,
      requirement='PEP 3333: "A server **should** allow ``read()`` to be called without an argument, and return the remainder of the client\'s input stream."',
      expected="read(4) then read() return 'one\\n' and the rest")
def test_read_without_a_size(endpoint: Endpoint) -> None:
    wsgi.check_input_operations(endpoint, BODY, "read:4,read", ["one\n", "two\nthree"], "the remainder")


@case("wsgi/input/7", level=SHOULD,
      requirement='PEP 3333: "Servers **should** support the optional "size" argument to ``readline()``"',
      expected="readline(2) returns 'on', then readline() 'e\\n'")
def test_readline_with_a_size(endpoint: Endpoint) -> None:
    wsgi.check_input_operations(endpoint, BODY, "readline:2,readline", ["on", "e\n"], "a bounded readline")


@case("wsgi/input/8", level=MUST,
      requirement='PEP 3333: "WSGI servers **must** handle any supported inbound "hop-by-hop" headers on their own, such as by decoding any inbound ``Transfer-Encoding``, including chunked encoding if applicable."',
      expected="a chunked request body read whole: read(100) returns the 13 bytes")
def test_chunked_body_is_delivered_whole(endpoint: Endpoint) -> None:
    wsgi.check_input_operations(endpoint, BODY, "read:100", ["one\ntwo\nthree"], "the de-chunked body", chunk=True)


@case("wsgi/input/9", level=INFO, requirement="wsgi.input_terminated (a server extension, not in PEP 3333): whether the server says its input stream ends by itself",
      expected="wsgi.input_terminated recorded")
def test_input_terminated(endpoint: Endpoint, record_observation) -> None:
    record_observation(wsgi.observe_input_terminated(endpoint, "reported"))


@case("wsgi/errors/1", level=MUST, requirement='PEP 3333: "The methods listed in the table above **must** be supported by all servers" (flush(), write(str), writelines(seq) of ``errors``)',
      expected="wsgi.errors.write, writelines and flush succeed")
def test_errors_stream_works(endpoint: Endpoint) -> None:
    wsgi.check_errors_stream(endpoint, "a working error stream")
