"""The pace verdict through the real clients (the stream conversation loop, the raw HTTP
client, the multiprocessing.connection peer): a slow server is slow, a dripping one FAILED.

Small in-process servers on 127.0.0.1:0 (a thread each) that answer right but late — one
connection accepted per :data:`ACCEPT_GAP_S` — or right but dripping, one byte per
:data:`DRIP_GAP_S`; the checkers run against them with a short budget. What is asserted is
only the kind of ending (:class:`~harness.verdicts.TargetTooSlow` or a plain FAILED with the
drip's rate), never a speed: the gaps are chosen so that the budget runs out whatever this
machine's speed (a budget of a few gaps for a case that needs dozens), and a drip of 20 B/s
is fifty times under the floor. Each test takes about its budget (2–3 s).
"""

from __future__ import annotations

import socket
import threading
from typing import Callable, Iterator

import pytest

from harness.checks import Deadline, Endpoint
from harness.checks.echo import check_awkward_bytes_echoed, check_sequential_connections
from harness.checks.http import HttpConnection
from harness.checks.mpconn import FramedPeer
from harness.checks.pace import SLOW_ACTUAL_PREFIX
from harness.protocols.mpconn import encode_header
from harness.verdicts import ConformanceFailure, TargetTooSlow

# One accepted connection per 0.4 s: a budget of 3 s sees a handful completed, never all 50.
ACCEPT_GAP_S = 0.4
# One byte per 50 ms: 20 B/s, fifty times under the drip floor of 1 KiB/s.
DRIP_GAP_S = 0.05
BUDGET_S = 3.0

HTTP_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
DRIPPED_HTTP_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 1000
HTTP_REQUEST = b"GET / HTTP/1.1\r\nHost: wirecheck\r\n\r\n"

# A multiprocessing.connection frame (a 4-byte big-endian length, then the payload), sent
# unasked, as a Listener sends its challenge.
FRAME = encode_header(1000) + b"f" * 1000


def drip(conn: socket.socket, data: bytes, stop: threading.Event) -> None:
    """Send ``data`` one byte per :data:`DRIP_GAP_S` (the pace is the behaviour under test),
    until it is all sent or the server stops."""
    for index in range(len(data)):
        if stop.wait(DRIP_GAP_S):
            return
        conn.sendall(data[index : index + 1])


def answer_http(conn: socket.socket, stop: threading.Event) -> None:
    conn.recv(65536)
    conn.sendall(HTTP_RESPONSE)


def drip_http(conn: socket.socket, stop: threading.Event) -> None:
    conn.recv(65536)
    drip(conn, DRIPPED_HTTP_RESPONSE, stop)


def send_frame(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(FRAME)
    conn.recv(65536)  # until the client leaves


def drip_frame(conn: socket.socket, stop: threading.Event) -> None:
    drip(conn, FRAME, stop)


def echo(conn: socket.socket, stop: threading.Event) -> None:
    while data := conn.recv(65536):
        conn.sendall(data)


def drip_echo(conn: socket.socket, stop: threading.Event) -> None:
    while not stop.is_set() and (data := conn.recv(65536)):
        drip(conn, data, stop)


def serve(handler: Callable[[socket.socket, threading.Event], None], accept_gap_s: float = 0.0) -> Iterator[Endpoint]:
    """Serve ``handler`` (a thread per connection) on 127.0.0.1:0, accepting one connection per
    ``accept_gap_s``; yield an endpoint with a budget of :data:`BUDGET_S`.

    Resource handling: the listener is closed and every accepted connection shut on the way out.
    """
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def handle(conn: socket.socket) -> None:
        try:
            handler(conn, stop)
        except OSError:
            pass  # the client gave up: its business

    def accept_loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # the listener was closed: the test is over
            accepted.append(conn)
            stop.wait(accept_gap_s)  # slow, not wrong: the handler's start-up
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    host, port = listener.getsockname()
    try:
        yield Endpoint(host, port, Deadline(BUDGET_S))
    finally:
        stop.set()
        try:
            listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() (close alone does not)
        except OSError:
            pass
        listener.close()
        for conn in accepted:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()
        thread.join(timeout=BUDGET_S)


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[Endpoint]:
    """``(handler, accept gap)`` from the test's parametrization, served; its endpoint."""
    handler, accept_gap_s = request.param
    yield from serve(handler, accept_gap_s)


def slow(handler: Callable[[socket.socket, threading.Event], None]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("server", [(handler, ACCEPT_GAP_S)], indirect=True, ids=["slow"])


def dripping(handler: Callable[[socket.socket, threading.Event], None]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("server", [(handler, 0.0)], indirect=True, ids=["dripping"])


def many_http_requests(endpoint: Endpoint, count: int = 50) -> None:
    for _ in range(count):
        with HttpConnection(endpoint) as connection:
            connection.send(HTTP_REQUEST)
            connection.read_response()


@slow(answer_http)
def test_slow_http_server_is_slow(server: Endpoint) -> None:
    with pytest.raises(TargetTooSlow) as raised:
        many_http_requests(server)
    assert raised.value.actual.startswith(SLOW_ACTUAL_PREFIX), raised.value.actual
    assert "a larger --case-timeout (e.g. 6) may let it finish" in raised.value.actual


@dripping(drip_http)
def test_dripping_http_server_is_failed(server: Endpoint) -> None:
    with pytest.raises(ConformanceFailure) as raised:
        many_http_requests(server)
    assert not isinstance(raised.value, TargetTooSlow), raised.value.actual
    assert "the replies dripped" in raised.value.actual


@slow(echo)
def test_slow_echo_server_is_slow_with_an_advised_budget(server: Endpoint) -> None:
    with pytest.raises(TargetTooSlow) as raised:
        check_sequential_connections(server, count=50)
    assert "of the 50 the case needs" in raised.value.actual and "would let it finish" in raised.value.actual


@dripping(drip_echo)
def test_dripping_echo_server_is_failed(server: Endpoint) -> None:
    with pytest.raises(ConformanceFailure) as raised:
        check_awkward_bytes_echoed(server)  # 256 bytes first: 12.8 s at 20 B/s
    assert not isinstance(raised.value, TargetTooSlow), raised.value.actual
    assert "the replies dripped" in raised.value.actual


def many_frames(endpoint: Endpoint, count: int = 50) -> None:
    for _ in range(count):
        with FramedPeer(endpoint) as peer:
            peer.receive_message(expected="a frame, unasked")


@slow(send_frame)
def test_slow_framing_server_is_slow(server: Endpoint) -> None:
    with pytest.raises(TargetTooSlow) as raised:
        many_frames(server)
    assert raised.value.actual.startswith(SLOW_ACTUAL_PREFIX), raised.value.actual


@dripping(drip_frame)
def test_dripping_framing_server_is_failed(server: Endpoint) -> None:
    with pytest.raises(ConformanceFailure) as raised:
        many_frames(server)
    assert not isinstance(raised.value, TargetTooSlow), raised.value.actual
    assert "the replies dripped" in raised.value.actual
