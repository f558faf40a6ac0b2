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

Importing this module installs the locust extension (:mod:`harness.loadgen.plugin`).
"""

from __future__ import annotations

import time
from typing import Any, Callable

from locust import User

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
