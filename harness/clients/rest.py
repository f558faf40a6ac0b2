"""The chapter's REST interface from the client side: the greeting page read, parsed, judged.

One reader of the ``/hello`` page for everything that asks for it: the suite's checkers
(harness/checks/rest_http.py), the locust user (loadtests/rest_http.py) and the plain threaded
client's requester (:func:`hello_requester`). The page is parsed with ``html.parser``, never
grepped: a greeting inside a comment, an attribute or a second ``<h1>`` is not a greeting.

:class:`HelloPageParser` collects the text of ``<title>`` and ``<h1>``, whether a ``<body>``
exists and which elements appear inside ``<h1>`` (an unescaped name shows up as one).
:func:`greeting_problem` says what is wrong with a reply to ``GET /hello?name=X``, or None.
"""

from __future__ import annotations

import html.parser
import http.client
import itertools
from urllib.parse import quote

from harness.clients.requesters import KeepAliveHttpRequester, RequestOptions, RoundTripError

HELLO_PATH = "/hello"


class HelloPageParser(html.parser.HTMLParser):
    """Collects the text of <title> and <h1>, and whether <body> and <h1> children appear."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.h1 = ""
        self.has_body = False
        self.elements_in_h1: list[str] = []
        self._open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if "h1" in self._open:
            self.elements_in_h1.append(tag)
        if tag == "body":
            self.has_body = True
        self._open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._open:
            while self._open and self._open.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if "title" in self._open:
            self.title += data
        if "h1" in self._open:
            self.h1 += data


def parse_hello_page(text: str) -> HelloPageParser:
    """The page's parts (see :class:`HelloPageParser`)."""
    page = HelloPageParser()
    page.feed(text)
    page.close()
    return page


def hello_target(name: str) -> str:
    """The request target of ``GET /hello`` greeting ``name`` (percent-encoded query)."""
    return f"{HELLO_PATH}?name={quote(name)}"


def greeting_problem(status: int, body: bytes, name: str) -> str | None:
    """What is wrong with a reply to ``GET /hello?name=<name>``, or None when it is right.

    Right means status 200 and an ``<h1>`` whose text, whitespace collapsed, is exactly
    ``Hello <name>`` with no element inside it (suites/rest_http/SPEC.md).
    """
    if status != 200:
        return f"expected status 200 / actual: {status}"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        return f"expected a UTF-8 page / actual: undecodable ({error})"
    page = parse_hello_page(text)
    greeting = f"Hello {name}"
    h1 = " ".join(page.h1.split())
    if h1 != greeting:
        return f"expected <h1> {greeting!r} / actual: {h1!r}"
    if page.elements_in_h1:
        return f"expected <h1> text only / actual: elements {page.elements_in_h1} inside it"
    return None


class HelloPageError(RoundTripError):
    """The server answered ``GET /hello`` with something other than the greeting asked for."""


# Names the requesters greet, numbered so that a reply meant for another request is caught.
_requester_numbers = itertools.count(1)


class HelloRequester(KeepAliveHttpRequester):
    """One keep-alive HTTP/1.1 connection asking ``GET /hello?name=...`` and judging each page.

    Each request greets a fresh numbered name, so a page meant for another request (a server
    answering out of order) is a failure, not a pass.

    Resource handling: the connection is opened lazily by http.client and closed by
    :meth:`close`; :meth:`interrupt` shuts its socket down so a blocked read returns.
    """

    def __init__(self, address: tuple[str, int], options: RequestOptions) -> None:
        super().__init__(address, options)
        self._prefix = f"wirecheck-{next(_requester_numbers)}-"
        self._sequence = itertools.count(1)

    def request(self) -> int:
        name = f"{self._prefix}{next(self._sequence)}"
        try:
            self.connection.request("GET", hello_target(name))
            response = self.connection.getresponse()
            body = response.read()
        except http.client.HTTPException as error:
            raise HelloPageError(f"expected an HTTP/1.1 response / actual: {type(error).__name__}: {error}") from None
        problem = greeting_problem(response.status, body, name)
        if problem is not None:
            raise HelloPageError(problem)
        return len(body)



def hello_requester(address: tuple[str, int], options: RequestOptions) -> HelloRequester:
    """The REST service's requester factory (harness/clients/requesters.py)."""
    return HelloRequester(address, options)
