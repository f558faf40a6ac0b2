"""Closed loop or open loop: when a load user sends its next request.

Closed loop (the default): the next request leaves the moment the previous reply arrives.
That measures the most a set of connections can get through, but its latency is measured from
the actual send, so while a server stalls the generator simply sends less, and the stall never
enters the percentiles: coordinated omission (Gil Tene's term).

Open loop: each user has a fixed schedule, one request every ``1/rate`` seconds from its first.
A request's latency is measured from its *intended* send time, so when a reply is late the
requests queued behind it carry the delay they suffered (wrk2's correction). A user that falls
behind sends back to back until it is on schedule again.

Free of locust and gevent, so that it is unit-tested with a fake clock.
"""

from __future__ import annotations

import time
from typing import Callable

Clock = Callable[[], float]


class Pacer:
    """The send schedule of one user: none (closed loop) or a fixed rate (open loop).

    Args:
        rate_per_s: requests per second for this user; 0 or less means closed loop.
        clock: monotonic seconds (``time.perf_counter``).
    """

    def __init__(self, rate_per_s: float, clock: Clock = time.perf_counter) -> None:
        self.interval_s = 1.0 / rate_per_s if rate_per_s > 0 else 0.0
        self.clock = clock
        self._next_send: float | None = None

    @property
    def open_loop(self) -> bool:
        return self.interval_s > 0

    def take_slot(self) -> float | None:
        """The intended send time of the request about to be sent (None in closed loop).

        The schedule starts at the first call and advances one interval per call, whether or
        not the previous request was on time: a late request keeps its original slot.
        """
        if not self.open_loop:
            return None
        if self._next_send is None:
            self._next_send = self.clock()
        slot = self._next_send
        self._next_send += self.interval_s
        return slot

    def delay(self) -> float:
        """Seconds to wait before the next request (0 in closed loop, or when running late)."""
        if not self.open_loop or self._next_send is None:
            return 0.0
        return max(0.0, self._next_send - self.clock())
