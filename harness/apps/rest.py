"""The chapter's REST interface, made right: a PathDispatcher serving /hello and /localtime.

The chapter builds a tiny WSGI library: a ``PathDispatcher`` that maps (method, path) to a
handler, ``hello_world`` answering an HTML greeting, ``localtime`` answering the server's
local time as XML, and a 404 for anything else. Its bugs, each fixed here and named in
tests/test_rest_app.py:

- ``cgi.FieldStorage`` parses the parameters; ``cgi`` was removed in Python 3.13. Here the
  query (GET) or the urlencoded form (POST) is parsed with ``urllib.parse.parse_qs``.
- ``('Contetn-type', 'text/html')``: a misspelt header, so the page had no Content-Type.
- ``<boby>``: the page had no body element.
- ``params.get('name')`` printed "Hello None" when no name was given. The SPEC defines the
  answer: a missing or empty name greets "world".
- The name went into the HTML unescaped (``Hello <script>``); here it is HTML-escaped.
- An unknown method on a known path was a 404; here it is 405 with an Allow header
  (RFC 9110 §15.5.6: the server "MUST generate an Allow header field").
- HEAD was not handled; here it is answered as GET (the gateway drops the body).

The normative text is suites/rest_http/SPEC.md. The clock is passed in (``clock``), never
read, so the XML is tested at a fixed instant.
"""

from __future__ import annotations

import html
import time
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs

StartResponse = Callable[..., Any]
Handler = Callable[[dict, StartResponse], Iterable[bytes]]

# SPEC.md: "A missing or empty name MUST be greeted as world."
DEFAULT_NAME = "world"

# A form body larger than this is not a name (the gateway's own limit is larger).
MAX_FORM_BYTES = 65536

HTML_TYPE = "text/html; charset=utf-8"
XML_TYPE = "application/xml; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"

HELLO_PAGE = """<!DOCTYPE html>
<html>
  <head>
    <meta charset="utf-8">
    <title>Hello {name}</title>
  </head>
  <body>
    <h1>Hello {name}</h1>
  </body>
</html>
"""

LOCALTIME_DOCUMENT = """<?xml version="1.0" encoding="utf-8"?>
<time>
  <year>{t.tm_year}</year>
  <month>{t.tm_mon}</month>
  <day>{t.tm_mday}</day>
  <hour>{t.tm_hour}</hour>
  <minute>{t.tm_min}</minute>
  <second>{t.tm_sec}</second>
</time>
"""


def respond(start_response: StartResponse, status: str, content_type: str, body: bytes, *extra: tuple[str, str]) -> list[bytes]:
    """Start a response with a Content-Type and an exact Content-Length; return its body."""
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body))), *extra])
    return [body]


def read_body(environ: dict) -> bytes:
    """The request body: CONTENT_LENGTH bytes, or, when the server says its input ends by
    itself (``wsgi.input_terminated``, as gunicorn does for a de-chunked body without a
    CONTENT_LENGTH), everything up to that end. Nothing is read past CONTENT_LENGTH otherwise
    (PEP 3333: "The application should not attempt to read more data than is specified by the
    CONTENT_LENGTH variable").

    Raises:
        ValueError: the body is larger than ``MAX_FORM_BYTES``.
    """
    declared = environ.get("CONTENT_LENGTH")
    if declared:
        length = int(declared)
        if length > MAX_FORM_BYTES:
            raise ValueError(f"a form of {length} bytes")
        return environ["wsgi.input"].read(length)
    if environ.get("wsgi.input_terminated"):
        body = environ["wsgi.input"].read(MAX_FORM_BYTES + 1)
        if len(body) > MAX_FORM_BYTES:
            raise ValueError(f"a form of more than {MAX_FORM_BYTES} bytes")
        return body
    return b""


def request_parameters(environ: dict) -> dict[str, list[str]]:
    """The query string's parameters, plus those of an urlencoded form body.

    Raises:
        ValueError: the body is larger than ``MAX_FORM_BYTES``.
    """
    parameters = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    if environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
        form = read_body(environ).decode("utf-8", "replace")
        for key, values in parse_qs(form, keep_blank_values=True).items():
            parameters.setdefault(key, []).extend(values)
    return parameters


def name_to_greet(environ: dict) -> str:
    """The (first) ``name`` parameter, or ``DEFAULT_NAME`` when it is missing or empty.

    Raises:
        ValueError: the form body is larger than ``MAX_FORM_BYTES``.
    """
    names = request_parameters(environ).get("name", [])
    return names[0] if names and names[0] else DEFAULT_NAME


def hello_page(name: str) -> bytes:
    """The greeting page for ``name``, HTML-escaped, in UTF-8."""
    return HELLO_PAGE.format(name=html.escape(name, quote=True)).encode("utf-8")


def hello(environ: dict, start_response: StartResponse) -> Iterable[bytes]:
    """``Hello X`` as an HTML page, X the (first) ``name`` parameter, HTML-escaped."""
    try:
        name = name_to_greet(environ)
    except ValueError as exc:
        return respond(start_response, "413 Content Too Large", TEXT_TYPE, f"{exc}\n".encode())
    return respond(start_response, "200 OK", HTML_TYPE, hello_page(name))


class RestApplication:
    """The chapter's PathDispatcher with its two handlers registered.

    Args:
        clock: Unix time, for /localtime (``time.time`` in a server).
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._routes: dict[str, dict[str, Handler]] = {}
        self.register("GET", "/hello", hello)
        self.register("POST", "/hello", hello)
        self.register("GET", "/localtime", self.localtime)

    def register(self, method: str, path: str, handler: Handler) -> None:
        self._routes.setdefault(path, {})[method.upper()] = handler

    def localtime(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        document = LOCALTIME_DOCUMENT.format(t=time.localtime(self._clock()))
        return respond(start_response, "200 OK", XML_TYPE, document.encode("utf-8"))

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        methods = self._routes.get(environ["PATH_INFO"])
        if methods is None:
            return respond(start_response, "404 Not Found", TEXT_TYPE, b"Not Found\n")
        method = environ["REQUEST_METHOD"]
        handler = methods.get("GET" if method == "HEAD" else method)
        if handler is None:
            allowed = sorted({*methods, "HEAD"} if "GET" in methods else methods)
            return respond(
                start_response, "405 Method Not Allowed", TEXT_TYPE, b"Method Not Allowed\n", ("Allow", ", ".join(allowed))
            )
        return handler(environ, start_response)


# For WSGI servers that import an application by name (gunicorn harness.apps.rest:application,
# waitress-serve, uwsgi --module): the application on the real clock.
application = RestApplication()
