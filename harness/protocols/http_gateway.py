"""An HTTP/1.1 gateway for WSGI applications, as a stream protocol of the serving core.

Any WSGI application (PEP 3333) becomes a stream protocol, so it runs on every runner and,
through the TLS layer, over TLS. HTTP/1.1 itself (parsing, framing, keep-alive, chunked
bodies, HTTP/1.0 peers, ``Expect: 100-continue``) is h11's, a well-kept sans-IO library
made for exactly this; what is written here is the gateway between h11's events and
PEP 3333's ``environ`` / ``start_response`` / iterable, and the server's limits.

Theory of operation, per connection:

- *Reading a request.* Bytes go to h11; its events build the request. Limits answer with
  the status RFC 9110 names and then close (RFC 9112 §9.6: a server "SHOULD send" the
  response before closing): a request line whose target is longer than ``MAX_TARGET_BYTES``
  gets 414, a header block past ``MAX_HEADER_BYTES`` gets 431 (RFC 6585 §5), a body past
  ``MAX_BODY_BYTES`` gets 413 (declared or, when chunked, as it arrives), a malformed
  message 400, and a request still incomplete ``REQUEST_DEADLINE_S`` after its first byte
  gets 408 when its next bytes come (a silent one is closed by the runner's idle timeout).
- *Pipelining, bounded.* While a response is in progress the gateway reads on, but holds at
  most ``PIPELINE_HOLD_BYTES`` of what follows (in h11's buffer, unparsed); past that it does
  not want input, so the runner stops reading and further pipelined requests wait in the
  kernel, not in our memory. They are answered in order (h11 pauses at each request
  boundary).
- *Running the application.* On a runner that serves many connections from one thread (its
  traits say ``event_loop``) the application runs in a bounded worker pool and its response
  parts come back through the connection's waker; elsewhere (a thread or a process per
  connection) it runs inline on the connection's own thread. Either way the body is pulled
  lazily: a generator body is advanced only as the socket drains (inline), or through a
  bounded queue that blocks the worker (pool). The hand-over is kept cheap, because with
  every thread on one core it is a large part of a small request's cost: a plain job queue
  instead of futures, and a response whose application returned a list handed over whole
  with one wake (measured under wrk on ``selectors``, one core: 272 -> 179 µs of server CPU
  per request).
- *The response.* h11 frames it: the application's Content-Length, else chunked for an
  HTTP/1.1 peer, else a close-delimited body for HTTP/1.0. RFC 9110 §9.3.2: "The server
  MUST NOT send content in the response" to HEAD; the gateway drops the body of a HEAD
  response (still iterating and closing the application's iterable). A hop-by-hop header
  from an application is refused: ``start_response`` raises ValueError, so the application
  learns of its mistake while it still runs (and, unless it catches the error and starts an
  error response with ``exc_info``, the client gets a 500). PEP 3333: "a server or gateway
  **should** consider it a fatal error for an application to attempt sending them, and raise an
  error if they are supplied to ``start_response()``." Status and headers are sent as latin-1
  bytes, one byte per character (PEP 3333, "Unicode Issues").
- *Cleanup.* PEP 3333: "If the iterable returned by the application has a close() method,
  the server or gateway must call that method upon completion of the current request,
  whether the request was completed normally, or terminated early due to an application
  error during iteration or an early disconnect of the browser." Done in the producer's
  ``finally``, which ``connection_lost`` reaches too.
"""

from __future__ import annotations

import collections
import functools
import http
import io
import logging
import os
import queue
import sys
import threading
import time
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any, Callable, Iterable, Iterator, Union
from urllib.parse import unquote_to_bytes

import h11

from harness.protocols.base import Chunk, ConnectionContext, OutputQueue

log = logging.getLogger("wirecheck.http")

WsgiApplication = Callable[[dict, Callable[..., Any]], Iterable[bytes]]

# RFC 9112 §3: "It is RECOMMENDED that all HTTP senders and recipients support, at a minimum,
# request-line lengths of 8000 octets." A target past this gets 414.
MAX_TARGET_BYTES = 8192
# The header block (request line and fields): common servers allow 8-16 KiB (nginx 8 KiB per
# line, gunicorn 8190 per field and 100 fields). Past this: 431.
MAX_HEADER_BYTES = 16384
# A REST or XML-RPC request body this large is a mistake or an attack: 413 past it.
MAX_BODY_BYTES = 8 << 20
# h11 refuses to buffer an incomplete event beyond this; set above MAX_HEADER_BYTES so that
# our own checks, with their precise statuses, speak first.
H11_BUFFER_BYTES = 4 * MAX_HEADER_BYTES
# A request whose first byte came this long ago and that is still incomplete gets 408
# (Apache's RequestReadTimeout default allows 20-40 s for headers).
REQUEST_DEADLINE_S = 30.0
# Worker threads per process for the event-loop runners: bounded, so a flood of slow
# requests queues instead of spawning threads without end.
WORKER_THREADS = 16
# Batches of response parts a pool worker may queue ahead of the socket before it blocks (a
# streamed body is a batch per chunk; a response the application returned whole is one batch).
QUEUED_BATCHES = 16
# Bytes of pipelined requests read while a response is in progress, at most (plus one read).
# Reading on rather than pausing spares an event loop two changes of its interest set (two
# epoll_ctl calls) per request; past this, input is paused and the rest waits in the kernel.
PIPELINE_HOLD_BYTES = 64 * 1024

# RFC 9110 §7.6.1: hop-by-hop fields, which PEP 3333 forbids applications to send.
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
     "transfer-encoding", "upgrade"}
)


# --- the response, as parts a producer hands to the connection -----------------------------


@dataclass(frozen=True)
class _Start:
    status: int
    reason: bytes
    headers: list[tuple[bytes, bytes]]


@dataclass(frozen=True)
class _Body:
    data: bytes


class _End:
    pass


class _Abort:
    """The application failed after its headers were sent: the only honest end is a close."""


Part = Union[_Start, _Body, _End, _Abort]
END, ABORT = _End(), _Abort()


def _refuse_hop_by_hop(headers: list[tuple[str, str]]) -> None:
    """Raise ValueError if an application's headers name a hop-by-hop field (RFC 9110 §7.6.1)."""
    hop_by_hop = [name for name, _ in headers if name.lower() in HOP_BY_HOP]
    if hop_by_hop:
        raise ValueError(f"PEP 3333: hop-by-hop headers are the server's, not the application's: {', '.join(hop_by_hop)}")


def _status_part(status: str, headers: list[tuple[str, str]]) -> _Start:
    """The response's start as bytes: status and headers encoded as latin-1.

    PEP 3333: native strings "must still be translatable to bytes via the Latin-1 encoding", and
    "only the lower 8 bits may be used" (so "é" goes out as the one byte 0xE9).

    Raises:
        ValueError: a hop-by-hop header (PEP 3333: a server "should consider it a fatal error for
            an application to attempt sending them, and raise an error if they are supplied to
            start_response()"), or a status or header outside latin-1.
    """
    _refuse_hop_by_hop(headers)
    code_text, _, reason = status.partition(" ")
    try:
        fields = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]
        return _Start(int(code_text), reason.encode("latin-1"), fields)
    except UnicodeEncodeError as exc:
        raise ValueError(f"PEP 3333: status and headers must be latin-1 characters ({exc})") from None


def _plain_response(status: int, message: str) -> list[Part]:
    body = f"{status} {http.HTTPStatus(status).phrase}: {message}\n".encode("utf-8", "replace")
    headers = [(b"Content-Type", b"text/plain; charset=utf-8"), (b"Content-Length", b"%d" % len(body))]
    return [_Start(status, http.HTTPStatus(status).phrase.encode(), headers), _Body(body), END]


def produce_response(application: WsgiApplication, environ: dict) -> Iterator[list[Part]]:
    """Run ``application`` per PEP 3333 and yield the response lazily, as batches of parts.

    A batch holds the parts that are ready together: when the application returns a sequence
    (a list, as most do), the whole response is one batch, so a pool worker hands it over
    with a single wake; a streamed body comes one chunk per batch, as the iterable yields it.
    Headers are yielded with the first non-empty body chunk (or at the end): PEP 3333 lets an
    application call ``start_response`` again with ``exc_info`` until then. An exception
    before that becomes a 500; after it, an abort. The iterable's ``close()`` is called in
    every case, including when the consumer stops early (``GeneratorExit``).
    """
    started: list[_Start] = []
    called: list[bool] = []
    headers_sent = False
    written: list[bytes] = []

    def write(data: bytes) -> None:
        if not started:
            raise AssertionError("write() before start_response()")
        written.append(bytes(data))

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable:
        if exc_info is not None:
            try:
                if headers_sent:
                    # PEP 3333: "if exc_info is provided, and the HTTP headers have already been
                    # sent, start_response must raise an error, and should re-raise using the
                    # exc_info tuple."
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif called:
            # PEP 3333: a fatal error "if start_response has already been called within the
            # current invocation of the application. This includes the case where the first
            # call to start_response raised an error."
            raise AssertionError("start_response() called twice without exc_info")
        called.append(True)
        if type(status) is not str or not all(type(n) is str and type(v) is str for n, v in headers):
            raise TypeError("PEP 3333: status and headers must be native strings")
        started[:] = [_status_part(status, headers)]
        return write

    result: Iterable[bytes] | None = None
    batch: list[Part] = []
    try:
        result = application(environ, start_response)
        whole = isinstance(result, (list, tuple))  # every chunk is already there
        if not whole:
            chunks: Iterable[bytes] = _with_written(result, written)
        elif written:  # write() was called before the application returned its sequence
            chunks = [*written, *result]
        else:
            chunks = result
        for chunk in chunks:
            if not chunk:
                continue
            if not headers_sent:
                if not started:
                    raise AssertionError("the application returned a body before start_response()")
                headers_sent = True
                batch.append(started[0])
            batch.append(_Body(bytes(chunk)))
            if not whole:
                yield batch
                batch = []
        if not headers_sent:
            if not started:
                raise AssertionError("the application never called start_response()")
            headers_sent = True
            batch.append(started[0])
        batch.append(END)
        yield batch
    except GeneratorExit:
        raise
    except Exception:
        log.exception("the WSGI application failed")
        if headers_sent:
            yield [*batch, ABORT]
        else:
            yield _plain_response(500, "the application failed")
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            try:
                close()
            except Exception:
                log.exception("the WSGI iterable's close() failed")


def _respond_to(
    application: WsgiApplication, request: h11.Request, body: bytes, context: ConnectionContext
) -> Iterator[list[Part]]:
    """:func:`produce_response` for a request whose environ is built when the producer first
    runs: on an event loop, by the pool worker, so that the loop goes back to its other
    connections sooner (measured under wrk, one core: ~3 % more requests per second, and a
    context switch fewer per request)."""
    try:
        environ = build_environ(request, body, context)
    except Exception:
        log.exception("building the WSGI environ failed")
        yield _plain_response(500, "the request could not be handed to the application")
        return
    yield from produce_response(application, environ)


def _with_written(result: Iterable[bytes], written: list[bytes]) -> Iterator[bytes]:
    """The write() callable's output, in order, before each piece of the iterable's."""
    yield from _drain(written)
    for chunk in result:
        yield from _drain(written)
        yield chunk
    yield from _drain(written)


def _drain(written: list[bytes]) -> Iterator[bytes]:
    while written:
        yield written.pop(0)


# --- where the application runs ---------------------------------------------------------


class _InlineRun:
    """The producer advanced on the connection's own thread, a batch when output runs low."""

    def __init__(self, batches: Iterator[list[Part]]) -> None:
        self._batches = batches

    def next_batch(self) -> list[Part] | None:
        return next(self._batches, None)

    def cancel(self) -> None:
        self._batches.close()  # runs the producer's finally: the iterable's close()


class _WorkerPool:
    """A fixed number of daemon threads taking jobs from one queue, made per process.

    Not concurrent.futures.ThreadPoolExecutor: its Future (a Condition, a lock) and its
    per-submit thread bookkeeping cost more than a small request's whole application call,
    and nothing here waits on a result. A job's exceptions are its own business (the
    producer catches the application's).

    With ``batch_scheduling`` the workers run under Linux's ``SCHED_BATCH`` policy (sched(7):
    the scheduler "will apply a small scheduling penalty with respect to wakeup behavior"; no
    privilege needed to ask for it). A job's wake would otherwise preempt the loop's thread at
    once, which still holds the GIL, so the worker can only go back to sleep, and the two
    threads trade the core back and forth: measured under wrk at 50 connections on one core,
    7.2 context switches per request. As a batch thread the worker runs when the loop waits or
    its slice ends, and finds the GIL free: 1.6 switches per request, ~20 % more requests per
    second, p99 down by a third (uvloop, selectors). CFS still shares the core fairly, so a
    worker is delayed, never starved. Where the policy is missing or refused, the workers run
    as before.

    Not for a process that is one of several loop processes (``multiprocess`` runners): there
    the other processes' loops, woken as their clients send, also come before the batch
    workers, and the wait adds up (measured on ``fd-passing``, two worker processes on one
    core: p99 8 -> 38-67 ms).
    """

    def __init__(self, size: int, *, batch_scheduling: bool = False) -> None:
        self._batch_scheduling = batch_scheduling
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._serve, name=f"wsgi-worker-{n}", daemon=True) for n in range(size)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, job: Callable[[], None]) -> None:
        self._jobs.put(job)

    def _serve(self) -> None:
        if self._batch_scheduling:
            _run_as_batch_work()
        while True:
            job = self._jobs.get()
            try:
                job()
            except Exception:
                log.exception("a gateway worker's job failed")


def _run_as_batch_work() -> None:
    """Put the calling thread under ``SCHED_BATCH`` where the system has it (see _WorkerPool)."""
    policy = getattr(os, "SCHED_BATCH", None)
    if policy is None:
        return
    try:
        os.sched_setscheduler(0, policy, os.sched_param(0))  # 0: this thread, on Linux
    except OSError as exc:  # a seccomp profile or an RLIMIT_NICE that says no
        log.debug("worker thread left at the default scheduling policy: %r", exc)


_pool_lock = threading.Lock()
_pool: _WorkerPool | None = None


def _worker_pool(batch_scheduling: bool = False) -> _WorkerPool:
    """This process's worker pool, made on first use (``batch_scheduling`` as the first user
    asks: every connection of a process is served by the same runner).

    A pool inherited through fork() is dead (its threads stayed in the parent): the child
    forgets it in an at-fork hook, so that the path every request takes is one global read,
    not a lock and a getpid() system call (a profile under wrk put 7 % of the loop's samples
    there).
    """
    global _pool
    pool = _pool
    if pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = _WorkerPool(WORKER_THREADS, batch_scheduling=batch_scheduling)
            pool = _pool
    return pool


def _forget_the_parent_s_pool() -> None:
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_the_parent_s_pool)


class _PooledRun:
    """The producer run by a pool worker; its batches of parts handed to the connection's thread.

    Per request this costs one job on the pool's queue and, for a response whose application
    returned a sequence, one wake: the worker appends the response's one batch to a deque
    (atomic under the GIL) and wakes the connection's runner only when no wake is already
    pending, and the runner, clearing that flag before it drains, takes every batch there is.

    Back-pressure: the worker blocks while ``QUEUED_BATCHES`` batches wait. Only a body streamed
    faster than the socket drains ever fills the deque, so the common response takes no lock
    and makes none: the ``_room`` event is made the first time the deque is full (building a
    threading.Event per request was 4 % of the loop's time under wrk), and then touched only
    when the worker waits (it clears it, looks again, then waits) and when the runner takes a
    batch while it is clear. The runner reads ``_room`` after taking its batch, and the worker
    publishes the event before looking again, so one of the two always sees the other.
    """

    def __init__(
        self, batches: Iterator[list[Part]], wake: Callable[[], None], *, batch_scheduling: bool = False
    ) -> None:
        self._ready: collections.deque[list[Part]] = collections.deque()
        self._room: threading.Event | None = None
        self._cancelled = False
        self._wake_pending = False
        self._wake = wake
        _worker_pool(batch_scheduling).submit(lambda: self._work(batches))

    def _work(self, batches: Iterator[list[Part]]) -> None:
        ready = self._ready
        try:
            for batch in batches:
                while len(ready) >= QUEUED_BATCHES:  # the socket lags
                    room = self._room
                    if room is None:
                        room = self._room = threading.Event()
                    room.clear()
                    if len(ready) < QUEUED_BATCHES:  # taken between the test and the clear
                        break
                    if self._cancelled:
                        return
                    room.wait(0.5)
                if self._cancelled:
                    return
                ready.append(batch)
                if not self._wake_pending:
                    self._wake_pending = True
                    self._wake()
        finally:
            batches.close()

    def next_batch(self) -> list[Part] | None:
        self._wake_pending = False  # before draining: a batch appended after this wakes again
        ready = self._ready
        if not ready:  # the common first pull, before the worker has answered: no exception
            return None
        batch = ready.popleft()  # only this thread takes: what it saw is still there
        room = self._room
        if room is not None and not room.is_set():  # the worker may be waiting for room
            room.set()
        return batch

    def cancel(self) -> None:
        self._cancelled = True


# --- the gateway ------------------------------------------------------------------------


class WsgiGatewayProtocol:
    """One HTTP/1.1 connection carrying a WSGI application.

    Args:
        application: the WSGI application.
        clock: Unix time, for the request deadline.
    """

    def __init__(self, application: WsgiApplication, clock: Callable[[], float] = time.time) -> None:
        self._application = application
        self._clock = clock
        self._h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=H11_BUFFER_BYTES)
        self._output = OutputQueue()
        self._context: ConnectionContext | None = None
        self._wake: Callable[[], None] | None = None
        self._request: h11.Request | None = None
        self._body = bytearray()
        self._request_started: float | None = None
        self._run: _InlineRun | _PooledRun | None = None
        self._unsent: list[Part] | None = None  # the rest of a batch that output had no room for
        self._response_is_head = False
        self._closing = False
        self._held = 0  # bytes read while the current response is in progress

    # --- what the runner asks -----------------------------------------------------------

    @property
    def wants_input(self) -> bool:
        if self._closing:
            return False
        if self._run is not None:  # answering: read on, a bounded amount, if they may go on
            return self._held < PIPELINE_HOLD_BYTES and self._h11.their_state is h11.DONE
        return self._h11.their_state in (h11.IDLE, h11.SEND_BODY)

    @property
    def wants_close(self) -> bool:
        return self._run is None and (
            self._closing or self._h11.our_state in (h11.MUST_CLOSE, h11.CLOSED, h11.ERROR)
        )

    def connection_made(self, context: ConnectionContext) -> None:
        self._context = context
        if context.runner.event_loop:
            self._wake = context.make_waker()

    def data_received(self, data: bytes) -> None:
        if self._run is not None:  # a pipelined request, held until this response is done
            self._held += len(data)
            self._h11.receive_data(data)
            return
        if self._request_started is None and self._h11.their_state is h11.IDLE:
            self._request_started = self._clock()
        self._h11.receive_data(data)
        self._process()

    def eof_received(self) -> None:
        self._h11.receive_data(b"")
        self._process()

    def pull_output(self, max_bytes: int) -> Chunk:
        output, run = self._output, self._run
        while run is not None and output.pending_bytes < max_bytes:
            parts = self._unsent or run.next_batch()
            if not parts:
                break
            self._unsent = None
            last = len(parts) - 1
            for index, part in enumerate(parts):
                self._send_part(part)
                if self._run is not run:  # the exchange is over (its end, an abort, a framing error)
                    break
                if index < last and output.pending_bytes >= max_bytes:  # the rest when there is room
                    self._unsent = parts[index + 1 :]
                    break
            run = self._run  # a pipelined request may have started its own
        return output.pull(max_bytes)

    def connection_lost(self) -> None:
        if self._run is not None:
            self._run.cancel()
            self._run = None

    # --- requests -------------------------------------------------------------------------

    def _process(self) -> None:
        while self._run is None and not self._closing:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                self._refuse(exc.error_status_hint, str(exc))
                return
            if event is h11.NEED_DATA:
                self._check_deadline()
                return
            if event is h11.PAUSED:
                return
            # type(), not isinstance(): h11's events derive from abc.ABC, whose isinstance
            # goes through ABCMeta.__instancecheck__, several times per request.
            kind = type(event)
            if kind is h11.Request:
                self._begin(event)
            elif kind is h11.EndOfMessage:
                self._start_application()
            elif kind is h11.Data:
                self._body += event.data
                if len(self._body) > MAX_BODY_BYTES:
                    self._refuse(413, f"the body passed {MAX_BODY_BYTES} bytes")
            elif kind is h11.ConnectionClosed:
                self._closing = True

    def _begin(self, request: h11.Request) -> None:
        self._request = request
        self._body = bytearray()
        if len(request.target) > MAX_TARGET_BYTES:
            self._refuse(414, f"the target is {len(request.target)} bytes; the limit is {MAX_TARGET_BYTES}")
            return
        header_bytes, declared = 0, None  # one pass over the fields for both limits
        for name, value in request.headers.raw_items():
            header_bytes += len(name) + len(value) + 4
            if declared is None and len(name) == 14 and name.lower() == b"content-length":
                declared = value
        if header_bytes > MAX_HEADER_BYTES:
            self._refuse(431, f"the header fields are {header_bytes} bytes; the limit is {MAX_HEADER_BYTES}")
            return
        if declared is not None and int(declared) > MAX_BODY_BYTES:
            self._refuse(413, f"a body of {int(declared)} bytes was declared; the limit is {MAX_BODY_BYTES}")
            return
        if self._h11.they_are_waiting_for_100_continue:
            self._output.append(self._h11.send(h11.InformationalResponse(status_code=100, headers=[])))

    def _check_deadline(self) -> None:
        started = self._request_started
        if started is not None and self._clock() - started > REQUEST_DEADLINE_S:
            self._refuse(408, f"the request was not complete {REQUEST_DEADLINE_S:g} s after its first byte")

    def _refuse(self, status: int, message: str) -> None:
        """Answer ``status`` and close: the connection's framing can no longer be trusted."""
        log.debug("refusing a request: %d %s", status, message)
        self._closing = True
        if self._h11.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return  # a response is already under way; closing is all that is left
        for part in _plain_response(status, message):
            self._send_part(part, close=True)

    def _start_application(self) -> None:
        assert self._request is not None and self._context is not None
        self._response_is_head = self._request.method == b"HEAD"
        batches = _respond_to(self._application, self._request, bytes(self._body), self._context)
        if self._wake is not None:
            # One loop process per core: its pool's workers as batch work (see _WorkerPool).
            batch_scheduling = not self._context.runner.multiprocess
            self._run = _PooledRun(batches, self._wake, batch_scheduling=batch_scheduling)
        else:
            self._run = _InlineRun(batches)
        self._request_started = None

    # --- responses ------------------------------------------------------------------------

    def _send_part(self, part: Part, *, close: bool = False) -> None:
        try:
            kind = type(part)
            if kind is _Start:
                self._output.append(self._h11.send(self._response_event(part, close)))
            elif kind is _Body:
                if not self._response_is_head:
                    self._output.append(self._h11.send(h11.Data(data=part.data)))
            elif part is END:
                self._output.append(self._h11.send(h11.EndOfMessage()))
                self._finish_exchange()
            else:  # ABORT
                self._closing = True
                self._finish_exchange()
        except h11.LocalProtocolError as exc:  # e.g. more body than the declared Content-Length
            log.warning("the response broke HTTP/1.1 framing (%s): closing the connection", exc)
            self._closing = True
            self._finish_exchange()

    def _response_event(self, part: _Start, close: bool) -> h11.Response:
        """h11's Response for ``part``, with :meth:`_server_headers` first (the application's
        own Date, if any, gives way to ours) and ``Connection: close`` when closing.

        h11 validates every field of a Response as it is built (a regular expression per name
        and per value: about 5 µs for a small response, against ~45 µs for h11's whole
        request/response cycle); an application answers with the same status and headers
        request after request, so the validated event is reused, keyed by everything that
        went into it, this second's Date included (h11 never mutates an event it sends).
        """
        date = http_date(self._clock())
        key = (type(self), part.status, part.reason, date, close, tuple(part.headers))
        response = _RESPONSE_EVENTS.get(key)
        if response is None:
            headers = self._server_headers(date)
            headers += [field for field in part.headers if field[0].lower() != b"date"]
            if close:
                headers.append((b"Connection", b"close"))
            response = h11.Response(status_code=part.status, headers=headers, reason=part.reason)
            if len(_RESPONSE_EVENTS) >= RESPONSE_EVENTS_KEPT:
                _RESPONSE_EVENTS.clear()  # a new second, or many distinct responses: start again
            _RESPONSE_EVENTS[key] = response
        return response

    def _server_headers(self, date: bytes) -> list[tuple[bytes, bytes]]:
        """Headers the gateway adds to every response, given this second's IMF-fixdate.

        RFC 9110 §6.6.1: "An origin server with a clock (as defined in Section 5.6.7) MUST
        generate a Date header field in all 2xx (Successful) responses to requests for which
        the server is the origin (and MAY do so elsewhere)."
        """
        return [(b"Date", date)]

    def _finish_exchange(self) -> None:
        self._unsent = None
        if self._run is not None:
            self._run.cancel()
            self._run = None
        self._response_is_head = False
        if self._h11.our_state is h11.DONE and self._h11.their_state is h11.DONE:
            self._h11.start_next_cycle()
            if self._held:  # a pipelined request was held: its deadline runs from now
                self._held = 0
                self._request_started = self._clock()
            # A pipelined request (or the peer's EOF) may already be in h11's buffer; asking
            # h11 for its next event only to hear NEED_DATA costs more than looking.
            buffered, closed = self._h11.trailing_data
            if buffered or closed:
                self._process()


# Validated h11 Response events by (gateway class, status, reason, Date, close, the
# application's headers), shared by every connection of the process (a dict's get and set are
# atomic under the GIL).
RESPONSE_EVENTS_KEPT = 64
_RESPONSE_EVENTS: dict[tuple[Any, ...], h11.Response] = {}


@functools.lru_cache(maxsize=4)
def _http_date_of_second(second: int) -> bytes:
    return formatdate(second, usegmt=True).encode("ascii")


def http_date(unix_time: float) -> bytes:
    """RFC 9110 §5.6.7's IMF-fixdate for ``unix_time``, made once per second (as gunicorn and
    waitress do: formatting it for every response costs more than the rest of a small one's
    headers)."""
    return _http_date_of_second(int(unix_time))


def _fields(request: h11.Request) -> list[tuple[bytes, bytes]]:
    """``request``'s header fields, names lowercased, as a list.

    Not ``iter(request.headers)``: h11's Headers is a Sequence whose iteration is the generic
    one, a Python ``__getitem__`` call per field and an IndexError to end (a profile under
    wrk put 3 % of the loop's samples there); ``raw_items()`` is one list comprehension.
    """
    return [(name.lower(), value) for name, value in request.headers.raw_items()]


def build_environ(request: h11.Request, body: bytes, context: ConnectionContext) -> dict[str, Any]:
    """The PEP 3333 environ for ``request``.

    PATH_INFO is the %-decoded path as "bytes as str" (latin-1), as PEP 3333 asks of a
    native-string environ; QUERY_STRING is left raw. Header fields become ``HTTP_*`` with
    repeated fields joined by ", " (RFC 9110 §5.3); fields with an underscore are dropped, so
    that ``X_Foo`` cannot pass itself off as ``X-Foo`` (both would be ``HTTP_X_FOO``).
    Content-Type and Content-Length become CONTENT_TYPE and CONTENT_LENGTH, never HTTP_*.
    """
    target = request.target
    if target.startswith((b"http://", b"https://")):  # absolute-form: keep the path
        target = b"/" + target.split(b"/", 3)[3] if target.count(b"/") >= 3 else b"/"
    path, _, query = target.partition(b"?")
    local_host, local_port = context.local[:2]
    peer_host, peer_port = context.peer[:2]
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method.decode("ascii"),
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
        "QUERY_STRING": query.decode("latin-1"),
        "SERVER_NAME": str(local_host),
        "SERVER_PORT": str(local_port),
        "SERVER_PROTOCOL": "HTTP/" + request.http_version.decode("ascii"),
        "REMOTE_ADDR": str(peer_host),
        "REMOTE_PORT": str(peer_port),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "https" if context.tls is not None else "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": context.runner.multithread or context.runner.event_loop,
        "wsgi.multiprocess": context.runner.multiprocess,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,
    }
    for name, value in _fields(request):
        if b"_" in name:
            continue
        text = value.decode("latin-1")
        if name == b"content-type":
            environ["CONTENT_TYPE"] = text
        elif name == b"content-length":
            environ["CONTENT_LENGTH"] = str(len(body))
        else:
            key = "HTTP_" + name.decode("latin-1").upper().replace("-", "_")
            environ[key] = f"{environ[key]}, {text}" if key in environ else text
    if "CONTENT_LENGTH" not in environ and body:
        environ["CONTENT_LENGTH"] = str(len(body))  # a chunked body, delivered whole
    return environ
