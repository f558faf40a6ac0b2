"""Checkers of a WSGI server, through the probe application it hosts (harness.apps.wsgi_probe).

Each checker sends raw HTTP (harness.checks.http), reads the probe's JSON report or the
response itself, and compares it with what PEP 3333 requires. Plain functions of an
endpoint; ConformanceFailure "expected / actual" when the server does not comply.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from harness.checks.endpoint import Endpoint, abort_connection
from harness.checks.http import HttpConnection, HttpResponse, chunked, exchange, request
from harness.verdicts import ConformanceFailure, preview

# PEP 3333, "environ Variables": required unless empty, and the WSGI-defined ones.
REQUIRED_CGI = ("REQUEST_METHOD", "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL")
REQUIRED_WSGI = (
    "wsgi.version",
    "wsgi.url_scheme",
    "wsgi.input",
    "wsgi.errors",
    "wsgi.multithread",
    "wsgi.multiprocess",
    "wsgi.run_once",
)

# How long the server may take to call close() after a client went away mid-response.
CLOSE_NOTICE_S = 5.0
# How often the closed-marker is asked for meanwhile (an HTTP request each time).
CLOSE_POLL_S = 0.1
# A body large enough to outlast the socket buffers on both sides, so the client really
# leaves mid-response.
MID_RESPONSE_BYTES = 16 << 20


def _report(response: HttpResponse, expected: str) -> Any:
    if response.status != 200 or response.content_type != "application/json":
        raise ConformanceFailure(expected, f"the probe's report did not come back: {response.summary()}: {preview(response.body)}")
    try:
        return json.loads(response.body)
    except ValueError as exc:
        raise ConformanceFailure(expected, f"the probe's report is not JSON ({exc}): {preview(response.body)}") from None


def environ_of(endpoint: Endpoint, data: bytes, expected: str, method: str = "GET") -> dict[str, dict[str, Any]]:
    """The environ the server handed the probe for the request ``data``."""
    return _report(exchange(endpoint, data, method, expected=expected), expected)


def probe_environ(endpoint: Endpoint, expected: str, target: str = "/probe/environ", **options: Any) -> dict[str, dict[str, Any]]:
    return environ_of(endpoint, request(options.pop("method", "GET"), target, **options), expected)


def value(environ: dict[str, dict[str, Any]], key: str) -> Any:
    return environ.get(key, {}).get("value")


def check_required_keys(endpoint: Endpoint, expected: str) -> None:
    environ = probe_environ(endpoint, expected)
    # SCRIPT_NAME may be omitted when empty (the probe is at the root); PATH_INFO is not
    # empty for /probe/environ, so it must be there.
    missing = [key for key in (*REQUIRED_CGI, "PATH_INFO", *REQUIRED_WSGI) if key not in environ]
    if missing:
        raise ConformanceFailure(expected, f"missing from environ: {', '.join(missing)}")


def check_cgi_values_are_str(endpoint: Endpoint, expected: str) -> None:
    environ = probe_environ(endpoint, expected, "/probe/environ?x=1", headers=[("X-Probe", "1")])
    wrong = {
        key: described["type"]
        for key, described in environ.items()
        if key.isupper() and "." not in key and described["type"] != "str"
    }
    if wrong:
        raise ConformanceFailure(expected, "CGI variables of another type: " + ", ".join(f"{k} is {t}" for k, t in sorted(wrong.items())))


def check_wsgi_version(endpoint: Endpoint, expected: str) -> None:
    described = probe_environ(endpoint, expected).get("wsgi.version", {})
    if described.get("type") != "tuple" or described.get("value") != [1, 0]:
        raise ConformanceFailure(expected, f"wsgi.version is {described.get('type')} {described.get('value')}")


def check_request_method(endpoint: Endpoint, expected: str) -> None:
    for method in ("GET", "POST", "PUT", "DELETE"):
        body = b"x" if method in ("POST", "PUT") else b""
        got = value(probe_environ(endpoint, expected, method=method, body=body), "REQUEST_METHOD")
        if got != method:
            raise ConformanceFailure(expected, f"REQUEST_METHOD {got!r} for a {method} request")


def check_path_info_is_latin1_bytes(endpoint: Endpoint, expected: str) -> None:
    # "café" and "€" in UTF-8, %-escaped: PATH_INFO must carry those bytes, one char per byte.
    target = "/probe/environ/caf%C3%A9/%E2%82%AC"
    wanted = "/probe/environ/caf\u00c3\u00a9/\u00e2\u0082\u00ac"
    got = value(probe_environ(endpoint, expected, target), "PATH_INFO")
    script = value(probe_environ(endpoint, expected, target), "SCRIPT_NAME") or ""
    if script + (got or "") != wanted:
        raise ConformanceFailure(expected, f"SCRIPT_NAME + PATH_INFO is {script + (got or '')!r} for {target}")


def observe_encoded_slash(endpoint: Endpoint, expected: str) -> str:
    got = value(probe_environ(endpoint, expected, "/probe/environ/a%2Fb"), "PATH_INFO")
    kept = "kept as %2F" if got and "%2F" in got.upper() else "decoded to /" if got == "/probe/environ/a/b" else f"{got!r}"
    return f"PATH_INFO for /probe/environ/a%2Fb: {got!r} ({kept})"


def check_query_string_raw(endpoint: Endpoint, expected: str) -> None:
    got = value(probe_environ(endpoint, expected, "/probe/environ?a=%20b&c=%2F+d&e"), "QUERY_STRING")
    if got != "a=%20b&c=%2F+d&e":
        raise ConformanceFailure(expected, f"QUERY_STRING {got!r}")


def check_server_name_and_port(endpoint: Endpoint, expected: str) -> None:
    environ = probe_environ(endpoint, expected)
    name, port = value(environ, "SERVER_NAME"), value(environ, "SERVER_PORT")
    if not isinstance(name, str) or not name or not isinstance(port, str) or not port.isdigit():
        raise ConformanceFailure(
            expected,
            f"SERVER_NAME {environ.get('SERVER_NAME')}, SERVER_PORT {environ.get('SERVER_PORT')}",
        )


def check_server_protocol(endpoint: Endpoint, expected: str) -> None:
    for version in ("1.1", "1.0"):
        got = value(probe_environ(endpoint, expected, version=version), "SERVER_PROTOCOL")
        if got != f"HTTP/{version}":
            raise ConformanceFailure(expected, f"SERVER_PROTOCOL {got!r} for an HTTP/{version} request")


def check_http_variables(endpoint: Endpoint, expected: str) -> None:
    environ = probe_environ(endpoint, expected, headers=[("X-Probe-Marker", "seen"), ("Accept-Language", "fr")])
    got = (value(environ, "HTTP_X_PROBE_MARKER"), value(environ, "HTTP_ACCEPT_LANGUAGE"))
    if got != ("seen", "fr"):
        raise ConformanceFailure(expected, f"HTTP_X_PROBE_MARKER {got[0]!r}, HTTP_ACCEPT_LANGUAGE {got[1]!r}")


def _post_environ(endpoint: Endpoint, expected: str) -> dict[str, dict[str, Any]]:
    return probe_environ(
        endpoint, expected, method="POST", body=b"0123456789", headers=[("Content-Type", "text/plain; charset=latin-1")]
    )


def check_content_variables(endpoint: Endpoint, expected: str) -> None:
    environ = _post_environ(endpoint, expected)
    got = (value(environ, "CONTENT_LENGTH"), value(environ, "CONTENT_TYPE"))
    if got != ("10", "text/plain; charset=latin-1"):
        raise ConformanceFailure(expected, f"CONTENT_LENGTH {got[0]!r}, CONTENT_TYPE {got[1]!r}")


def check_no_http_content_variables(endpoint: Endpoint, expected: str) -> None:
    environ = _post_environ(endpoint, expected)
    duplicated = [key for key in ("HTTP_CONTENT_LENGTH", "HTTP_CONTENT_TYPE") if key in environ]
    if duplicated:
        raise ConformanceFailure(expected, f"also present: {', '.join(duplicated)}")


def check_repeated_header_joined(endpoint: Endpoint, expected: str) -> None:
    got = value(probe_environ(endpoint, expected, headers=[("X-Dup", "one"), ("X-Dup", "two")]), "HTTP_X_DUP")
    if got not in ("one, two", "one,two"):
        raise ConformanceFailure(expected, f"HTTP_X_DUP {got!r} for X-Dup: one and X-Dup: two")


def observe_underscore_header(endpoint: Endpoint, expected: str) -> str:
    environ = probe_environ(endpoint, expected, headers=[("X-Foo", "dash"), ("X_Foo", "underscore")])
    got = value(environ, "HTTP_X_FOO")
    behaviour = {
        "dash": "the underscore field was dropped",
        "underscore": "the underscore field overwrote the dash field",
    }.get(got, "merged" if got and "dash" in got and "underscore" in got else f"other: {got!r}")
    return f"X-Foo: dash and X_Foo: underscore gave HTTP_X_FOO {got!r}: {behaviour}"


def check_url_scheme(endpoint: Endpoint, expected: str) -> None:
    scheme = "https" if getattr(endpoint, "tls", None) is not None else "http"
    got = value(probe_environ(endpoint, expected), "wsgi.url_scheme")
    if got != scheme:
        raise ConformanceFailure(expected, f"wsgi.url_scheme {got!r}")


def observe_concurrency_flags(endpoint: Endpoint, expected: str) -> str:
    environ = probe_environ(endpoint, expected)
    return ", ".join(f"{key}={value(environ, key)!r}" for key in ("wsgi.multithread", "wsgi.multiprocess", "wsgi.run_once"))


# --- wsgi.input -------------------------------------------------------------------------


def input_results(endpoint: Endpoint, body: bytes, operations: str, expected: str, *, chunk: bool = False) -> list[dict[str, Any]]:
    headers = [("Content-Type", "application/octet-stream")]
    if chunk:
        headers.append(("Transfer-Encoding", "chunked"))
        body = chunked(body)
    report = _report(
        exchange(endpoint, request("POST", f"/probe/input?ops={operations}", headers=headers, body=body), "POST", expected=expected),
        expected,
    )
    return report["operations"]


def check_input_operations(endpoint: Endpoint, body: bytes, operations: str, wanted: list[Any], expected: str, **options: Any) -> None:
    results = input_results(endpoint, body, operations, expected, **options)
    got = [result.get("result", result.get("error")) for result in results]
    if got != wanted:
        raise ConformanceFailure(expected, f"{operations} on a {len(body)}-byte body returned {got!r}")


def observe_input_terminated(endpoint: Endpoint, expected: str) -> str:
    environ = probe_environ(endpoint, expected, method="POST", body=b"x")
    return f"wsgi.input_terminated: {environ.get('wsgi.input_terminated', 'absent')}"


def check_errors_stream(endpoint: Endpoint, expected: str) -> None:
    report = _report(exchange(endpoint, request("POST", "/probe/input?ops=", body=b"x"), "POST", expected=expected), expected)
    if report["errors"] != "ok":
        raise ConformanceFailure(expected, f"wsgi.errors failed: {report['errors']}")


# --- the response ---------------------------------------------------------------------------


def check_write_before_iterable(endpoint: Endpoint, expected: str) -> None:
    response = exchange(endpoint, request("GET", "/probe/write"), expected=expected)
    if response.body != b"first;second;third":
        raise ConformanceFailure(expected, f"{response.summary()}: {response.body[:200]!r}")


def check_exc_info_reraised(endpoint: Endpoint, expected: str) -> None:
    with HttpConnection(endpoint) as connection:
        connection.send(request("GET", "/probe/exc-info", headers=[("Connection", "close")]))
        try:
            response = connection.read_response(expected=expected)
            body = response.body + connection.wait_for_close(expected)
        except ConformanceFailure as failure:
            # An aborted response (a close mid-body) is what a conforming server sends here.
            if failure.actual.startswith(("orderly close", "reset", "not a valid HTTP")):
                return
            raise
    if b"NOT-RAISED" in body:
        raise ConformanceFailure(expected, "start_response(..., exc_info) returned normally after the headers were sent")


def check_unframed_response_delivered(endpoint: Endpoint, expected: str) -> None:
    response = exchange(endpoint, request("GET", "/probe/unframed"), expected=expected)
    if response.body != b"one;two;three":
        raise ConformanceFailure(expected, f"{response.summary()}: {response.body[:200]!r}")


def check_head_without_body(endpoint: Endpoint, expected: str) -> None:
    with HttpConnection(endpoint) as connection:
        connection.send(request("HEAD", "/probe/environ", headers=[("Connection", "close")]))
        connection.read_response("HEAD", expected=expected)
        extra = connection.wait_for_close(expected)
    if extra:
        raise ConformanceFailure(expected, f"{len(extra)} bytes of content after the HEAD response's headers: {preview(extra)}")


def check_date_header(endpoint: Endpoint, expected: str) -> None:
    response = exchange(endpoint, request("GET", "/probe/environ"), expected=expected)
    if response.header("date") is None:
        raise ConformanceFailure(expected, f"no Date header ({response.summary()})")


def _was_closed(endpoint: Endpoint, token: str, expected: str) -> bool:
    return bool(_report(exchange(endpoint, request("GET", f"/probe/closed?token={token}"), expected=expected), expected)["closed"])


def _wait_until_closed(endpoint: Endpoint, token: str, expected: str) -> bool:
    deadline = time.monotonic() + endpoint.deadline.cap(CLOSE_NOTICE_S)
    while True:
        if _was_closed(endpoint, token, expected):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(CLOSE_POLL_S)  # close() happens in the server; no fd of ours says when


def check_close_called_after_response(endpoint: Endpoint, expected: str) -> None:
    token = secrets.token_hex(8)
    response = exchange(endpoint, request("GET", f"/probe/closing?token={token}&size=100"), expected=expected)
    if len(response.body) != 100:
        raise ConformanceFailure(expected, f"{response.summary()}")
    if not _wait_until_closed(endpoint, token, expected):
        raise ConformanceFailure(expected, f"close() not called within {CLOSE_NOTICE_S:g} s of a complete response")


def check_close_called_after_disconnect(endpoint: Endpoint, expected: str) -> None:
    token = secrets.token_hex(8)
    connection = HttpConnection(endpoint)
    try:
        connection.send(request("GET", f"/probe/closing?token={token}&size={MID_RESPONSE_BYTES}"))
        connection.receive_more(expected, 0)  # the response has begun
    finally:
        abort_connection(connection.sock)  # the browser goes away mid-response
    if not _wait_until_closed(endpoint, token, expected):
        raise ConformanceFailure(
            expected, f"close() not called within {CLOSE_NOTICE_S:g} s of the client leaving mid-response"
        )
