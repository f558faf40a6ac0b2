"""The HTTP/1.1 gateway, sans-IO: requests fed whole, a byte at a time and pipelined; limits;
PEP 3333's environ and start_response; the worker pool's wake path; cleanup on disconnect."""

from __future__ import annotations

import os
import queue
import select
import sys
import threading
import time

import h11
import pytest

from harness.protocols.base import RunnerTraits
from harness.protocols.http_gateway import (
    MAX_BODY_BYTES,
    MAX_HEADER_BYTES,
    MAX_TARGET_BYTES,
    PIPELINE_HOLD_BYTES,
    QUEUED_BATCHES,
    REQUEST_DEADLINE_S,
    WsgiGatewayProtocol,
    _Body,
    _PooledRun,
    _WorkerPool,
    _worker_pool,
)
from tests.sansio import Drive

GET = b"GET /hello?name=x HTTP/1.1\r\nHost: t\r\n\r\n"


def echo_environ_app(environ, start_response):
    """Answers with the request's method, path and body, and its Content-Length."""
    body = b"%s %s %s" % (
        environ["REQUEST_METHOD"].encode(),
        environ["PATH_INFO"].encode("latin-1"),
        environ["wsgi.input"].read(),
    )
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def started(app=echo_environ_app, clock=lambda: 0.0, traits: RunnerTraits | None = None) -> Drive:
    drive = Drive(WsgiGatewayProtocol(app, clock), max_bytes=1000)
    facts = {"runner": traits} if traits else {}
    assert drive.start(**facts) == b""
    return drive


def responses(data: bytes, method: str = "GET") -> list[tuple[int, dict[bytes, bytes], bytes]]:
    """Parse every response in ``data`` with h11, as a client that sent GETs would."""
    parsed = []
    while data:
        client = h11.Connection(h11.CLIENT)
        client.send(h11.Request(method=method, target="/", headers=[("Host", "t")]))
        client.send(h11.EndOfMessage())
        client.receive_data(data)
        status, headers, body = None, {}, b""
        while True:
            event = client.next_event()
            if isinstance(event, h11.Response):
                status, headers = event.status_code, dict(event.headers)
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
            elif event is h11.NEED_DATA:
                client.receive_data(b"")
            elif isinstance(event, h11.InformationalResponse):
                continue
        parsed.append((status, headers, body))
        data = client.trailing_data[0]
    return parsed


def test_a_request_fed_whole_is_answered() -> None:
    drive = started()
    [(status, headers, body)] = responses(drive.feed(GET))
    assert status == 200 and body == b"GET /hello " and headers[b"content-length"] == b"11"
    assert b"date" in headers  # RFC 9110 6.6.1


def test_a_request_fed_a_byte_at_a_time_is_answered_once_complete() -> None:
    drive = started()
    out = b"".join(drive.feed(bytes([byte])) for byte in GET)
    assert [status for status, _, _ in responses(out)] == [200]


def test_pipelined_requests_with_trailing_data_are_answered_in_order() -> None:
    drive = started()
    second = b"POST /b HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
    out = drive.feed(GET + second + b"GET /c HTTP/1.1\r\nHo")  # the third is incomplete
    assert [body for _, _, body in responses(out)] == [b"GET /hello ", b"POST /b abc"]
    out = drive.feed(b"st: t\r\n\r\n")
    assert [body for _, _, body in responses(out)] == [b"GET /c "]


def test_a_response_returned_whole_is_pulled_a_piece_at_a_time_and_in_order() -> None:
    """A list of many chunks is one batch; the gateway turns only as much of it into output as
    a pull may take (the rest waits in the batch), and write()'s output comes first."""
    chunks = [bytes([65 + n]) * 700 for n in range(8)]

    def app(environ, start_response):
        write = start_response("200 OK", [("Content-Length", str(5 + sum(map(len, chunks))))])
        write(b"first")
        return chunks

    drive = started(app)  # pulls of at most 1000 bytes
    protocol = drive.protocol
    protocol.data_received(GET)
    first = protocol.pull_output(drive.max_bytes)
    assert len(first) <= drive.max_bytes
    assert protocol._output.pending_bytes < 2 * 700, "a pull turned the whole batch into output"
    [(status, _, body)] = responses(first + drive.pull_all())
    assert status == 200 and body == b"first" + b"".join(chunks)


def test_pipelined_input_is_held_up_to_a_bound_while_a_response_is_unsent() -> None:
    drive = started()
    protocol = drive.protocol
    protocol.data_received(GET)
    assert protocol.wants_input  # answering, and nothing held yet: reading on is cheaper
    pipelined = GET * (PIPELINE_HOLD_BYTES // len(GET) + 1)
    protocol.data_received(pipelined)
    assert not protocol.wants_input  # the bound is reached: the rest waits in the kernel
    out = drive.pull_all()
    assert protocol.wants_input
    # Every held request is answered, in order, once the first response is out.
    assert len(responses(out)) == 1 + pipelined.count(b"GET ")


def test_head_is_answered_without_content() -> None:
    drive = started()
    out = drive.feed(b"HEAD /x HTTP/1.1\r\nHost: t\r\n\r\n")
    assert out.endswith(b"\r\n\r\n") and b"Content-Length: 8" in out  # GET's length, no content


def test_http10_gets_no_chunking_and_a_close() -> None:
    def unframed(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"a", b"b"]

    drive = started(unframed)
    out = drive.feed(b"GET / HTTP/1.0\r\n\r\n")
    assert b"transfer-encoding" not in out.lower() and out.endswith(b"\r\n\r\nab")
    assert drive.protocol.wants_close


def test_http11_unframed_response_is_chunked_and_kept_alive() -> None:
    def unframed(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"a", b"b"]

    drive = started(unframed)
    out = drive.feed(GET)
    assert b"Transfer-Encoding: chunked" in out and out.endswith(b"0\r\n\r\n")
    assert not drive.protocol.wants_close


def test_chunked_request_body_reaches_the_application_whole() -> None:
    drive = started()
    out = drive.feed(b"POST /p HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
    assert responses(out)[0][2] == b"POST /p abcde"


def test_expect_100_continue_is_answered_before_the_body() -> None:
    drive = started()
    out = drive.feed(b"POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 100 ")
    assert responses(drive.feed(b"ok"))[0][2] == b"POST /p ok"


@pytest.mark.parametrize(
    "request_bytes, status",
    [
        (b"GET /" + b"a" * (MAX_TARGET_BYTES + 1) + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\nHost: t\r\n" + b"X: " + b"a" * (MAX_HEADER_BYTES + 1) + b"\r\n\r\n", 431),
        (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY_BYTES + 1), 413),
        (b"GET / HTTP/1.1 EXTRA\r\n\r\n", 400),
        (b"\x16\x03\x01\x02\x00garbage\r\n\r\n", 400),  # a TLS ClientHello on a plaintext port
    ],
)
def test_limits_are_answered_with_their_status_then_close(request_bytes: bytes, status: int) -> None:
    drive = started()
    out = drive.feed(request_bytes)
    assert out.startswith(b"HTTP/1.1 %d " % status)
    assert b"Connection: close" in out and drive.protocol.wants_close


def test_a_chunked_body_past_the_limit_is_413() -> None:
    drive = started()
    drive.feed(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n" % (1 << 20) + b"a" * (1 << 20) + b"\r\n"
    out = b""
    for _ in range(MAX_BODY_BYTES // (1 << 20) + 1):
        out += drive.feed(chunk)
    assert out.startswith(b"HTTP/1.1 413 ")


def test_a_request_still_incomplete_past_the_deadline_is_408() -> None:
    now = [0.0]
    drive = started(clock=lambda: now[0])
    assert drive.feed(b"GET / HTTP/1.1\r\n") == b""
    now[0] = REQUEST_DEADLINE_S + 1
    assert drive.feed(b"X-Slow: 1\r\n").startswith(b"HTTP/1.1 408 ")


def test_environ_follows_pep_3333() -> None:
    seen = {}

    def recorder(environ, start_response):
        seen.update(environ)
        start_response("204 No Content", [])
        return []

    drive = started(recorder, traits=RunnerTraits("t", multithread=True))
    drive.feed(
        b"POST /a%2Fb/%C3%A9?x=%20y HTTP/1.1\r\nHost: h\r\nX-Dup: 1\r\nX-Dup: 2\r\nX_Dup: evil\r\n"
        b"Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi"
    )
    assert seen["PATH_INFO"] == "/a/b/\xc3\xa9"  # %-decoded, bytes as latin-1 str
    assert seen["QUERY_STRING"] == "x=%20y"  # raw
    assert seen["HTTP_X_DUP"] == "1, 2"  # joined; the underscore field was dropped
    assert seen["CONTENT_TYPE"] == "text/plain" and seen["CONTENT_LENGTH"] == "2"
    assert "HTTP_CONTENT_TYPE" not in seen and "HTTP_CONTENT_LENGTH" not in seen
    assert seen["SERVER_PORT"] == "7" and type(seen["SERVER_PORT"]) is str
    assert seen["wsgi.version"] == (1, 0) and seen["wsgi.url_scheme"] == "http"
    assert seen["wsgi.multithread"] is True and seen["wsgi.multiprocess"] is False
    assert seen["SERVER_PROTOCOL"] == "HTTP/1.1" and seen["REQUEST_METHOD"] == "POST"


class ClosingBody:
    """An iterable that records close(), as PEP 3333 requires servers to call it."""

    def __init__(self, chunks):
        self.chunks = chunks
        self.closed = False

    def __iter__(self):
        return iter(self.chunks)

    def close(self):
        self.closed = True


def test_close_is_called_after_the_response_and_on_a_disconnect_mid_response() -> None:
    bodies = []

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        bodies.append(ClosingBody([b"x" * 1000] * 10))
        return bodies[-1]

    drive = started(app)
    drive.feed(GET)
    assert bodies[0].closed
    protocol = drive.protocol
    protocol.data_received(GET)
    protocol.pull_output(100)  # the client goes away after a first piece
    assert not bodies[1].closed
    protocol.connection_lost()
    assert bodies[1].closed


def test_write_callable_output_comes_before_the_iterable() -> None:
    def app(environ, start_response):
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"first ")
        return [b"second"]

    assert responses(started(app).feed(GET))[0][2] == b"first second"


def test_an_exception_before_the_headers_is_a_500_and_after_them_a_close() -> None:
    def fails_early(environ, start_response):
        raise RuntimeError("boom")

    assert responses(started(fails_early).feed(GET))[0][0] == 500

    def fails_late(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"partial"
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            # PEP 3333: with the headers sent, start_response must re-raise exc_info.
            start_response("500 Oops", [], sys.exc_info())

    drive = started(fails_late)
    out = drive.feed(GET)
    assert b"partial" in out and drive.protocol.wants_close


def test_on_an_event_loop_the_application_runs_in_the_pool_and_wakes_the_runner() -> None:
    drive = started(traits=RunnerTraits("loop", event_loop=True))
    first = drive.feed(GET)  # the worker may or may not have answered yet
    assert drive.woken.wait(10)
    out = first + drive.pull_all()
    while not out.endswith(b"GET /hello "):
        drive.woken.clear()
        assert drive.woken.wait(10)
        out += drive.pull_all()
    assert responses(out)[0][2] == b"GET /hello "


def test_a_pooled_run_holds_at_most_its_bound_of_batches_and_hands_them_over_in_order() -> None:
    """A body streamed faster than the runner takes it (a batch per chunk): the worker stops at
    QUEUED_BATCHES (waiting on the event it makes only then) and goes on as batches are taken."""
    count = 4 * QUEUED_BATCHES
    asked_for = [threading.Event() for _ in range(count)]  # set as the worker asks for batch n

    def batches():
        for n in range(count):
            asked_for[n].set()
            yield [_Body(b"%d" % n)]

    woken = threading.Event()
    run = _PooledRun(batches(), woken.set)
    # Holding the first QUEUED_BATCHES batches, the worker has taken one more and must wait
    # with it: it may not ask for the next one until the runner takes a batch.
    assert asked_for[QUEUED_BATCHES].wait(10), "the worker never filled its queue"
    assert not asked_for[QUEUED_BATCHES + 1].wait(0.2), "the worker went past its bound"
    assert len(run._ready) == QUEUED_BATCHES
    deadline = time.monotonic() + 10
    taken = []
    while len(taken) < count and time.monotonic() < deadline:
        batch = run.next_batch()
        if batch is None:
            woken.wait(0.05)
            woken.clear()
        else:
            taken += [part.data for part in batch]
    assert taken == [b"%d" % n for n in range(count)]


@pytest.mark.parametrize("batch_scheduling", [True, False])
def test_pool_workers_run_as_batch_work_only_when_asked(batch_scheduling: bool) -> None:
    """SCHED_BATCH keeps a woken worker from preempting the loop that holds the GIL; a pool of
    a multi-process runner is left at the default policy (see _WorkerPool)."""
    pool = _WorkerPool(1, batch_scheduling=batch_scheduling)
    policies: queue.SimpleQueue[int] = queue.SimpleQueue()
    pool.submit(lambda: policies.put(os.sched_getscheduler(0)))
    expected = os.SCHED_BATCH if batch_scheduling else os.SCHED_OTHER
    assert policies.get(timeout=10) == expected
    assert os.sched_getscheduler(0) == os.SCHED_OTHER  # the submitting thread is left alone


def test_a_forked_child_makes_a_worker_pool_of_its_own() -> None:
    """The parent's pool threads do not exist in a child: a job submitted to an inherited pool
    would never run."""
    parent_pool = _worker_pool()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, and leave without running pytest's teardown
        try:
            pool = _worker_pool()
            ran = threading.Event()
            pool.submit(ran.set)
            os.write(write_end, b"1" if pool is not parent_pool and ran.wait(5) else b"0")
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        assert select.select([read_end], [], [], 10)[0], "the child did not report in 10 s"
        assert os.read(read_end, 1) == b"1"
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)


def test_start_response_refuses_a_hop_by_hop_header_with_value_error() -> None:
    """PEP 3333: a server "should consider it a fatal error for an application to attempt sending
    them, and raise an error if they are supplied to start_response()"."""
    refusals = []

    def app(environ, start_response):
        try:
            start_response("200 OK", [("Content-Type", "text/plain"), ("Keep-Alive", "timeout=5")])
        except ValueError as exc:
            refusals.append(str(exc))
            # A first call that raised still counts: a second one needs exc_info (PEP 3333).
            start_response("200 OK", [("Content-Type", "text/plain")], sys.exc_info())
        return [b"refused"]

    status, headers, body = responses(started(app).feed(GET))[0]
    assert (status, body) == (200, b"refused")
    assert refusals and "Keep-Alive" in refusals[0]
    assert b"keep-alive" not in {name.lower() for name in headers}


def test_an_application_that_sends_a_hop_by_hop_header_regardless_gets_a_500() -> None:
    def app(environ, start_response):
        start_response("200 OK", [("Connection", "close"), ("Content-Length", "2")])
        return [b"ok"]

    assert responses(started(app).feed(GET))[0][0] == 500


def test_a_second_start_response_without_exc_info_after_a_refusal_is_an_error() -> None:
    def app(environ, start_response):
        try:
            start_response("200 OK", [("Upgrade", "h2c")])
        except ValueError:
            start_response("200 OK", [("Content-Length", "2")])  # no exc_info: a fatal error
        return [b"ok"]

    assert responses(started(app).feed(GET))[0][0] == 500


def test_status_and_headers_go_out_as_latin1_bytes() -> None:
    def app(environ, start_response):
        start_response("200 Caf\u00e9", [("X-Word", "caf\u00e9"), ("Content-Length", "2")])
        return [b"ok"]

    out = started(app).feed(GET)
    assert out.startswith(b"HTTP/1.1 200 Caf\xe9\r\n") and b"X-Word: caf\xe9\r\n" in out
    assert b"\xc3\xa9" not in out


def _dated_app(date_header: str | None):
    def app(environ, start_response):
        headers = [("Content-Type", "text/plain"), ("Content-Length", "2")]
        if date_header is not None:
            headers.append(("Date", date_header))
        start_response("200 OK", headers)
        return [b"ok"]

    return app


def test_a_repeated_response_reuses_h11_s_validated_event_within_its_second() -> None:
    import harness.protocols.http_gateway as gateway

    gateway._RESPONSE_EVENTS.clear()
    now = [1_700_000_000.2]
    drive = started(_dated_app("Thu, 01 Jan 1970 00:00:00 GMT"), clock=lambda: now[0])
    first = responses(drive.feed(GET))
    events_after_first = dict(gateway._RESPONSE_EVENTS)
    second = responses(drive.feed(GET))
    assert first == second and len(events_after_first) == 1
    assert gateway._RESPONSE_EVENTS == events_after_first  # the same event, not a new one
    [(_, headers, _)] = first
    assert headers[b"date"] == b"Tue, 14 Nov 2023 22:13:20 GMT"  # ours: the application's gave way
    now[0] += 1.0  # the next second: a new Date, a new event
    [(_, headers, _)] = responses(drive.feed(GET))
    assert headers[b"date"] == b"Tue, 14 Nov 2023 22:13:21 GMT" and len(gateway._RESPONSE_EVENTS) == 2


def test_the_kept_events_are_bounded() -> None:
    import harness.protocols.http_gateway as gateway

    gateway._RESPONSE_EVENTS.clear()
    for second in range(gateway.RESPONSE_EVENTS_KEPT * 2):
        drive = started(_dated_app(None), clock=lambda second=second: float(second))
        assert [status for status, _, _ in responses(drive.feed(GET))] == [200]
    assert 0 < len(gateway._RESPONSE_EVENTS) <= gateway.RESPONSE_EVENTS_KEPT


def test_a_header_h11_refuses_is_refused_every_time_not_kept() -> None:
    import harness.protocols.http_gateway as gateway

    def bad_value_app(environ, start_response):
        start_response("200 OK", [("Content-Length", "2"), ("X-Bad", "a\x00b")])
        return [b"ok"]

    gateway._RESPONSE_EVENTS.clear()
    for _ in range(2):
        drive = started(bad_value_app)
        assert drive.feed(GET) == b""  # h11 refused the response: the connection closes
        assert drive.protocol.wants_close
    assert not gateway._RESPONSE_EVENTS
