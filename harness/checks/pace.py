"""The pace of a case's exchanges, and what a spent budget means given that pace.

A case's budget (``--case-timeout``) can run out for three different reasons, and the
verdict must tell them apart:

- the target said nothing (or nothing more) for the stall limit: not this module's business,
  the conversation loop reports a stall, and the case is FAILED;
- the target **drips**: every reply starts, then trickles at a few bytes a second (a tarpit,
  a throttle). The bytes are right, but no client can use the service, and a client with
  only a "nothing moved for N s" limit would wait for days. Judged FAILED, with the rate;
- the target is **slow but correct**: each reply comes whole and right, only late (an inetd
  that accepts one connection a second under load). Nothing wrong was seen, so it is never
  FAILED: the case raises :class:`~harness.verdicts.TargetTooSlow` (verdict ERROR: not
  judged, not blamed), whose ``actual`` gives the pace measured and the ``--case-timeout``
  that would let the case finish.

Theory of operation: every :class:`~harness.checks.endpoint.Deadline` owns a
:class:`PaceLog`. The conversation loop (:func:`harness.checks.stream.converse`) records one
:class:`Exchange` per request/reply it drove: when it began, when its first and last reply
bytes arrived, how many bytes, and whether it completed. When the budget is found
spent — at a connect, or by a conversation still in flight — the checker calls
:func:`spent_budget_failure`, which reads the log:

1. the replies' delivery rate (bytes after each reply's first arrival, over the time from
   its first to its last arrival) is under :data:`DRIP_FLOOR_BYTES_PER_S`, over at least
   :data:`DRIP_MIN_DELIVERY_S` of delivery: a drip, FAILED;
2. otherwise, at least one exchange completed: slow, :class:`TargetTooSlow`;
3. otherwise (no complete reply in the whole budget): the plain timeout, FAILED.

The raw HTTP client of the suites (:class:`harness.checks.http.HttpConnection`: the REST
application, the WSGI probe, every XML-RPC call) records one exchange per response it reads,
complete once h11 has framed the whole message; the ``multiprocessing.connection`` peer
(:class:`harness.checks.mpconn.FramedPeer`) one per frame it awaits. Checkers that use none
of these (whole array frames through :mod:`harness.clients.arrays`, datagrams) record
nothing, so for them a spent budget stays a timeout (rule 3): their pace is not measured yet.

"Nothing wrong was seen" is exact: a stream conversation compares each byte as it arrives,
and an HTTP response that h11 cannot frame fails at once; a checker that judges several
responses together judges them after the last, so a case whose budget ran out before then
had seen no wrong byte.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from harness.verdicts import ConformanceFailure, TargetTooSlow

# A reply that, once started, arrives at under 1 KiB/s is throttled on purpose: loopback moves
# megabytes a second even from a loaded interpreter, and the services' replies are either one
# segment (time, daytime: one arrival, so no rate at all) or a stream the server writes as
# fast as it reads. 1 KiB/s is 200 times a tarpit's byte every 0.2 s, and a thousand times
# under anything a working server does here.
DRIP_FLOOR_BYTES_PER_S = 1024.0

# At least this much delivery time before a rate is believed: two arrivals 10 ms apart under
# a scheduler hiccup are not a drip.
DRIP_MIN_DELIVERY_S = 1.0

# How a slow target's actual begins: readers of a results file (the third-party tests) tell a
# slow ERROR from a harness ERROR by it.
SLOW_ACTUAL_PREFIX = "slow, not wrong: "

# The --case-timeout advised for a slow target: the pace measured times what the case needs,
# with this margin (the pace of a loaded server varies), rounded up to RECOMMENDATION_STEP_S.
RECOMMENDATION_MARGIN = 1.5
RECOMMENDATION_STEP_S = 10.0


@dataclass
class Exchange:
    """One request and its reply, as the conversation loop saw them.

    Attributes:
        started_s: when the exchange began (``time.monotonic()`` seconds).
        arrivals: ``(time.monotonic() seconds, bytes in that arrival)`` per recv; only
            differences of these times are ever used.
        complete: the whole reply arrived (and, where the checker compares as bytes arrive,
            right).
    """

    started_s: float
    arrivals: list[tuple[float, int]] = field(default_factory=list)
    complete: bool = False

    @property
    def bytes_received(self) -> int:
        return sum(count for _, count in self.arrivals)

    @property
    def delivery_s(self) -> float:
        """Seconds from the reply's first arrival to its last (0 for a reply in one arrival)."""
        return self.arrivals[-1][0] - self.arrivals[0][0] if self.arrivals else 0.0

    @property
    def delivered_after_first(self) -> int:
        """Bytes that arrived after the first arrival: what the delivery time carried."""
        return self.bytes_received - self.arrivals[0][1] if self.arrivals else 0


@dataclass
class PaceLog:
    """A case's exchanges, and how many it needs in all (when its checker says so).

    Attributes:
        exchanges: every exchange recorded, in order.
        planned: how many exchanges the case needs (``plan``), or None if unknown.
    """

    exchanges: list[Exchange] = field(default_factory=list)
    planned: int | None = None

    def plan(self, count: int) -> None:
        """Say how many exchanges the case needs (so a slow verdict can advise a budget)."""
        self.planned = count

    def record(self, exchange: Exchange) -> None:
        self.exchanges.append(exchange)

    @property
    def completed(self) -> int:
        return sum(1 for exchange in self.exchanges if exchange.complete)

    def delivery_rate(self) -> tuple[float, int, float] | None:
        """``(bytes per second, bytes, seconds)`` of the replies' delivery, or None if no
        reply took :data:`DRIP_MIN_DELIVERY_S` to deliver."""
        seconds = sum(exchange.delivery_s for exchange in self.exchanges)
        if seconds < DRIP_MIN_DELIVERY_S:
            return None
        delivered = sum(exchange.delivered_after_first for exchange in self.exchanges)
        return delivered / seconds, delivered, seconds


def advised_case_timeout(seconds_per_exchange: float, planned: int) -> float:
    """The ``--case-timeout`` that lets ``planned`` exchanges finish at the pace measured."""
    needed = seconds_per_exchange * planned * RECOMMENDATION_MARGIN
    return max(RECOMMENDATION_STEP_S, math.ceil(needed / RECOMMENDATION_STEP_S) * RECOMMENDATION_STEP_S)


def spent_budget_failure(expected: str, actual: str, budget_s: float, elapsed_s: float, pace: PaceLog) -> ConformanceFailure:
    """What a case whose budget is spent amounts to, given the pace of its exchanges.

    Args:
        expected: the case's "expected" wording.
        actual: the timeout as observed (``timeout (after 30 s, ...; the case's budget ...)``).
        budget_s: the case's budget (``--case-timeout``).
        elapsed_s: seconds since the case's deadline started.
        pace: the case's exchanges.

    Returns:
        A :class:`ConformanceFailure` (FAILED) for a drip or a target with no complete reply,
        else a :class:`TargetTooSlow` (ERROR) that names the pace and the budget to give.
    """
    rate = pace.delivery_rate()
    if rate is not None and rate[0] < DRIP_FLOOR_BYTES_PER_S:
        per_second, delivered, seconds = rate
        return ConformanceFailure(
            expected,
            f"{actual}; the replies dripped: {delivered} bytes in {seconds:.1f} s of delivery "
            f"({per_second:.3g} B/s, under the floor of {DRIP_FLOOR_BYTES_PER_S:g} B/s a working "
            "server clears on loopback)",
        )
    completed = pace.completed
    if completed == 0:
        return ConformanceFailure(expected, actual)
    seconds_per_exchange = elapsed_s / completed
    replies = "reply" if completed == 1 else "replies"
    needed = f" of the {pace.planned} the case needs" if pace.planned is not None else ""
    if pace.planned is not None:
        advice = f"--case-timeout {advised_case_timeout(seconds_per_exchange, pace.planned):g} would let it finish"
    else:
        advice = f"a larger --case-timeout (e.g. {2 * budget_s:g}) may let it finish"
    return TargetTooSlow(
        expected,
        f"{SLOW_ACTUAL_PREFIX}{completed} complete {replies}{needed} in {elapsed_s:.1f} s, one per "
        f"{seconds_per_exchange:.3g} s, when the case's budget of {budget_s:g} s (--case-timeout) "
        f"ran out; nothing wrong was seen; {advice} (at the end: {actual})",
    )
