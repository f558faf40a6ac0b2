"""Checkers of a WSGI server, through the probe application it hosts (harness.apps.wsgi_probe).

Each checker sends raw HTTP (harness.checks.http), reads the probe's JSON report or the
response itself, and compares it with what PEP 3333 requires. Plain functions of an
endpoint; ConformanceFailure "expected / actual" when the server does not comply.
"""

from __future__ import annotations

import json
import secrets
import selectors
import threading
import time
from typing import Any

from harness.apps.wsgi_probe import HOP_BY_HOP_HEADER, LATIN1_HEADER, LATIN1_STATUS, MAX_HOLD_S
from harness.checks.endpoint import Endpoint, abort_connection
from harness.checks.http import HttpConnection, HttpResponse, chunked, exchange, request
from harness.verdicts import ConformanceFailure, hexdump, preview

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
# How long a request is held in the probe while a second one looks for it (below the 5 s stall
# limit: on a server that serves one request at a time the second one waits this long).
HOLD_S = 3.0
assert HOLD_S <= MAX_HOLD_S
# Second requests sent while the first is held: each may land in another worker process, so a
# few are tried before concluding that no other thread of the holding process took one.
MAX_PEEKS = 8
# How often a second request is sent meanwhile when the first has not reached the application yet.
PEEK_POLL_S = 0.05
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


def _flags(report: dict[str, Any]) -> str:
    return ", ".join(f"wsgi.{key}={report.get(key)!r}" for key in ("multithread", "multiprocess", "run_once"))


class _HeldRequest:
    """The first request, held in the probe (``/probe/hold``) on a connection of its own.

    Resource handling: owns its connection, closed once its response is read or by :meth:`close`.
    A server that serves one connection at a time may wait for this one's close before it
    takes the next, so the response is read (and the connection closed) as soon as it comes.
    """

    def __init__(self, endpoint: Endpoint, token: str, expected: str) -> None:
        self._expected = expected
        self.connection = HttpConnection(endpoint)
        self.report: dict[str, Any] | None = None
        self.connection.send(request("GET", f"/probe/hold?token={token}&seconds={HOLD_S:g}", headers=[("Connection", "close")]))

    def collect(self) -> dict[str, Any]:
        """Read its response (bounded like any), close the connection, and return the report."""
        if self.report is None:
            try:
                self.report = _report(self.connection.read_response(expected=self._expected), self._expected)
            finally:
                self.connection.close()
        return self.report

    def close(self) -> None:
        self.connection.close()


def _peek(endpoint: Endpoint, held: _HeldRequest, token: str, expected: str, *, release: bool = False) -> dict[str, Any]:
    """A second request asking the probe where the held one is.

    It is made on a thread of its own while this one watches the held request's connection:
    a server that serves one connection at a time does not even complete the second's TLS
    handshake until the first is answered and closed, so the first's answer (it was let go, or
    its time ran out) must be collected meanwhile. Both waits are bounded: the second by the
    stall limit and the deadline of any exchange, the first by :meth:`_HeldRequest.collect`'s.
    """
    outcome: dict[str, Any] = {}

    def ask() -> None:
        try:
            target = f"/probe/peek?token={token}" + ("&release=1" if release else "")
            outcome["report"] = _report(exchange(endpoint, request("GET", target), expected=expected), expected)
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc

    asker = threading.Thread(target=ask, name="wsgi-peek", daemon=True)
    asker.start()
    while asker.is_alive():
        if held.report is None and held.connection.sock.fileno() >= 0:
            with selectors.DefaultSelector() as selector:
                selector.register(held.connection.sock, selectors.EVENT_READ)
                if selector.select(PEEK_POLL_S):
                    # Readable may be a TLS record with no data (a session ticket): read what
                    # came, and collect the response only once some of it is there.
                    held.connection.receive_more(expected, 0)
                    if held.connection.has_arrivals:
                        held.collect()
        else:
            asker.join(PEEK_POLL_S)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["report"]


def check_multithread_flag(endpoint: Endpoint, expected: str) -> str:
    """Judge wsgi.multithread by what is seen: hold one request in the probe, look for it from others.

    A second request is sent while the first is held inside the application (``/probe/hold``);
    the second (``/probe/peek``) reports the held request's process and thread beside its own.
    Another thread of the same process serving it while the first is in flight is the very
    thing wsgi.multithread speaks of: then the flag must be true. A server that serves one
    request at a time answers the second only after the first has timed out (``HOLD_S``); there
    a false flag is right, and a true one is not contradicted ("may be" invoked).

    Returns:
        What was seen, for the case's actual.

    Raises:
        ConformanceFailure: wsgi.multithread is false although two requests were in the
            application at once on two threads of one process.
    """
    token = secrets.token_hex(8)
    same_process: dict[str, Any] | None = None
    other_processes: list[int] = []
    peeks = 0
    held = _HeldRequest(endpoint, token, expected)
    try:
        deadline = time.monotonic() + endpoint.deadline.cap(HOLD_S)
        while peeks < MAX_PEEKS and held.report is None and time.monotonic() < deadline:
            peeks += 1
            seen = _peek(endpoint, held, token, expected)
            marker = seen.get("held")
            if marker is not None and marker.get("pid") == seen.get("pid") and marker.get("thread") != seen.get("thread"):
                same_process = seen
                break
            if marker is not None:
                other_processes.append(seen.get("pid"))
            elif held.report is None:
                time.sleep(PEEK_POLL_S)  # the first has not reached the application yet
        if held.report is None:
            _peek(endpoint, held, token, expected, release=True)
        first = held.collect()
    finally:
        held.close()
    flags = _flags(first)
    if same_process is not None:
        seen_text = (
            f"two requests in the application at once in one process (pid {first.get('pid')}), "
            f"on two threads ({first.get('thread')} and {same_process.get('thread')})"
        )
        if first.get("multithread") is not True:
            raise ConformanceFailure(expected, f"{flags}, yet {seen_text}")
        return f"{flags}: {seen_text}"
    if other_processes:
        return (
            f"{flags}: while the first request was held in the application (pid {first.get('pid')}), "
            + (f"{len(other_processes)} others were" if len(other_processes) > 1 else "another was")
            + " served meanwhile by other processes "
            f"(pids {', '.join(str(pid) for pid in sorted(set(other_processes)))}), none by another thread of its process"
        )
    if first.get("released"):
        return f"{flags}: the first request was released before a second one saw it in the application"
    return (
        f"{flags}: one request at a time: the second was answered only once the first had been held "
        f"its {HOLD_S:g} s and let go"
    )


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


def _header_lines(raw_head: bytes, name: bytes) -> list[bytes]:
    return [line for line in raw_head.split(b"\r\n")[1:] if line.split(b":", 1)[0].strip().lower() == name.lower()]


def _encoding_of(data: bytes, text: str) -> str:
    """Which encoding of ``text`` ``data`` holds: latin-1, UTF-8, or neither (hex shown)."""
    if text.encode("latin-1") in data:
        return "latin-1"
    if text.encode("utf-8") in data:
        return "UTF-8"
    return "neither latin-1 nor UTF-8"


def check_status_and_headers_as_latin1(endpoint: Endpoint, expected: str) -> None:
    """The probe's status ``200 Café`` and header ``X-Probe-Latin1: café`` arrive as latin-1 bytes."""
    with HttpConnection(endpoint) as connection:
        connection.send(request("GET", "/probe/latin1", headers=[("Connection", "close")]))
        response = connection.read_response(expected=expected)
    status_line = response.raw_head.split(b"\r\n", 1)[0]
    reason = LATIN1_STATUS.split(" ", 1)[1]
    header_name, header_value = LATIN1_HEADER
    header_lines = _header_lines(response.raw_head, header_name.encode("ascii"))
    wrong = []
    if not status_line.endswith(b" " + reason.encode("latin-1")):
        wrong.append(f"status line {status_line!r} ({_encoding_of(status_line, reason)})")
    wanted_line = f"{header_name}: {header_value}".encode("latin-1").lower()
    if [line.lower() for line in header_lines] != [wanted_line]:
        shown = ", ".join(repr(line) for line in header_lines) or "absent"
        encodings = ", ".join(_encoding_of(line, header_value) for line in header_lines) or "not sent"
        wrong.append(f"{header_name} {shown} ({encodings})")
    if wrong:
        raise ConformanceFailure(
            expected, "; ".join(wrong) + "\n" + "\n".join(hexdump(b"\r\n".join([status_line, *header_lines])))
        )


def check_hop_by_hop_refused(endpoint: Endpoint, expected: str) -> str:
    """start_response refuses the probe's hop-by-hop header; if not, say whether it was sent.

    Returns:
        What the server said when it refused, for the case's actual.

    Raises:
        ConformanceFailure: start_response accepted it; the actual says "dropped" (not on the
            wire) or "passed through" (in the response).
    """
    response = exchange(endpoint, request("GET", "/probe/hop-by-hop"), expected=expected)
    report = _report(response, expected)
    name, sent = HOP_BY_HOP_HEADER
    if report.get("refused"):
        return f"start_response refused {name}: {sent}: {report['refused']}"
    on_the_wire = response.header_values(name)
    fate = (
        f"passed through: the response carries {name}: {', '.join(on_the_wire)}"
        if sent in on_the_wire
        else "dropped: not in the response" + (f" (the server's own {name}: {', '.join(on_the_wire)})" if on_the_wire else "")
    )
    raise ConformanceFailure(expected, f"start_response accepted {name}: {sent} without an error; the header was {fate}")


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
