"""A probe application that any WSGI server can host, reporting what the server handed it.

``wsgiref.validate`` checks the server-application boundary in-process only; this probe
lets the ``wsgi`` suite judge a WSGI server from the outside, over HTTP: the suite sends a
request, the probe records what it was given and answers with a JSON report, and the suite
compares the report with what PEP 3333 requires. Host it with any server:
``gunicorn harness.apps.wsgi_probe:application``, ``waitress-serve``, ``uwsgi --module``,
or ``wirecheck serve wsgi --runner selectors``.

Experiments, chosen by PATH_INFO (everything else is 404):

``/probe/environ[...]``
    The environ: every key with its value's type name and, for the CGI, HTTP_ and wsgi.
    variables, the value when it is a string, number, boolean or tuple (strings longer than
    ``MAX_VALUE_CHARS`` are cut). Other keys, such as OS environment variables a server
    copies in, are named with their type, never their value.
``/probe/input?ops=read:4,readline,readlines,iter,next,read``
    Runs the operations on ``wsgi.input`` in order and reports each result (bytes as
    latin-1 text) or the exception it raised; also exercises ``wsgi.errors``. ``iter`` is
    ``list(iter(input))`` (it reads to the end of the input), ``next`` takes one item from one
    iterator over the input, made at the first ``next`` of the request (it reads one line, so
    a server that does not simulate end-of-file at CONTENT_LENGTH can still be asked for lines).
``/probe/write``
    Sends ``first;`` through the ``write()`` callable, then returns ``second;`` and
    ``third`` from the iterable: the body must read ``first;second;third``.
``/probe/exc-info``
    Yields ``partial;``, then calls ``start_response`` again with ``exc_info``; PEP 3333
    says that call must raise once headers were sent. If it does not, the probe yields
    ``NOT-RAISED`` so the suite can see it.
``/probe/unframed``
    Three chunks, no Content-Length: the server must frame the response itself.
``/probe/latin1``
    Status ``200 Caf\u00e9`` and a header ``X-Probe-Latin1: caf\u00e9``: native strings with a
    latin-1 character beyond ASCII, which the server must send as the one byte 0xE9 (PEP 3333,
    "Unicode Issues"), not as UTF-8's 0xC3 0xA9.
``/probe/hop-by-hop``
    Calls ``start_response`` with a hop-by-hop header (``Keep-Alive: timeout=5``), which PEP 3333
    says a server should refuse by raising. The report says whether it raised (and what); if it
    did, the probe starts again without it, with ``exc_info``, as PEP 3333 requires of a second
    call. If it did not, the header may be on the wire: the suite looks.
``/probe/hold?token=T&seconds=S``
    Holds the request inside the application until ``/probe/peek?token=T&release=1`` releases it,
    or for S seconds at most (``MAX_HOLD_S``), leaving a marker meanwhile that names its process
    and thread; then reports whether it was released, its process and thread, and the
    concurrency flags of its environ.
``/probe/peek?token=T[&release=1]``
    Reports the held request's marker (its process and thread, or null when none is in the
    application) beside its own process, thread and flags, and with ``release=1`` releases it:
    two requests in flight at once, and where, which is what ``wsgi.multithread`` speaks of.
``/probe/closing?token=T&size=N``
    N bytes from an iterable whose ``close()`` leaves a marker for token T;
    ``/probe/closed?token=T`` then reports whether close() was called. Markers live in a
    folder of the machine's temporary directory, so a multi-process server (each request
    possibly in another process) answers truthfully; tokens are checked to be short hex.

Nothing in a report can confuse the server: every response has a Content-Type and a
Content-Length (but ``/probe/unframed``), values are bounded, and the JSON is ASCII.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator
from urllib.parse import parse_qs

StartResponse = Callable[..., Any]

# A report stays small whatever the server stuffed into environ.
MAX_VALUE_CHARS = 4096
# Bytes one wsgi.input operation may return into a report.
MAX_INPUT_REPORT_CHARS = 65536
# The largest body /probe/closing sends (the suite uses a few MiB to outlast socket buffers).
MAX_CLOSING_BYTES = 64 << 20
CLOSING_CHUNK = b"c" * 65536

TOKEN_PATTERN = re.compile(r"^[0-9a-f]{8,64}$")
MARKER_FOLDER = Path(tempfile.gettempdir()) / "wirecheck-wsgi-probe"

JSON_TYPE = "application/json"

# The latin-1 experiment's text: "é" is U+00E9, one byte in latin-1 (0xE9), two in UTF-8.
LATIN1_STATUS = "200 Caf\u00e9"
LATIN1_HEADER = ("X-Probe-Latin1", "caf\u00e9")
# The hop-by-hop header the probe asks start_response to send (RFC 9110 §7.6.1 names
# Keep-Alive hop-by-hop; a server that passes it through sends it visibly).
HOP_BY_HOP_HEADER = ("Keep-Alive", "timeout=5")
# How long a held request waits for its release, at most: below the suite's 5 s stall limit,
# so a server that serves one request at a time answers the next one in time.
MAX_HOLD_S = 4.0
# How often a held request looks for its release marker.
HOLD_POLL_S = 0.01
# A marker older than this belongs to no experiment still running (a hold lasts MAX_HOLD_S, a
# close() marker is asked for within the case's own bounded wait): the next experiment removes
# it, so the rare marker nobody asked for (a release that arrived as its hold timed out, a
# close() after the client gave up) does not pile up in the temporary folder.
STALE_MARKER_S = 60.0


def _json_response(start_response: StartResponse, report: Any, status: str = "200 OK") -> list[bytes]:
    body = json.dumps(report, ensure_ascii=True, sort_keys=True).encode("ascii")
    start_response(status, [("Content-Type", JSON_TYPE), ("Content-Length", str(len(body)))])
    return [body]


def describe_value(value: Any) -> dict[str, Any]:
    """``{"type": name}`` plus ``"value"`` for plain data (strings cut to a bound)."""
    described: dict[str, Any] = {"type": type(value).__name__}
    if isinstance(value, str):
        described["value"] = value[:MAX_VALUE_CHARS]
    elif isinstance(value, (bool, int, float)) or value is None:
        described["value"] = value
    elif isinstance(value, (tuple, list)) and all(isinstance(item, (int, str)) for item in value):
        described["value"] = list(value)[:16]
    return described


# Keys whose values are reported. Any other key (wsgiref, for one, copies the whole OS
# environment into environ) is reported by name and type only: a report must never carry
# the server machine's environment variables, which may hold secrets.
REPORTED_KEYS = frozenset(
    {"REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "CONTENT_TYPE", "CONTENT_LENGTH",
     "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "REMOTE_ADDR", "REMOTE_PORT", "REMOTE_HOST",
     "GATEWAY_INTERFACE", "HTTPS"}
)
REPORTED_PREFIXES = ("HTTP_", "wsgi.", "SSL_")


def report_environ(environ: dict, start_response: StartResponse) -> list[bytes]:
    report = {}
    for name, value in environ.items():
        described = describe_value(value)
        if name not in REPORTED_KEYS and not name.startswith(REPORTED_PREFIXES):
            described.pop("value", None)
        report[name] = described
    return _json_response(start_response, report)


class _InputOperations:
    """Runs ``wsgi.input`` operations by name, keeping one iterator for every ``next``."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._iterator: Iterator[bytes] | None = None

    def run(self, operation: str) -> Any:
        name, _, argument = operation.partition(":")
        if name == "next":
            if self._iterator is None:
                self._iterator = iter(self._stream)
            return next(self._iterator)
        return _run_input_operation(self._stream, name, int(argument) if argument else None)


def _run_input_operation(stream: Any, name: str, size: int | None) -> Any:
    if name == "read":
        return stream.read(size) if size is not None else stream.read()
    if name == "readline":
        return stream.readline(size) if size is not None else stream.readline()
    if name == "readlines":
        return stream.readlines(size) if size is not None else stream.readlines()
    if name == "iter":
        return list(iter(stream))
    raise ValueError(f"unknown operation {name!r}")


def _as_text(result: Any) -> Any:
    if isinstance(result, (bytes, bytearray)):
        return bytes(result).decode("latin-1")[:MAX_INPUT_REPORT_CHARS]
    if isinstance(result, list):
        return [_as_text(item) for item in result]
    return repr(result)[:MAX_VALUE_CHARS]


def report_input(environ: dict, start_response: StartResponse) -> list[bytes]:
    operations = parse_qs(environ.get("QUERY_STRING", "")).get("ops", [""])[0].split(",")
    results = []
    runner = _InputOperations(environ["wsgi.input"])
    for operation in filter(None, operations):
        try:
            result = runner.run(operation)
            results.append({"op": operation, "type": type(result).__name__, "result": _as_text(result)})
        except Exception as exc:  # the server's stream failed: that is the finding
            results.append({"op": operation, "error": f"{type(exc).__name__}: {exc}"[:MAX_VALUE_CHARS]})
    errors = environ.get("wsgi.errors")
    try:
        errors.write("wirecheck probe: wsgi.errors works\n")
        errors.writelines(["wirecheck probe: ", "writelines works\n"])
        errors.flush()
        errors_report = "ok"
    except Exception as exc:
        errors_report = f"{type(exc).__name__}: {exc}"
    return _json_response(start_response, {"operations": results, "errors": errors_report})


def write_then_iterable(environ: dict, start_response: StartResponse) -> list[bytes]:
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"first;")
    return [b"second;", b"third"]


def exc_info_after_headers(environ: dict, start_response: StartResponse) -> Iterator[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"partial;"
    try:
        raise RuntimeError("the probe's deliberate failure after its headers were sent")
    except RuntimeError:
        # PEP 3333: "if exc_info is provided, and the HTTP headers have already been sent,
        # start_response must raise an error". The application must not trap that error.
        start_response("500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info())
    yield b"NOT-RAISED"


def unframed(environ: dict, start_response: StartResponse) -> Iterator[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"one;"
    yield b"two;"
    yield b"three"


def latin1_status_and_header(environ: dict, start_response: StartResponse) -> list[bytes]:
    body = b"status and header in latin-1"
    start_response(LATIN1_STATUS, [("Content-Type", "text/plain"), LATIN1_HEADER, ("Content-Length", str(len(body)))])
    return [body]


def hop_by_hop_header(environ: dict, start_response: StartResponse) -> list[bytes]:
    accepted = json.dumps({"refused": None}).encode("ascii")
    try:
        start_response("200 OK", [("Content-Type", JSON_TYPE), ("Content-Length", str(len(accepted))), HOP_BY_HOP_HEADER])
    except Exception as exc:  # the server refused it: what PEP 3333 asks
        body = json.dumps({"refused": f"{type(exc).__name__}: {exc}"[:MAX_VALUE_CHARS]}, ensure_ascii=True).encode("ascii")
        # PEP 3333: a second call after one that raised is an error unless exc_info is given.
        start_response("200 OK", [("Content-Type", JSON_TYPE), ("Content-Length", str(len(body)))], sys.exc_info())
        return [body]
    return [accepted]


def _where(environ: dict) -> dict[str, Any]:
    """This request's process and thread, and the concurrency flags its server gave it."""
    return {
        "pid": os.getpid(),
        "thread": threading.get_ident(),
        "multithread": describe_value(environ.get("wsgi.multithread")).get("value"),
        "multiprocess": describe_value(environ.get("wsgi.multiprocess")).get("value"),
        "run_once": describe_value(environ.get("wsgi.run_once")).get("value"),
    }


def sweep_stale_markers(now: float | None = None) -> int:
    """Remove markers older than :data:`STALE_MARKER_S`. Returns how many were removed."""
    now = time.time() if now is None else now
    removed = 0
    try:
        markers = list(MARKER_FOLDER.iterdir())
    except FileNotFoundError:
        return 0
    for marker in markers:
        try:
            if now - marker.stat().st_mtime > STALE_MARKER_S:
                marker.unlink()
                removed += 1
        except FileNotFoundError:  # another worker's experiment took it meanwhile
            pass
    return removed


def hold(environ: dict, start_response: StartResponse) -> list[bytes]:
    token = _token(environ)
    try:
        seconds = float(parse_qs(environ.get("QUERY_STRING", "")).get("seconds", [str(MAX_HOLD_S)])[0])
    except ValueError:
        seconds = -1.0
    if token is None or not 0 <= seconds <= MAX_HOLD_S:
        return _json_response(start_response, {"error": f"token must be hex, seconds 0..{MAX_HOLD_S:g}"}, "400 Bad Request")
    where = _where(environ)
    MARKER_FOLDER.mkdir(exist_ok=True)
    sweep_stale_markers()
    held, release = MARKER_FOLDER / f"{token}.held", MARKER_FOLDER / f"{token}.release"
    partial = MARKER_FOLDER / f"{token}.held.{os.getpid()}.{threading.get_ident()}"
    partial.write_text(json.dumps(where))
    os.replace(partial, held)  # a peek reads the whole marker or none
    started = time.monotonic()
    released = False
    try:
        while time.monotonic() - started < seconds:
            if release.exists():
                released = True
                break
            time.sleep(HOLD_POLL_S)  # a marker in another process may release us: nothing to wait on
    finally:
        for marker in (held, release):
            try:
                os.unlink(marker)
            except FileNotFoundError:
                pass
    return _json_response(start_response, {**where, "released": released, "held_s": round(time.monotonic() - started, 3)})


def peek(environ: dict, start_response: StartResponse) -> list[bytes]:
    token = _token(environ)
    if token is None:
        return _json_response(start_response, {"error": "token must be hex"}, "400 Bad Request")
    try:
        held = json.loads((MARKER_FOLDER / f"{token}.held").read_text())
    except (FileNotFoundError, ValueError):
        held = None
    if held is not None and parse_qs(environ.get("QUERY_STRING", "")).get("release") == ["1"]:
        (MARKER_FOLDER / f"{token}.release").touch()
    return _json_response(start_response, {**_where(environ), "held": held})


def _token(environ: dict) -> str | None:
    token = parse_qs(environ.get("QUERY_STRING", "")).get("token", [""])[0]
    return token if TOKEN_PATTERN.match(token) else None


class _ClosingBody:
    """N bytes; close() leaves the token's marker (PEP 3333: the server must call it)."""

    def __init__(self, token: str, size: int) -> None:
        self._token = token
        self._size = size

    def __iter__(self) -> Iterator[bytes]:
        left = self._size
        while left > 0:
            chunk = CLOSING_CHUNK[: min(left, len(CLOSING_CHUNK))]
            left -= len(chunk)
            yield chunk

    def close(self) -> None:
        MARKER_FOLDER.mkdir(exist_ok=True)
        (MARKER_FOLDER / f"{self._token}.closed").touch()


def closing(environ: dict, start_response: StartResponse) -> Iterable[bytes]:
    token = _token(environ)
    try:
        size = int(parse_qs(environ.get("QUERY_STRING", "")).get("size", ["10"])[0])
    except ValueError:
        size = -1
    if token is None or not 0 <= size <= MAX_CLOSING_BYTES:
        return _json_response(start_response, {"error": "token must be hex, size 0..64 MiB"}, "400 Bad Request")
    sweep_stale_markers()
    start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(size))])
    return _ClosingBody(token, size)


def closed(environ: dict, start_response: StartResponse) -> list[bytes]:
    token = _token(environ)
    if token is None:
        return _json_response(start_response, {"error": "token must be hex"}, "400 Bad Request")
    marker = MARKER_FOLDER / f"{token}.closed"
    was_closed = marker.exists()
    if was_closed:
        try:
            os.unlink(marker)
        except FileNotFoundError:
            pass
    return _json_response(start_response, {"closed": was_closed})


EXPERIMENTS: dict[str, Callable[[dict, StartResponse], Iterable[bytes]]] = {
    "/probe/input": report_input,
    "/probe/write": write_then_iterable,
    "/probe/exc-info": exc_info_after_headers,
    "/probe/unframed": unframed,
    "/probe/latin1": latin1_status_and_header,
    "/probe/hop-by-hop": hop_by_hop_header,
    "/probe/hold": hold,
    "/probe/peek": peek,
    "/probe/closing": closing,
    "/probe/closed": closed,
}


def application(environ: dict, start_response: StartResponse) -> Iterable[bytes]:
    """The probe: dispatch on PATH_INFO (``/probe/environ`` matches any path below it)."""
    path = environ.get("PATH_INFO", "")
    if path.startswith("/probe/environ"):
        return report_environ(environ, start_response)
    experiment = EXPERIMENTS.get(path)
    if experiment is None:
        return _json_response(start_response, {"error": "no such experiment"}, "404 Not Found")
    return experiment(environ, start_response)
