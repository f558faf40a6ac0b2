"""Reference HTTP clients: the chapter's client recipes, done right, in urllib and in requests.

The recipes: a GET with an urlencoded query, a POST of an urlencoded form, custom request
header fields (``User-agent``, ``Spam``: the ``headers`` argument of every recipe), a HEAD
that reads the status and a few header fields, and a GET whose body is decoded as JSON.
Each exists twice with the same signature, in :mod:`.urllib_recipes` (the standard library)
and :mod:`.requests_recipes`, and both return the same records (:mod:`.records`): an
:class:`HttpReply` of status, case-insensitive headers and body, extended by
:class:`JsonReply` and :class:`HeadReply`. :data:`HTTP_CLIENT_LIBRARIES` lists both as
:class:`HttpRecipes`, so a test or a checker runs every library the same way.

Every call has a timeout; a reply is returned whatever its status; no reply is an
:class:`HttpClientError` saying what was seen instead.

The chapter's client code, and what is done here instead:

- ``(resp.json)['args']`` raises "TypeError: 'method' object is not subscriptable", and
  the httpbin example shows ``resp = r.json`` printing ``<bound method Response.json ...>``:
  ``json`` is a method of requests' Response. requests' ``get_json`` calls
  ``response.json()``; urllib's ``get_json`` decodes the body with the charset Content-Type
  names (UTF-8, RFC 8259's, when it names none) and passes the text to ``json.loads``.
- The POST example never sends a POST and reads the previous response: it calls
  ``parse.urlencode(parms, querystring.encode('ascii'))``, handing the encoded body to
  urlencode's second parameter (``doseq``), never calls ``urlopen``, and ``resp = u.read()``
  reads ``u``, the GET's response object, already drained (hence its ``b''``). ``post_form``
  builds a POST request whose body is the urlencoded form, and reads that request's reply.
- The custom-header example leans on ``url`` and ``querystring`` left over from the cells
  before it, and becomes a POST only because it passes a body. Here a recipe's URL, data,
  header fields and method are all its arguments.
- The HEAD example reads ``resp.headers['Last-Modified']``, a field the server did not send
  (KeyError; its comments call Content-Length absent too, though the dump shows it). A
  :class:`HeadReply` has ``last_modified``, ``content_type`` and ``content_length`` that are
  None when absent, and ``headers.get(name)`` is None as well. The example also got a 301
  without saying why: requests does not follow redirects for HEAD. ``head`` takes
  ``follow_redirects`` (False by default, as in requests); when following, urllib's HEAD
  stays a HEAD (urllib's own handler turns it into a GET before Python 3.13).
- No call has a timeout: ``urlopen(url)`` and ``requests.post(url, ...)`` wait forever for a
  server that accepts and never answers. Every recipe takes ``timeout`` (default
  :data:`DEFAULT_TIMEOUT_S`).
- The urllib responses are never closed (``u = request.urlopen(...)``): reading to the end
  happens to release the connection, but an exception before then (a timeout mid-body)
  leaves the socket to the garbage collector. Each is read and closed in a ``with`` block.
- Queries are glued by hand: ``url + '?' + querystring`` breaks a URL that has a query
  already, and ``'http://httpbin.org/get?name=Dave&n=37'`` works only because its values
  need no escaping. Here every query is urlencoded (``params=`` in requests,
  :func:`~.urllib_recipes.url_with_query` in urllib) and merged with the URL's own.
- The two libraries disagree on a 4xx or 5xx: urlopen raises ``HTTPError``, requests
  returns the reply, and the chapter checks neither. Both recipes return it, status and all.
"""

from __future__ import annotations

from types import ModuleType

from harness.clients.http import requests_recipes, urllib_recipes
from harness.clients.http.records import (
    DEFAULT_TIMEOUT_S,
    HeadReply,
    HttpClientError,
    HttpJsonError,
    HttpProtocolError,
    HttpRecipes,
    HttpReply,
    HttpTimeoutError,
    HttpUnreachableError,
    JsonReply,
    ResponseHeaders,
)


def _recipes_of(name: str, module: ModuleType) -> HttpRecipes:
    """One library's module of recipes as an :class:`HttpRecipes`."""
    return HttpRecipes(name, module.get_with_query, module.post_form, module.head, module.get_json)


URLLIB_RECIPES = _recipes_of("urllib", urllib_recipes)
REQUESTS_RECIPES = _recipes_of("requests", requests_recipes)

# Every library the recipes are written in: what tests and checkers iterate over.
HTTP_CLIENT_LIBRARIES: tuple[HttpRecipes, ...] = (URLLIB_RECIPES, REQUESTS_RECIPES)

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "HTTP_CLIENT_LIBRARIES",
    "HeadReply",
    "HttpClientError",
    "HttpJsonError",
    "HttpProtocolError",
    "HttpRecipes",
    "HttpReply",
    "HttpTimeoutError",
    "HttpUnreachableError",
    "JsonReply",
    "REQUESTS_RECIPES",
    "ResponseHeaders",
    "URLLIB_RECIPES",
]
