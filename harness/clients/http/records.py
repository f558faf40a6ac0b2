"""What an HTTP recipe returns and raises, the same for every client library.

A recipe gives back an :class:`HttpReply` — the status, the header fields, the body bytes —
whatever the status: a 404 is a reply, not an error (urllib raises ``HTTPError`` for it and
requests does not; here neither does). The JSON recipe's :class:`JsonReply` adds the decoded
document, and the HEAD recipe's :class:`HeadReply` the fields the chapter reads, each None
when the server did not send it.

What is not a reply is an :class:`HttpClientError`, worded as the suites word observations
(``expected … / actual …``, the actual one of timeout, unreachable, reset, orderly close, or
data with a hexdump), and subclassed by blame: :class:`HttpTimeoutError` (nothing in time),
:class:`HttpUnreachableError` (nobody took the connection), :class:`HttpProtocolError` (the
peer sent something that is not a complete HTTP reply, or closed or reset the connection
mid-reply), :class:`HttpJsonError` (a JSON recipe got a body that is not JSON).
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Mapping

from harness.verdicts import describe_unreachable, hexdump, preview

# A local httpbin answers in milliseconds; a public host over a slow link may want more.
# The timeout bounds each wait (connecting, then each read), not the whole exchange: neither
# library offers a total deadline, so a server that drips a byte just inside it can hold a
# call for about (reply size x timeout).
DEFAULT_TIMEOUT_S = 5.0


class ResponseHeaders(Mapping[str, str]):
    """A reply's header fields: read-only, looked up without regard to case.

    "A recipient MAY combine multiple field lines within a field section that have the same
    field name into one field line ... by appending each subsequent field line value to the
    initial field line value in order, separated by a comma" (RFC 9110, section 5.3): a name
    sent twice reads as one ``", "``-joined value, as requests already presents it. (That
    section excepts Set-Cookie, whose values may themselves hold commas; no recipe here
    reads it.)

    ``headers["Last-Modified"]`` raises KeyError when the server did not send the field, as
    any mapping does; ``headers.get("Last-Modified")`` is None then.
    """

    def __init__(self, fields: Iterable[tuple[str, str]]) -> None:
        # lower-cased name -> (the name as first sent, the combined value)
        self._fields: dict[str, tuple[str, str]] = {}
        for name, value in fields:
            key = name.lower()
            if key in self._fields:
                first_name, combined = self._fields[key]
                self._fields[key] = (first_name, f"{combined}, {value}")
            else:
                self._fields[key] = (name, value)

    def __getitem__(self, name: str) -> str:
        return self._fields[name.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._fields.values())

    def __len__(self) -> int:
        return len(self._fields)

    def __repr__(self) -> str:
        return f"ResponseHeaders({dict(self.items())!r})"


@dataclass(frozen=True)
class HttpReply:
    """A complete HTTP reply, whatever its status.

    Attributes:
        status: the status code (200, 302, 404 ...).
        headers: the header fields, case-insensitive.
        body: the body as received (content codings such as gzip already undone), b"" for
            a reply to HEAD.
    """

    status: int
    headers: ResponseHeaders
    body: bytes


@dataclass(frozen=True)
class JsonReply(HttpReply):
    """A reply whose body was decoded as JSON.

    Attributes:
        json: the decoded document (a dict for httpbin's echoes).
    """

    json: Any


@dataclass(frozen=True)
class HeadReply(HttpReply):
    """A reply to HEAD, with the fields the chapter's HEAD recipe reads.

    Attributes:
        last_modified: the Last-Modified field, or None when it was not sent.
        content_type: the Content-Type field, or None when it was not sent.
        content_length: the Content-Length field as a number (for HEAD: the length a GET
            would have had), or None when it was not sent.
    """

    last_modified: str | None
    content_type: str | None
    content_length: int | None


class HttpClientError(Exception):
    """A request that got no complete HTTP reply (or, for a JSON recipe, no JSON).

    Attributes:
        request: what was asked, ``METHOD URL``.
        expected: what a reply would have been, in words.
        actual: what was observed instead (timeout, unreachable, reset, close, data).
    """

    def __init__(self, request: str, expected: str, actual: str) -> None:
        super().__init__(request, expected, actual)
        self.request = request
        self.expected = expected
        self.actual = actual

    def __str__(self) -> str:
        return f"{self.request}: expected {self.expected}\nactual: {self.actual}"


class HttpTimeoutError(HttpClientError):
    """No connection, or no more of the reply, within the timeout."""


class HttpUnreachableError(HttpClientError):
    """The connection was refused or the host could not be reached."""


class HttpProtocolError(HttpClientError):
    """The peer closed or reset the connection mid-reply, or sent something that is not HTTP."""


class HttpJsonError(HttpProtocolError):
    """A JSON recipe's reply body is not a JSON document."""


def no_reply_error(request: str, address: str, timeout: float, cause: BaseException) -> HttpClientError:
    """The error for a request that got no complete reply, by what the socket layer saw.

    Args:
        request: ``METHOD URL``, for the message.
        address: ``host:port`` that was asked.
        timeout: the timeout in force, for the message.
        cause: the innermost exception the library raised (an OSError, an
            ``http.client.HTTPException``); each library finds it in its own wrappers.

    Returns:
        :class:`HttpTimeoutError`, :class:`HttpUnreachableError` or :class:`HttpProtocolError`.
    """
    expected = f"a complete HTTP reply from {address}"
    if isinstance(cause, TimeoutError):
        return HttpTimeoutError(request, expected, f"timeout (no more of the reply within {timeout:g} s)")
    if isinstance(cause, http.client.RemoteDisconnected):  # also a ConnectionResetError: first
        return HttpProtocolError(request, expected, "orderly close (before the status line)")
    if isinstance(cause, http.client.IncompleteRead):
        # http.client's partial is the bytes read; urllib3's subclass gives their count.
        received = cause.partial if isinstance(cause.partial, int) else len(cause.partial)
        return HttpProtocolError(
            request, expected, f"orderly close (after {received} bytes of the body, {cause.expected} more expected)"
        )
    if isinstance(cause, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
        return HttpProtocolError(request, expected, f"reset ({cause})")
    if isinstance(cause, OSError):  # refused, no route, no such host
        reason = str(cause.strerror or cause)
        return HttpUnreachableError(request, expected, describe_unreachable(address, reason))
    what = f"{type(cause).__name__}: {str(cause)!r}"
    return HttpProtocolError(request, expected, f"data that is not an HTTP reply ({what})")


def head_reply(status: int, headers: ResponseHeaders, body: bytes, request: str) -> HeadReply:
    """A :class:`HeadReply`, its absent fields None rather than a KeyError.

    Raises:
        HttpProtocolError: Content-Length is not a number ("Content-Length = 1*DIGIT",
            RFC 9110 section 8.6).
    """
    content_length = headers.get("Content-Length")
    digits = None if content_length is None else content_length.strip()
    if digits is not None and not (digits.isascii() and digits.isdigit()):
        raise HttpProtocolError(
            request, "a Content-Length of decimal digits", f"data (Content-Length: {content_length!r})"
        )
    return HeadReply(
        status,
        headers,
        body,
        last_modified=headers.get("Last-Modified"),
        content_type=headers.get("Content-Type"),
        content_length=None if digits is None else int(digits),
    )


def json_error(request: str, body: bytes, reason: str) -> HttpJsonError:
    """The error for a body that did not decode as JSON: the body's first bytes, hexdumped."""
    dump = "\n".join(hexdump(body))
    return HttpJsonError(request, "a JSON document in the body", f"data ({preview(body)}; {reason})\n{dump}")


def decode_json_body(body: bytes, charset: str, request: str) -> Any:
    """``json.loads`` of the body decoded with ``charset``.

    Raises:
        HttpJsonError: the body is not text in that charset, or not JSON.
    """
    try:
        return json.loads(body.decode(charset))
    except (UnicodeDecodeError, LookupError, ValueError) as error:
        raise json_error(request, body, str(error)) from error


@dataclass(frozen=True)
class HttpRecipes:
    """The chapter's recipes in one client library, so that every library is run alike.

    Each recipe sends one request with ``timeout`` bounding each wait, returns the reply
    whatever its status, and raises :class:`HttpClientError` when there is no reply.

    Attributes:
        name: the library's name (``urllib``, ``requests``), the tests' parameter id.
    """

    name: str
    get_with_query: Callable[..., HttpReply]
    post_form: Callable[..., HttpReply]
    head: Callable[..., HeadReply]
    get_json: Callable[..., JsonReply]
