"""The user layer every wirecheck locustfile builds on: timing, pacing, the request event.

A locustfile in loadtests/ has three layers (locust's own recommendation for non-HTTP
protocols, made uniform):

1. a **client** that owns one socket, performs one request, checks the reply, times it and
   reports it through :func:`report_request` (locust's ``request`` event: request type,
   name, response time in ms as a float with µs resolution, response length, exception);
2. an **abstract user** (``abstract = True``) that builds the client in ``on_start`` and
   closes it in ``on_stop``;
3. a **concrete user** with only ``host``, tasks and ``wait_time``.

This module provides what all of them share:

- :class:`PacingMixin` and :func:`paced`: the closed/open loop switch. Closed loop (default):
  each user sends its next request the moment the previous reply arrives, the maximum-rate
  measurement; its latency is measured from the actual send, so a server that stalls simply
  receives fewer requests, and the stall is missing from the percentiles (coordinated
  omission). Open loop (``--open-loop-rate R``): each user has a fixed schedule of R sends
  per second; a request's latency is measured from its *intended* send time, so when a reply
  is late the following requests, sent late, carry the delay they suffered (wrk2's
  correction). The mixin has no base class, so it combines with any locust user:
  ``class RestUserBase(PacingMixin, FastHttpUser)`` for the HTTP users to come (FastHttpUser
  already fires the request event, so the µs histograms see its requests unchanged).
- :class:`WirecheckUser`: the abstract base of the raw-socket users (pacing, options,
  the loopback target).
- :class:`RequesterClient` and :class:`RequesterUser`: the client and abstract user of every
  raw-socket protocol. The protocol is a *requester* (harness/clients/requesters.py) from the
  protocol's one client module, the same the plain threaded client and the scripts use; this
  layer adds only timing, reporting, and the watchdog that bounds every wait. A concrete
  user names its requester factory, request type and request name, and nothing else.

Importing this module installs the locust extension (:mod:`harness.loadgen.plugin`).
"""

from __future__ import annotations

import time
from typing import Any, Callable

from locust import User

from harness.clients.requesters import REQUEST_FAILURES, Requester, RequesterFactory, RequestOptions
from harness.loadgen import plugin
from harness.loadgen.pacing import Pacer
from harness.loadgen.recorder import ConnectionSlot
from harness.loadgen.targets import Target, parse_target

plugin.install()


class PacingMixin:
    """Gives a locust user ``self.pacer`` from ``--open-loop-rate``; use with :func:`paced`."""

    environment: Any
    _pacer: Pacer | None = None

    @property
    def pacer(self) -> Pacer:
        if self._pacer is None:
            self._pacer = Pacer(float(plugin.options_of(self.environment).open_loop_rate or 0.0))
        return self._pacer

    @property
    def loop_label(self) -> str:
        """``""`` in closed loop, `` [open-loop]`` otherwise: appended to request names, so that
        locust's tables never mix the two kinds of latency."""
        return " [open-loop]" if self.pacer.open_loop else ""


def paced() -> Callable[[Any], float]:
    """A ``wait_time`` for users with :class:`PacingMixin`: back to back in closed loop, on
    schedule in open loop."""

    def wait_time(user: Any) -> float:
        return user.pacer.delay()

    return wait_time


def report_request(
    environment: Any,
    *,
    request_type: str,
    name: str,
    started: float,
    response_length: int,
    exception: BaseException | None = None,
) -> float:
    """Fire locust's ``request`` event for a request that began at ``started``.

    Args:
        environment: the user's locust environment.
        request_type: e.g. ``tcp-echo``, ``udp-time``, ``tcp-connect``.
        name: what was asked, e.g. ``echo 64B``.
        started: ``time.perf_counter()`` at the send, or the intended send time (open loop).
        response_length: bytes received.
        exception: why the request failed, or None.

    Returns:
        The response time in ms (a float: µs resolution survives into our histograms, while
        locust's own statistics round it).
    """
    response_time_ms = (time.perf_counter() - started) * 1000.0
    environment.events.request.fire(
        request_type=request_type,
        name=name,
        response_time=response_time_ms,
        response_length=response_length,
        response=None,
        context={},
        exception=exception,
    )
    return response_time_ms


class WirecheckUser(PacingMixin, User):
    """Abstract base of the raw-socket users: options, target, connection slot.

    Subclasses set ``transport`` (``tcp``/``udp``) and build their client in ``on_start``.
    """

    abstract = True
    transport: str = "tcp"

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.options = plugin.options_of(environment)
        self.slot: ConnectionSlot = plugin.RECORDER.new_slot()

    @property
    def target(self) -> Target:
        """This user's loopback target (``--host`` or the class's ``host``).

        Raises:
            NonLoopbackTargetError, BadTargetError: the host is not a loopback HOST:PORT.
        """
        return parse_target(self.host or "", transport=self.transport)

    def on_stop(self) -> None:
        plugin.RECORDER.retire_slot(self.slot)


# After a failed connect or a refused request, pause this long before the next attempt: a
# refused connect costs microseconds, and without a pause a dead server would make a closed
# loop spin at full CPU and bury the report in identical failures.
RECONNECT_PAUSE_S = 0.1


class ReplyTimeoutError(TimeoutError):
    """No complete reply within the request timeout (a stalled or starving stream server)."""


class DatagramLostError(TimeoutError):
    """No reply within the request timeout: the request or the reply was lost (or is very late)."""


class RequesterClient:
    """One user's requester: each request timed, reported, and its wait watched.

    Args:
        environment: the locust environment whose request event is fired.
        target: a loopback endpoint.
        slot: the recorder's health record of this user's connection.
        factory: makes the protocol's requester (connects).
        options: payload size and connect timeout; replies are bounded by the watchdog
            (``plugin``), which calls the requester's ``interrupt``.
        request_type: the locust request type of the protocol's requests.
        connect_request_type: when set, a connect is a request of its own of this type
            (a TCP handshake); otherwise it is part of the first request (a UDP socket).
        timeout_error: what a reply the watchdog gave up on is reported as.

    Resource handling: owns its requester; :meth:`close` releases it, and every failure
    closes it before the next request makes a new one.
    """

    def __init__(
        self,
        environment: Any,
        target: Target,
        slot: ConnectionSlot,
        factory: RequesterFactory,
        *,
        options: RequestOptions,
        request_type: str,
        connect_request_type: str | None,
        timeout_error: type[TimeoutError],
    ) -> None:
        self.environment = environment
        self.target = target
        self.slot = slot
        self.factory = factory
        self.options = options
        self.request_type = request_type
        self.connect_request_type = connect_request_type
        self.timeout_error = timeout_error
        self.requester: Requester | None = None

    def _open(self) -> Requester:
        requester = self.factory(self.target.address, self.options)
        self.slot.wake = requester.interrupt
        self.requester = requester
        return requester

    def connect(self) -> bool:
        """Make the requester, reported as a ``connect_request_type`` request. Returns success.

        The requester's construction is the connect and, for an authenticated service, its
        handshake: a refused handshake (a ``RoundTripError``) fails this request like a
        refused connect.
        """
        assert self.connect_request_type is not None
        started = time.perf_counter()
        plugin.RECORDER.begin_wait(self.slot)
        try:
            self._open()
        except REQUEST_FAILURES as error:
            plugin.RECORDER.end_wait(self.slot, replied=False, timed_out=isinstance(error, TimeoutError))
            report_request(
                self.environment, request_type=self.connect_request_type, name="connect", started=started,
                response_length=0, exception=error,
            )
            time.sleep(RECONNECT_PAUSE_S)
            return False
        plugin.RECORDER.end_wait(self.slot, replied=False)
        report_request(
            self.environment, request_type=self.connect_request_type, name="connect", started=started,
            response_length=0,
        )
        return True

    def request(self, *, name: str, intended_start: float | None = None) -> None:
        """One checked request, reported under ``name``.

        Args:
            name: the locust name of the request.
            intended_start: the scheduled send time in open loop (latency is measured from it).
        """
        if self.requester is None and self.connect_request_type is not None and not self.connect():
            return
        sent_at = time.perf_counter()
        started = intended_start if intended_start is not None else sent_at
        plugin.RECORDER.begin_wait(self.slot)
        try:
            requester = self.requester or self._open()
            length = requester.request()
        except REQUEST_FAILURES as error:
            # A wait the watchdog ended is a timeout, whatever the socket said.
            failure: BaseException = (
                self.timeout_error(
                    f"expected a reply within {self.options.connect_timeout_s:g} s "
                    "/ actual: none (lost, or the server is stalled)"
                )
                if self.slot.expired
                else error
            )
            plugin.RECORDER.end_wait(self.slot, replied=False, timed_out=isinstance(failure, TimeoutError))
            report_request(
                self.environment, request_type=self.request_type, name=name, started=started,
                response_length=0, exception=failure,
            )
            self.close()
            if isinstance(error, ConnectionRefusedError):
                time.sleep(RECONNECT_PAUSE_S)
            return
        plugin.RECORDER.end_wait(self.slot, replied=True)
        report_request(
            self.environment, request_type=self.request_type, name=name, started=started,
            response_length=length,
        )

    def close(self) -> None:
        if self.requester is not None:
            try:
                self.requester.close()
            finally:
                self.requester = None


class RequesterUser(WirecheckUser):
    """Abstract user of one protocol: one connection, one checked request at a time.

    Subclasses set ``requester_factory`` (a ``staticmethod``), ``request_type``,
    ``request_label`` (``{payload_bytes}`` is replaced by ``--payload-bytes``) and, for a
    connection-oriented protocol, ``connect_request_type``.
    """

    abstract = True
    requester_factory: RequesterFactory
    request_type = "request"
    request_label = "request"
    connect_request_type: str | None = None
    timeout_error: type[TimeoutError] = ReplyTimeoutError

    def on_start(self) -> None:
        payload_bytes = int(self.options.payload_bytes)
        self.client = RequesterClient(
            self.environment,
            self.target,
            self.slot,
            type(self).requester_factory,
            options=RequestOptions(
                payload_bytes=payload_bytes,
                connect_timeout_s=float(self.options.request_timeout),
                reply_timeout_s=None,  # the watchdog bounds each wait
            ),
            request_type=self.request_type,
            connect_request_type=self.connect_request_type,
            timeout_error=self.timeout_error,
        )
        self.request_name = self.request_label.format(payload_bytes=payload_bytes) + self.loop_label
        if self.connect_request_type is not None:
            self.client.connect()

    def request_once(self) -> None:
        """One checked request of the protocol."""
        self.client.request(name=self.request_name, intended_start=self.pacer.take_slot())

    def on_stop(self) -> None:
        self.client.close()
        super().on_stop()
