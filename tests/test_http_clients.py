"""The reference HTTP clients, each recipe in urllib and in requests, against a local httpbin.

httpbin (the PyPI application, served by waitress: fixtures/thirdparty/httpbin_waitress.py)
echoes what it received as JSON, so each test asserts on what the server saw — the query as
``args``, the form as ``form``, the header fields as ``headers`` — not on what the client
meant to send. Every test runs once per library (``HTTP_CLIENT_LIBRARIES``) through the
same record types. The tests named for a bug of the chapter's client code show the right
behaviour where the chapter's code went wrong; the package docstring of
``harness.clients.http`` lists those bugs.

One httpbin per module (per xdist worker), stopped at the end. The failure tests use
loopback sockets of their own: a listener that never accepts (silent), a port nobody
listens on (refused), and a one-connection fake peer that reads a request and answers it
wrongly (no reply, a reply that is not HTTP, a body cut short).
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import urllib.request
from typing import Iterator
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fixtures.thirdparty import RECIPES_DIRECTORY
from harness.clients.http import (
    HTTP_CLIENT_LIBRARIES,
    HttpJsonError,
    HttpProtocolError,
    HttpRecipes,
    HttpTimeoutError,
    HttpUnreachableError,
)
from harness.launch import launch_command

HTTPBIN_RECIPE = RECIPES_DIRECTORY / "httpbin_waitress.py"

# The chapter's form and header fields, verbatim.
CHAPTER_FORM = {"name1": "value1", "name2": "value2"}
CHAPTER_HEADERS = {
    "User-agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:69.0) Gecko/20100101 Firefox/69.0",
    "Spam": "Eggs",
}

# A silent server makes the recipe wait out its whole timeout: short, as loopback needs.
SILENT_SERVER_TIMEOUT_S = 0.2

# How long the fake peer waits for the recipe's connection and request; a bound on the
# thread's life should the recipe never connect (the test then fails on its own).
FAKE_PEER_TIMEOUT_S = 5.0

# What a fake peer sends once it has read a GET, then closes; and what the client error must
# say it observed.
WRONG_ANSWERS = {
    "no_reply": (b"", r"orderly close \(before the status line\)"),
    "not_http": (b"garbage\r\n\r\n", r"data that is not an HTTP reply \(BadStatusLine"),
    "body_cut_short": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
        r"orderly close \(after 3 bytes of the body, 7 more expected\)",
    ),
}

# httpbin's /json document starts with this (its sample slideshow).
HTTPBIN_JSON_TITLE = "Sample Slide Show"

# A Last-Modified value for httpbin's /response-headers to send back (RFC 9110's example).
LAST_MODIFIED = "Tue, 15 Nov 1994 12:45:26 GMT"

each_library = pytest.mark.parametrize("library", HTTP_CLIENT_LIBRARIES, ids=lambda library: library.name)

# Query and form text: any characters but lone surrogates (not encodable as UTF-8), names
# not empty (an empty name is dropped by the form parser).
form_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
form_fields = st.dictionaries(form_text.filter(bool), form_text, max_size=5)


@pytest.fixture(scope="module")
def httpbin() -> Iterator[str]:
    """The base URL of an httpbin served by waitress on 127.0.0.1, stopped after the module."""
    with launch_command([sys.executable, str(HTTPBIN_RECIPE)]) as server:
        yield f"http://{server.host}:{server.port}"
        assert server.stop() == 0, server.stderr_text()  # SIGTERM: a clean exit


@pytest.fixture
def silent_url() -> Iterator[str]:
    """A URL whose listener completes connections (the kernel does) but never answers."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/"


@contextlib.contextmanager
def peer_answering(answer: bytes) -> Iterator[str]:
    """A URL whose peer reads one request's header section, sends ``answer`` and closes.

    Only requests without a body may be sent to it: closing with a body unread would reset
    the connection instead of closing it, and which of the two the client sees would be a race.
    """
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(FAKE_PEER_TIMEOUT_S)

        def answer_once() -> None:
            connection, _ = listener.accept()
            with connection:
                connection.settimeout(FAKE_PEER_TIMEOUT_S)
                received = b""
                while b"\r\n\r\n" not in received:
                    chunk = connection.recv(4096)
                    if not chunk:
                        return
                    received += chunk
                connection.sendall(answer)

        peer = threading.Thread(target=answer_once, daemon=True)
        peer.start()
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
        peer.join(FAKE_PEER_TIMEOUT_S)


def echoed(reply_body: bytes) -> dict:
    """httpbin's echo of the request, from a reply body."""
    return json.loads(reply_body)


# --- the recipes --------------------------------------------------------------------------


@each_library
def test_get_sends_its_query_as_args(library: HttpRecipes, httpbin: str) -> None:
    reply = library.get_with_query(f"{httpbin}/get", CHAPTER_FORM)
    assert reply.status == 200
    assert echoed(reply.body)["args"] == CHAPTER_FORM


@each_library
def test_post_sends_its_form_urlencoded(library: HttpRecipes, httpbin: str) -> None:
    reply = library.post_form(f"{httpbin}/post", CHAPTER_FORM)
    assert reply.status == 200
    seen = echoed(reply.body)
    assert seen["form"] == CHAPTER_FORM
    assert seen["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert seen["headers"]["Content-Length"] == "25"  # len("name1=value1&name2=value2"), as in the chapter


@each_library
def test_custom_headers_reach_the_server(library: HttpRecipes, httpbin: str) -> None:
    reply = library.post_form(f"{httpbin}/post", CHAPTER_FORM, headers=CHAPTER_HEADERS)
    headers_seen = echoed(reply.body)["headers"]
    assert headers_seen["User-Agent"] == CHAPTER_HEADERS["User-agent"]
    assert headers_seen["Spam"] == "Eggs"


@each_library
def test_head_reads_the_status_and_header_fields(library: HttpRecipes, httpbin: str) -> None:
    # httpbin's /response-headers sends back the fields named in its query.
    reply = library.head(f"{httpbin}/response-headers?{urlencode({'Last-Modified': LAST_MODIFIED})}")
    assert reply.status == 200
    assert reply.body == b""
    assert reply.last_modified == LAST_MODIFIED
    assert reply.content_type == "application/json"
    assert reply.content_length is not None and reply.content_length > 0  # the GET body's length


@each_library
def test_get_json_decodes_the_body(library: HttpRecipes, httpbin: str) -> None:
    reply = library.get_json(f"{httpbin}/json")
    assert reply.status == 200
    assert reply.json["slideshow"]["title"] == HTTPBIN_JSON_TITLE
    assert reply.json == json.loads(reply.body)


@each_library
def test_get_json_of_the_chapters_httpbin_example(library: HttpRecipes, httpbin: str) -> None:
    reply = library.get_json(f"{httpbin}/get", {"name": "Dave", "n": "37"}, headers={"User-agent": "goaway/1.0"})
    assert reply.json["args"] == {"name": "Dave", "n": "37"}
    assert reply.json["headers"]["User-Agent"] == "goaway/1.0"


@each_library
@given(fields=form_fields)
def test_any_query_and_form_round_trip(library: HttpRecipes, httpbin: str, fields: dict[str, str]) -> None:
    assert echoed(library.get_with_query(f"{httpbin}/get", fields).body)["args"] == fields
    assert echoed(library.post_form(f"{httpbin}/post", fields).body)["form"] == fields


# --- one test per bug of the chapter's client code ----------------------------------------


@each_library
def test_json_is_called_not_returned_as_a_bound_method(library: HttpRecipes, httpbin: str) -> None:
    # The chapter: (resp.json)['args'] -> TypeError: 'method' object is not subscriptable.
    reply = library.get_json(f"{httpbin}/get", {"name": "Dave"})
    assert not callable(reply.json)
    assert reply.json["args"] == {"name": "Dave"}


@each_library
def test_post_reads_its_own_response_not_the_previous_one(library: HttpRecipes, httpbin: str) -> None:
    # The chapter sent no POST and read the previous GET's drained response: b''.
    library.get_with_query(f"{httpbin}/get", {"previous": "request"})
    reply = library.post_form(f"{httpbin}/post", CHAPTER_FORM)
    seen = echoed(reply.body)
    assert seen["url"] == f"{httpbin}/post"
    assert seen["form"] == CHAPTER_FORM
    assert seen["args"] == {}


@each_library
def test_custom_headers_recipe_names_its_own_url_body_and_method(library: HttpRecipes, httpbin: str) -> None:
    # The chapter's header example reused the previous cells' url and body, and was a POST
    # only because it passed one. Header fields change neither URL nor method here.
    get_url, post_url = f"{httpbin}/anything/get", f"{httpbin}/anything/post"
    get_seen = echoed(library.get_with_query(get_url, {}, headers=CHAPTER_HEADERS).body)
    post_seen = echoed(library.post_form(post_url, CHAPTER_FORM, headers=CHAPTER_HEADERS).body)
    assert (get_seen["method"], get_seen["url"], get_seen["form"]) == ("GET", get_url, {})
    assert (post_seen["method"], post_seen["url"], post_seen["form"]) == ("POST", post_url, CHAPTER_FORM)
    assert get_seen["headers"]["Spam"] == post_seen["headers"]["Spam"] == "Eggs"


@each_library
def test_head_without_last_modified_reads_none_not_a_key_error(library: HttpRecipes, httpbin: str) -> None:
    # The chapter: resp.headers['Last-Modified'] -> KeyError: 'last-modified'.
    reply = library.head(f"{httpbin}/get")
    assert reply.status == 200
    assert reply.last_modified is None
    assert reply.headers.get("Last-Modified") is None
    assert reply.content_type == reply.headers.get("content-type") == "application/json"  # any case


@each_library
def test_head_returns_the_redirect_it_did_not_follow(library: HttpRecipes, httpbin: str) -> None:
    # The chapter's HEAD got a 301 and read it as the page: HEAD does not follow by default.
    reply = library.head(f"{httpbin}/redirect/1")
    assert reply.status == 302
    assert reply.headers.get("Location") == "/get"
    assert reply.last_modified is None


@each_library
def test_head_follows_a_redirect_with_head_when_asked(library: HttpRecipes, httpbin: str) -> None:
    reply = library.head(f"{httpbin}/redirect/1", follow_redirects=True)
    assert reply.status == 200
    assert reply.body == b""  # a GET would have brought /get's echo
    assert reply.content_length is not None and reply.content_length > 0


def test_plain_urllib_turns_a_redirected_head_into_a_get_before_python_3_13(httpbin: str) -> None:
    # Why urllib's head() installs its own redirect policy: without it, this happens on the
    # Pythons wirecheck supports before 3.13, where urllib learnt to keep the method.
    request = urllib.request.Request(f"{httpbin}/redirect/1", method="HEAD")
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200
        body = response.read()
    if sys.version_info < (3, 13):
        assert echoed(body)["url"] == f"{httpbin}/get"  # a body: it was a GET
    else:
        assert body == b""


@each_library
@pytest.mark.parametrize("recipe", ["get_with_query", "post_form", "head", "get_json"])
def test_silent_server_times_out_instead_of_hanging(library: HttpRecipes, recipe: str, silent_url: str) -> None:
    # The chapter's calls have no timeout: against this server they would wait forever.
    call = getattr(library, recipe)
    arguments = {"head": (), "get_json": ()}.get(recipe, ({"name": "Dave"},))
    with pytest.raises(HttpTimeoutError, match=r"timeout \(no more of the reply within 0\.2 s\)"):
        call(silent_url, *arguments, timeout=SILENT_SERVER_TIMEOUT_S)


@each_library
def test_query_is_urlencoded_and_merged_with_the_urls_own(library: HttpRecipes, httpbin: str) -> None:
    # The chapter glues url + '?' + querystring, and writes '?name=Dave&n=37' by hand.
    params = {"name": "Dave & Co=1", "city": "Zürich", "n": "37"}
    reply = library.get_with_query(f"{httpbin}/get?already=here", params)
    assert echoed(reply.body)["args"] == {"already": "here", **params}


@each_library
@pytest.mark.parametrize("status", [404, 500])
def test_error_status_is_a_reply_in_both_libraries(library: HttpRecipes, status: int, httpbin: str) -> None:
    # urlopen raises these as HTTPError, requests returns them; the chapter checks neither.
    reply = library.get_with_query(f"{httpbin}/status/{status}", {})
    assert reply.status == status


# --- no reply -----------------------------------------------------------------------------


@each_library
def test_refused_connection_is_unreachable(library: HttpRecipes) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(HttpUnreachableError, match=r"unreachable \(.*refused by 127\.0\.0\.1:\d+\)"):
        library.get_with_query(f"http://127.0.0.1:{port}/get", {}, timeout=SILENT_SERVER_TIMEOUT_S)


@each_library
@pytest.mark.parametrize("answer, observed", list(WRONG_ANSWERS.values()), ids=list(WRONG_ANSWERS))
def test_wrong_answer_is_a_protocol_error_saying_what_came(library: HttpRecipes, answer: bytes, observed: str) -> None:
    with peer_answering(answer) as url, pytest.raises(HttpProtocolError, match=observed):
        library.get_with_query(url, {}, timeout=FAKE_PEER_TIMEOUT_S)


@each_library
def test_head_with_a_content_length_that_is_not_a_number_is_a_protocol_error(library: HttpRecipes) -> None:
    with peer_answering(b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n") as url:
        with pytest.raises(HttpProtocolError, match=r"expected a Content-Length of decimal digits\nactual: data"):
            library.head(url, timeout=FAKE_PEER_TIMEOUT_S)


@each_library
def test_a_field_sent_twice_reads_as_one_joined_value(library: HttpRecipes, httpbin: str) -> None:
    # httpbin's /response-headers sends a field once per value given for it.
    reply = library.get_with_query(f"{httpbin}/response-headers?X-Twice=one&X-Twice=two", {})
    assert reply.headers.get("x-twice") == reply.headers["X-TWICE"] == "one, two"


@each_library
def test_json_recipe_names_a_body_that_is_not_json(library: HttpRecipes, httpbin: str) -> None:
    with pytest.raises(HttpJsonError, match=r"expected a JSON document in the body\nactual: data \(\d+ bytes: 3c 21"):
        library.get_json(f"{httpbin}/html")
