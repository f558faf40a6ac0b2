"""HTTP/1.1 on the wire, for the suites: raw requests out, responses parsed by h11.

The HTTP suites speak over raw sockets because a client library would hide exactly what is
judged (a body on HEAD, a wrong Content-Length, chunked coding sent to an HTTP/1.0 client,
responses out of order). Requests are written byte for byte; responses are parsed by h11
(the project's HTTP/1.1 library), one fresh h11 client connection per response, told the
method of the request it answers so that it frames a HEAD response as RFC 9112 §6.3 says
(no content). Bytes h11 leaves over belong to the next (pipelined) response.

Every wait is bounded: a response must make progress every ``STALL_TIMEOUT_S`` and complete
within the case's deadline, so a silent or dripping server ends the case as FAILED with a
"timeout" actual naming how much had arrived. Each response read is an exchange in the
deadline's pace log (:mod:`harness.checks.pace`), so that when the deadline is spent a server
that answered every request right, only slowly, is told apart from one that drips.
"""

from __future__ import annotations

import selectors
import socket
import time
from dataclasses import dataclass, field

import h11

from harness.checks.endpoint import Endpoint
from harness.checks.pace import Exchange
from harness.checks.stream import STALL_TIMEOUT_S
from harness.verdicts import ConformanceFailure, describe_close, describe_reset, describe_timeout, preview

RECV_BYTES = 65536


@dataclass
class HttpResponse:
    """One response as it came off the wire.

    Attributes:
        status: the status code.
        http_version: ``1.1`` or ``1.0``.
        headers: (lower-case name, value) pairs, as text, in order.
        body: the content (de-chunked).
        raw_head: the status line and header block, as received.
        closed: the server closed the connection after this response (EOF seen).
    """

    status: int
    http_version: str
    headers: list[tuple[str, str]]
    body: bytes
    raw_head: bytes = b""
    closed: bool = False

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        name = name.lower()
        return next((value for field_name, value in self.headers if field_name == name), None)

    def header_values(self, name: str) -> list[str]:
        name = name.lower()
        return [value for field_name, value in self.headers if field_name == name]

    @property
    def keeps_connection(self) -> bool:
        """Whether the server said the connection stays open (RFC 9112 §9.3: HTTP/1.1 without
        ``close``, or HTTP/1.0 with ``keep-alive``)."""
        options = {option.strip().lower() for value in self.header_values("connection") for option in value.split(",")}
        if self.http_version == "1.0":
            return "keep-alive" in options
        return "close" not in options

    @property
    def content_type(self) -> str:
        return (self.header("content-type") or "").split(";")[0].strip().lower()

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def summary(self) -> str:
        """``HTTP/1.1 200, Content-Type text/html, 152 bytes of content``: for actuals."""
        kind = self.header("content-type") or "no Content-Type"
        return f"HTTP/{self.http_version} {self.status}, {kind}, {len(self.body)} bytes of content"


@dataclass
class HttpConnection:
    """A raw client connection: send bytes, read responses in order.

    Resource handling: owns the socket; use as a context manager or call :meth:`close`.
    """

    endpoint: Endpoint
    sock: socket.socket = field(init=False)
    _pending: bytearray = field(init=False, default_factory=bytearray)
    eof: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self.sock = self.endpoint.connect()

    def __enter__(self) -> "HttpConnection":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        """Send all of ``data`` within the stall limit and the deadline."""
        view = memoryview(data)
        with selectors.DefaultSelector() as selector:
            selector.register(self.sock, selectors.EVENT_WRITE)
            while view:
                try:
                    sent = self.sock.send(view)
                except BlockingIOError:
                    sent = 0
                except (BrokenPipeError, ConnectionResetError):
                    raise ConformanceFailure(
                        f"the server reads the request ({len(data)} bytes)",
                        describe_reset(0) + f" while {len(data) - len(view)} of {len(data)} request bytes were sent",
                    ) from None
                view = view[sent:]
                if view and not selector.select(self.endpoint.deadline.cap(STALL_TIMEOUT_S)):
                    expected = f"the server reads the request ({len(data)} bytes)"
                    deadline = self.endpoint.deadline
                    if deadline.spent:
                        why = f"{len(data) - len(view)} bytes sent; {deadline.spent_description()}"
                        raise deadline.spent_failure(expected, describe_timeout(deadline.budget_s, 0, why=why))
                    raise ConformanceFailure(
                        expected,
                        describe_timeout(STALL_TIMEOUT_S, 0, why=f"it stopped reading after {len(data) - len(view)} bytes"),
                    )

    def receive_more(self, expected: str, received_so_far: int) -> bool:
        """Read what arrives next into the buffer; False at EOF.

        Raises:
            ConformanceFailure: a reset, or nothing within the stall limit / the deadline.
        """
        wait = self.endpoint.deadline.cap(STALL_TIMEOUT_S)
        with selectors.DefaultSelector() as selector:
            selector.register(self.sock, selectors.EVENT_READ)
            if not selector.select(wait):
                deadline = self.endpoint.deadline
                if deadline.spent:  # slow or dripping: the pace of the responses so far says which
                    actual = describe_timeout(deadline.budget_s, received_so_far, why=deadline.spent_description())
                    raise deadline.spent_failure(expected, actual)
                raise ConformanceFailure(expected, describe_timeout(wait, received_so_far, why="the response was not complete"))
        try:
            data = self.sock.recv(RECV_BYTES)
        except BlockingIOError:
            return True
        except ConnectionResetError:
            raise ConformanceFailure(expected, describe_reset(received_so_far)) from None
        if not data:
            self.eof = True
            return False
        self._pending += data
        return True

    @property
    def has_arrivals(self) -> bool:
        """Whether bytes not yet read as a response, or the server's EOF, have arrived."""
        return bool(self._pending) or self.eof

    def read_response(self, method: str = "GET", *, expected: str = "a complete HTTP response") -> HttpResponse:
        """Read the next response to a request of ``method``.

        Raises:
            ConformanceFailure: the bytes are not an HTTP/1.x response (with h11's reason and
                a preview of them), the connection closed or reset before the response was
                complete, or it did not complete in time.
        """
        parser = h11.Connection(h11.CLIENT)
        parser.send(h11.Request(method=method, target="/", headers=[("Host", "wirecheck")]))
        parser.send(h11.EndOfMessage())
        head: h11.Response | None = None
        body = bytearray()
        consumed_from = bytes(self._pending)
        self._pending.clear()
        exchange = Exchange(time.monotonic())
        self.endpoint.deadline.pace.record(exchange)
        if consumed_from:  # h11 reads b"" as EOF
            parser.receive_data(consumed_from)
            exchange.arrivals.append((exchange.started_s, len(consumed_from)))
        received = len(consumed_from)
        while True:
            try:
                event = parser.next_event()
            except h11.RemoteProtocolError as exc:
                raise ConformanceFailure(
                    expected, f"not a valid HTTP/1.1 response ({exc}); received {preview(consumed_from)}"
                ) from None
            if event is h11.NEED_DATA:
                if self.eof:
                    if not received:
                        raise ConformanceFailure(expected, describe_close(0) + ": no response at all")
                    parser.receive_data(b"")
                    continue
                before = len(self._pending)
                more = self.receive_more(expected, received)
                if not more and not received:
                    raise ConformanceFailure(expected, describe_close(0) + ": no response at all")
                chunk = bytes(self._pending[before:])
                self._pending.clear()
                consumed_from += chunk
                received += len(chunk)
                if chunk:
                    exchange.arrivals.append((time.monotonic(), len(chunk)))
                if more and not chunk:
                    continue  # readable, but nothing for us yet (a TLS record with no data)
                parser.receive_data(chunk if more else b"")  # h11 reads b"" as EOF
                continue
            if isinstance(event, h11.InformationalResponse):
                continue  # 100 Continue and the like precede the final response
            if isinstance(event, h11.Response):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                exchange.complete = True
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise ConformanceFailure(expected, describe_close(received) + (f": {preview(consumed_from)}" if consumed_from else ""))
        assert head is not None
        leftover, _closed = parser.trailing_data
        self._pending[:0] = leftover
        head_end = consumed_from.find(b"\r\n\r\n")
        return HttpResponse(
            status=head.status_code,
            http_version=head.http_version.decode("ascii"),
            headers=[(name.decode("latin-1"), value.decode("latin-1")) for name, value in head.headers],
            body=bytes(body),
            raw_head=consumed_from[: head_end + 4] if head_end >= 0 else b"",
            closed=self.eof,
        )

    def read_to_eof(self, expected: str) -> bytes:
        """Everything until the server closes (for HTTP/1.0 and ``Connection: close``)."""
        while not self.eof:
            self.receive_more(expected, len(self._pending))
        data = bytes(self._pending)
        self._pending.clear()
        return data

    def wait_for_close(self, expected: str) -> bytes:
        """Bytes that arrive before the server's EOF (a reset counts as a close, too)."""
        try:
            return self.read_to_eof(expected)
        except ConformanceFailure as failure:
            if failure.actual.startswith("reset"):
                return bytes(self._pending)
            raise


def request(
    method: str,
    target: str,
    *,
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
    version: str = "1.1",
    host: str = "wirecheck.test",
) -> bytes:
    """The bytes of one request; Host and (for a body) Content-Length added unless given."""
    fields = list(headers or [])
    names = {name.lower() for name, _ in fields}
    if "host" not in names and version == "1.1":
        fields.insert(0, ("Host", host))
    if body and "content-length" not in names and "transfer-encoding" not in names:
        fields.append(("Content-Length", str(len(body))))
    head = f"{method} {target} HTTP/{version}\r\n" + "".join(f"{n}: {v}\r\n" for n, v in fields) + "\r\n"
    return head.encode("latin-1") + body


def chunked(body: bytes, piece: int = 5) -> bytes:
    """``body`` in the chunked transfer coding (RFC 9112 §7.1), in pieces of ``piece`` bytes."""
    out = bytearray()
    for start in range(0, len(body), piece):
        part = body[start : start + piece]
        out += b"%x\r\n" % len(part) + part + b"\r\n"
    return bytes(out + b"0\r\n\r\n")


def exchange(endpoint: Endpoint, data: bytes, method: str = "GET", expected: str = "a complete HTTP response") -> HttpResponse:
    """One request on a fresh connection, its response read, the connection closed."""
    with HttpConnection(endpoint) as connection:
        connection.send(data)
        return connection.read_response(method, expected=expected)
