"""What a load run observed, beyond locust's own statistics: µs latency and per-connection health.

:class:`LoadRecorder` is the plain-Python core of the locust extension in
:mod:`harness.loadgen.plugin` (kept free of locust and gevent so that it is unit-tested
directly). It holds

- a :class:`~harness.loadgen.histogram.LatencyHistogram` per ``(request_type, name)``, fed
  from locust's ``request`` event, so it sees every request of every user, including
  FastHttpUser's when HTTP users arrive;
- failure counts per request and per kind of exception;
- one :class:`ConnectionSlot` per load-generating connection (a locust user), which the
  client layer tells when it starts and stops waiting for the server. That is how stalls are
  counted *per connection*, not only as a request rate: a single-threaded server under 50
  persistent connections serves one at full speed and starves 49, and the rate alone hides
  it (the starved 49 show up here as stalled, timed-out or starved connections).

A slot is *stalled* in a window if any wait for the server that ended in the window lasted
longer than the stall threshold, or a wait still open at the window's end had already lasted
that long; *timed out* if a request on it timed out in the window; *starved* if it got no
reply at all in the window. Slots are counted, not connections: a user that reconnects after
a timeout keeps its slot, so the counts are bounded by the number of users.

The measurement window: recording is on from the start unless a window is opened
explicitly (:meth:`open_window` resets everything and starts counting, :meth:`close_window`
freezes the figures), which is how warm-up is excluded.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from harness.loadgen.histogram import LatencyHistogram

Clock = Callable[[], float]

# A connection whose server has not answered for this long is stalled. On this project's
# 2-core loopback machine a healthy server answers an echo in well under 1 ms, and in under
# ~150 ms even with 1000 connections queued on one core (closed loop: 1000 / rate); 500 ms
# is several times that, and far below the request timeout, so a stall is seen before it
# becomes a failure.
DEFAULT_STALL_THRESHOLD_S = 0.5

# How often the watchdog looks for waits past the request timeout: a timeout fires at most
# this late, which is small next to a timeout of seconds.
WATCHDOG_INTERVAL_S = 0.05


@dataclass
class ConnectionSlot:
    """One load-generating connection's health during the window.

    Attributes:
        slot_id: unique within the process.
        waiting_since: clock time at which the current wait began, or None when not waiting.
        stalled: a wait in the window exceeded the stall threshold.
        timed_out: a request timed out in the window.
        replies: replies received in the window.
        longest_wait_s: the longest completed wait in the window.
        wake: called by the watchdog when the current wait has exceeded the request timeout
            (the client shuts its socket down, which ends the blocked receive at once).
        expired: set by the watchdog before it calls ``wake``; the client reports a timeout.
    """

    slot_id: int
    waiting_since: float | None = None
    wake: Callable[[], None] | None = None
    expired: bool = False
    retired: bool = False
    stalled: bool = False
    timed_out: bool = False
    replies: int = 0
    longest_wait_s: float = 0.0


@dataclass
class RequestTally:
    """Histogram and failure count of one ``(request_type, name)``."""

    histogram: LatencyHistogram = field(default_factory=LatencyHistogram)
    failures: int = 0


class LoadRecorder:
    """Latency histograms, failures and connection health for one process of a load run.

    Args:
        stall_threshold_s: a wait longer than this marks the connection stalled.
        clock: monotonic seconds (``time.perf_counter``; tests pass a fake).
    """

    def __init__(
        self, stall_threshold_s: float = DEFAULT_STALL_THRESHOLD_S, clock: Clock = time.perf_counter
    ) -> None:
        self.stall_threshold_s = stall_threshold_s
        self.clock = clock
        self.tallies: dict[tuple[str, str], RequestTally] = {}
        self.failure_kinds: Counter[str] = Counter()
        self.slots: dict[int, ConnectionSlot] = {}
        self._slot_ids = itertools.count(1)
        self.window_opened_at: float | None = None
        self.window_closed_at: float | None = None
        self.recording = True

    # --- fed by the client layer ---------------------------------------------------------

    def new_slot(self) -> ConnectionSlot:
        slot = ConnectionSlot(next(self._slot_ids))
        self.slots[slot.slot_id] = slot
        return slot

    def begin_wait(self, slot: ConnectionSlot) -> None:
        """The client sent a request (or started a connect) and now waits for the server."""
        slot.expired = False
        slot.waiting_since = self.clock()

    def end_wait(self, slot: ConnectionSlot, *, replied: bool, timed_out: bool = False) -> None:
        """The wait ended: with a reply, a timeout, or another failure (neither flag)."""
        started = slot.waiting_since
        slot.waiting_since = None
        if not self.recording or started is None:
            return
        waited = self.clock() - started
        if self.window_opened_at is not None and started < self.window_opened_at:
            # Only the part of the wait inside the window counts against this window.
            waited = self.clock() - self.window_opened_at
        if replied:
            slot.replies += 1
        slot.longest_wait_s = max(slot.longest_wait_s, waited)
        if waited > self.stall_threshold_s or timed_out:
            slot.stalled = True
        if timed_out:
            slot.timed_out = True

    def retire_slot(self, slot: ConnectionSlot) -> None:
        """The user stopped; its slot keeps counting in this window's figures."""
        slot.waiting_since = None
        slot.wake = None
        slot.retired = True

    def expire_overdue(self, timeout_s: float) -> int:
        """Wake every wait older than ``timeout_s`` (the watchdog's sweep). Returns how many.

        Why a sweep instead of a timeout on each socket: under gevent every blocking call
        with a timeout arms and cancels a timer, a few µs per request on the generator's
        one core; one sweep every :data:`WATCHDOG_INTERVAL_S` costs nothing per request, and
        bounds every wait to the timeout plus one interval.
        """
        now = self.clock()
        expired = 0
        for slot in list(self.slots.values()):
            started = slot.waiting_since
            if started is not None and not slot.expired and now - started > timeout_s and slot.wake:
                slot.expired = True
                expired += 1
                slot.wake()
        return expired

    # --- fed by locust's request event ---------------------------------------------------

    def record_request(
        self, request_type: str, name: str, response_time_ms: float | None, failed: bool, kind: str = ""
    ) -> None:
        if not self.recording:
            return
        tally = self.tallies.setdefault((request_type, name), RequestTally())
        if failed:
            tally.failures += 1
            self.failure_kinds[kind or "failure"] += 1
        elif response_time_ms is not None:
            tally.histogram.record(response_time_ms * 1000.0)

    # --- the window ----------------------------------------------------------------------

    def open_window(self) -> None:
        """Forget everything recorded so far and start the measurement window now."""
        self.tallies.clear()
        self.failure_kinds.clear()
        # Users stopped before this window (a previous run in the web UI) are not counted in it.
        self.slots = {slot_id: slot for slot_id, slot in self.slots.items() if not slot.retired}
        for slot in self.slots.values():
            slot.stalled = slot.timed_out = False
            slot.replies = 0
            slot.longest_wait_s = 0.0
        self.window_opened_at = self.clock()
        self.window_closed_at = None
        self.recording = True

    def close_window(self) -> None:
        """Stop recording; waits still open count as stalls if already past the threshold."""
        now = self.clock()
        for slot in self.slots.values():
            if slot.waiting_since is not None:
                since = max(slot.waiting_since, self.window_opened_at or slot.waiting_since)
                if now - since > self.stall_threshold_s:
                    slot.stalled = True
                slot.longest_wait_s = max(slot.longest_wait_s, now - since)
        self.window_closed_at = now
        self.recording = False

    def window_seconds(self) -> float | None:
        if self.window_opened_at is None:
            return None
        end = self.window_closed_at if self.window_closed_at is not None else self.clock()
        return end - self.window_opened_at

    # --- reports -------------------------------------------------------------------------

    def connection_counts(self) -> dict[str, int]:
        slots = list(self.slots.values())
        return {
            "connections": len(slots),
            "stalled": sum(slot.stalled for slot in slots),
            "timed_out": sum(slot.timed_out for slot in slots),
            "starved": sum(slot.replies == 0 for slot in slots),
        }

    def to_json(self) -> dict:
        """Everything needed to merge this process's figures into another's (see :meth:`merge_json`)."""
        return {
            "tallies": [
                {
                    "request_type": request_type,
                    "name": name,
                    "failures": tally.failures,
                    "histogram": tally.histogram.to_json(),
                }
                for (request_type, name), tally in self.tallies.items()
            ],
            "failure_kinds": dict(self.failure_kinds),
            "connections": self.connection_counts(),
        }

    def merge_json(self, data: dict) -> None:
        """Add another process's :meth:`to_json` (a worker's, in distributed mode)."""
        for entry in data.get("tallies", []):
            tally = self.tallies.setdefault((entry["request_type"], entry["name"]), RequestTally())
            tally.failures += int(entry["failures"])
            tally.histogram.merge(LatencyHistogram.from_json(entry["histogram"]))
        self.failure_kinds.update(data.get("failure_kinds", {}))
