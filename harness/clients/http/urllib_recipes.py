"""The chapter's HTTP client recipes in the standard library's ``urllib.request``.

Every request goes through :func:`_exchange`, which opens it with a timeout, reads the whole
reply inside a ``with`` block (the chapter's ``u = request.urlopen(...)`` never closes its
response), and turns urllib's two ways of reporting a reply into one: ``urlopen`` *returns*
a 2xx reply but *raises* every other status as ``HTTPError`` — which is itself the reply,
with its status, headers and a readable body — so both become an :class:`HttpReply`.

Redirects: urllib follows them, but before Python 3.13 turns a redirected HEAD into a GET
(its ``HTTPRedirectHandler.redirect_request`` builds the new request without a method), so
a HEAD that meets a redirect downloads the target's body. RFC 9110 lets a client change only
POST to GET on a 301 or 302 ("For historical reasons, a user agent MAY change the request
method from POST to GET for the subsequent request", sections 15.4.2 and 15.4.3);
:class:`_RedirectPolicy` keeps HEAD a HEAD, or follows nothing when asked.
"""

from __future__ import annotations

import email.message
import http.client
from typing import Any, Mapping
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode, urlsplit, urlunsplit
from urllib.request import HTTPRedirectHandler, Request, build_opener

from harness.clients.http.records import (
    DEFAULT_TIMEOUT_S,
    HeadReply,
    HttpReply,
    JsonReply,
    ResponseHeaders,
    decode_json_body,
    head_reply,
    no_reply_error,
)

# What an HTML form sends, and what urlencode produces (the WHATWG URL standard's
# application/x-www-form-urlencoded serializer, which urlencode implements).
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"

# "JSON text exchanged between systems that are not part of a closed ecosystem MUST be
# encoded using UTF-8" (RFC 8259, section 8.1): the charset when Content-Type names none.
JSON_DEFAULT_CHARSET = "utf-8"


def url_with_query(url: str, params: Mapping[str, str]) -> str:
    """``url`` with ``params`` urlencoded and appended to whatever query it already has.

    The chapter writes ``url + '?' + querystring``, which makes ``/get?a=1?b=2`` of a URL
    that already has a query; this joins with ``&`` then.

    Args:
        url: an ``http://`` URL, with or without a query.
        params: names and values, percent-encoded here (spaces as ``+``).

    Returns:
        The URL with the combined query (unchanged when ``params`` is empty).
    """
    parts = urlsplit(url)
    query = "&".join(part for part in (parts.query, urlencode(params)) if part)
    return urlunsplit(parts._replace(query=query))


def get_with_query(
    url: str,
    params: Mapping[str, str],
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> HttpReply:
    """GET ``url`` with ``params`` as its urlencoded query.

    Args:
        url: the resource (a query it already has is kept).
        params: the query's names and values.
        headers: extra request header fields (e.g. ``{"User-agent": ..., "Spam": "Eggs"}``).
        timeout: seconds each wait (connect, each read) may take.

    Returns:
        The reply, whatever its status.

    Raises:
        HttpClientError: no complete reply (timeout, unreachable, closed or reset mid-reply).
    """
    return _exchange(Request(url_with_query(url, params), headers=dict(headers or {}), method="GET"), timeout)


def post_form(
    url: str,
    form: Mapping[str, str],
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> HttpReply:
    """POST ``form`` urlencoded as the request body, and read this request's own reply.

    Args:
        url: the resource.
        form: the form's names and values.
        headers: extra request header fields; they may replace the form Content-Type.
        timeout: seconds each wait may take.

    Returns:
        The reply to this POST, whatever its status.

    Raises:
        HttpClientError: no complete reply.
    """
    # urlencode's second parameter is doseq: the chapter's urlencode(parms, bytes) passed the
    # body there and sent nothing. The body is the encoded form, as ASCII bytes.
    body = urlencode(form).encode("ascii")
    fields = {"Content-Type": FORM_CONTENT_TYPE, **(headers or {})}
    return _exchange(Request(url, data=body, headers=fields, method="POST"), timeout)


def head(
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    follow_redirects: bool = False,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> HeadReply:
    """HEAD ``url``: the status and header fields, a field the server did not send as None.

    Args:
        url: the resource.
        headers: extra request header fields.
        follow_redirects: False (requests' default for HEAD) returns a 3xx as it came, its
            Location in the headers; True follows it with HEAD again (not urllib's GET).
        timeout: seconds each wait may take.

    Returns:
        The reply, with ``last_modified``, ``content_type`` and ``content_length``.

    Raises:
        HttpClientError: no complete reply, or a Content-Length that is not a number.
    """
    request = Request(url, headers=dict(headers or {}), method="HEAD")
    reply = _exchange(request, timeout, follow_redirects=follow_redirects)
    return head_reply(reply.status, reply.headers, reply.body, _describe(request))


def get_json(
    url: str,
    params: Mapping[str, str] | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> JsonReply:
    """GET ``url`` and decode the reply body as JSON (``json.loads`` of the decoded text).

    Args:
        url: the resource.
        params: an optional query.
        headers: extra request header fields.
        timeout: seconds each wait may take.

    Returns:
        The reply and its decoded document (``reply.json``), whatever the status.

    Raises:
        HttpJsonError: the body is not JSON in the charset Content-Type names (UTF-8 when
            it names none).
        HttpClientError: no complete reply.
    """
    request = Request(url_with_query(url, params or {}), headers=dict(headers or {}), method="GET")
    reply = _exchange(request, timeout)
    document = decode_json_body(reply.body, _content_charset(reply.headers), _describe(request))
    return JsonReply(reply.status, reply.headers, reply.body, json=document)


class _RedirectPolicy(HTTPRedirectHandler):
    """urllib's redirect handling, but a HEAD stays a HEAD, or nothing is followed at all."""

    def __init__(self, follow: bool) -> None:
        super().__init__()
        self.follow = follow

    def redirect_request(
        self, req: Request, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> Request | None:
        if not self.follow:
            return None  # urllib then raises the 3xx as HTTPError: _exchange returns it
        follow_up = super().redirect_request(req, fp, code, msg, headers, newurl)
        if follow_up is not None and req.get_method() == "HEAD":
            follow_up.method = "HEAD"
        return follow_up


def _exchange(request: Request, timeout: float, *, follow_redirects: bool = True) -> HttpReply:
    """Send ``request``, read its whole reply, close it.

    Raises:
        HttpClientError: no complete reply.

    Resource handling: the response (and its connection) is closed before returning.
    """
    opener = build_opener(_RedirectPolicy(follow_redirects))  # replaces the default handler
    try:
        try:
            response = opener.open(request, timeout=timeout)
        except HTTPError as error_reply:  # a 4xx, 5xx or unfollowed 3xx: a reply all the same
            response = error_reply
        with response:
            return HttpReply(response.status, ResponseHeaders(response.headers.items()), response.read())
    except URLError as error:  # raised while connecting, sending or awaiting the status line
        if not isinstance(error.reason, OSError):
            raise  # a URL urllib cannot handle (no host, unknown scheme): the caller's mistake
        raise no_reply_error(_describe(request), _address(request), timeout, error.reason) from error
    except (OSError, http.client.HTTPException) as error:  # raised while reading the body
        raise no_reply_error(_describe(request), _address(request), timeout, error) from error


def _content_charset(headers: ResponseHeaders) -> str:
    """The charset parameter of Content-Type, or UTF-8."""
    content_type = email.message.Message()
    content_type["Content-Type"] = headers.get("Content-Type", "application/octet-stream")
    return content_type.get_content_charset(JSON_DEFAULT_CHARSET)


def _describe(request: Request) -> str:
    return f"{request.get_method()} {request.full_url}"


def _address(request: Request) -> str:
    return request.host
