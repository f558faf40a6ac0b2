"""The chapter's HTTP client recipes in requests.

requests does what urllib needs spelling out for: ``params=`` merges an encoded query into
the URL, ``data=`` of a mapping sends an urlencoded form with its Content-Type, a reply of
any status is returned rather than raised, a redirected HEAD stays a HEAD, and
``Response.json()`` decodes the body — a method, to be called: the chapter's ``resp.json``
without the parentheses is the bound method itself.

Each call goes through :func:`requests.request`, which opens a session for the one request
and closes it (and its connection) before returning; the body has been read in full by
then (no ``stream=True``). requests reports a failure through two layers of wrappers
(requests' own exceptions around urllib3's around the socket's), and :func:`_socket_cause`
digs out what the socket layer saw, so that both libraries' failures read alike.
"""

from __future__ import annotations

import http.client
from typing import Any, Mapping
from urllib.parse import urlsplit

import requests
import urllib3.exceptions

from harness.clients.http.records import (
    DEFAULT_TIMEOUT_S,
    HeadReply,
    HttpReply,
    JsonReply,
    ResponseHeaders,
    head_reply,
    json_error,
    no_reply_error,
)

# How deep to look through wrapped exceptions for the socket's own: requests wraps urllib3's
# MaxRetryError, which wraps NewConnectionError or ProtocolError, which wraps the OSError.
CAUSE_SEARCH_LIMIT = 16


def get_with_query(
    url: str,
    params: Mapping[str, str],
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> HttpReply:
    """GET ``url`` with ``params`` as its urlencoded query (``params=``).

    Args:
        url: the resource (a query it already has is kept).
        params: the query's names and values.
        headers: extra request header fields; they replace requests' defaults of the same
            name (``User-agent`` replaces ``python-requests/...``).
        timeout: seconds each wait (connect, each read) may take.

    Returns:
        The reply, whatever its status.

    Raises:
        HttpClientError: no complete reply (timeout, unreachable, closed or reset mid-reply).
    """
    return _reply(_send("GET", url, timeout, params=dict(params), headers=headers))


def post_form(
    url: str,
    form: Mapping[str, str],
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> HttpReply:
    """POST ``form`` urlencoded as the request body (``data=``), and read its own reply.

    Args:
        url: the resource.
        form: the form's names and values; requests sets the form Content-Type.
        headers: extra request header fields.
        timeout: seconds each wait may take.

    Returns:
        The reply to this POST, whatever its status.

    Raises:
        HttpClientError: no complete reply.
    """
    return _reply(_send("POST", url, timeout, data=dict(form), headers=headers))


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
        follow_redirects: False (requests' default for HEAD: the chapter's 301) returns a 3xx
            as it came, its Location in the headers; True follows it, with HEAD again.
        timeout: seconds each wait may take.

    Returns:
        The reply, with ``last_modified``, ``content_type`` and ``content_length``.

    Raises:
        HttpClientError: no complete reply, or a Content-Length that is not a number.
    """
    response = _send("HEAD", url, timeout, headers=headers, allow_redirects=follow_redirects)
    reply = _reply(response)
    return head_reply(reply.status, reply.headers, reply.body, _describe(response.request))


def get_json(
    url: str,
    params: Mapping[str, str] | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> JsonReply:
    """GET ``url`` and decode the reply body as JSON with ``Response.json()`` — called.

    Args:
        url: the resource.
        params: an optional query.
        headers: extra request header fields.
        timeout: seconds each wait may take.

    Returns:
        The reply and its decoded document (``reply.json``), whatever the status.

    Raises:
        HttpJsonError: the body is not JSON.
        HttpClientError: no complete reply.
    """
    response = _send("GET", url, timeout, params=dict(params or {}), headers=headers)
    try:
        document = response.json()  # a call: `response.json` alone is the bound method
    except requests.JSONDecodeError as error:
        raise json_error(_describe(response.request), response.content, str(error)) from error
    reply = _reply(response)
    return JsonReply(reply.status, reply.headers, reply.body, json=document)


def _send(method: str, url: str, timeout: float, **arguments: Any) -> requests.Response:
    """``requests.request`` with a timeout, its failures turned into HttpClientError.

    Raises:
        HttpClientError: no complete reply.

    Resource handling: requests.request closes its one-request session before returning.
    """
    try:
        return requests.request(method, url, timeout=timeout, **arguments)
    except (
        requests.ConnectionError,  # also ConnectTimeout, and a read timeout in the body
        requests.Timeout,
        requests.exceptions.ChunkedEncodingError,  # the body ended early
        requests.exceptions.ContentDecodingError,  # gzip/deflate/br that does not decode
    ) as error:
        raise no_reply_error(f"{method} {url}", urlsplit(url).netloc, timeout, _socket_cause(error)) from error


def _socket_cause(error: BaseException) -> BaseException:
    """What the socket layer raised under requests' and urllib3's wrappers.

    Returns:
        The first OSError or ``http.client.HTTPException`` that is not itself a wrapper
        (requests' exceptions are OSErrors too); a ``TimeoutError`` for urllib3's timeouts,
        which carry no socket exception; ``error`` itself if neither is found.
    """
    pending: list[BaseException] = [error]
    for _ in range(CAUSE_SEARCH_LIMIT):
        if not pending:
            break
        current = pending.pop(0)
        if isinstance(current, urllib3.exceptions.NewConnectionError):
            pass  # a refused connect, though urllib3 derives it from ConnectTimeoutError
        elif isinstance(current, (requests.Timeout, urllib3.exceptions.TimeoutError)):
            return TimeoutError(str(current))
        elif isinstance(current, (OSError, http.client.HTTPException)) and not isinstance(
            current, requests.RequestException
        ):
            return current
        pending.extend(argument for argument in current.args if isinstance(argument, BaseException))
        for linked in (getattr(current, "reason", None), current.__cause__, current.__context__):
            if isinstance(linked, BaseException):
                pending.append(linked)
    return error


def _reply(response: requests.Response) -> HttpReply:
    return HttpReply(response.status_code, ResponseHeaders(response.headers.items()), response.content)


def _describe(request: requests.PreparedRequest) -> str:
    return f"{request.method} {request.url}"
