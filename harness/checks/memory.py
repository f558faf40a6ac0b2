"""The memory of a server's processes, read from /proc while data moves.

Back-pressure and streaming are claims about memory: a server that pulls output only as fast
as the peer reads, or returns a frame as it arrives, holds a bounded amount whatever passes
through it. This is how those claims are measured (tests/test_backpressure.py for every
runner, the array-tcp suite for reference runners): the proportional set size (Pss, from
smaps_rollup) summed over the server's session, sampled on a thread while data moves. Pss
divides a page shared after fork() among its sharers, so a forking server's per-connection
child adds what it really owns, not a copy of its parent.
"""

from __future__ import annotations

import threading
from typing import Callable

from harness.launch import processes_in_session

# How often the sampler reads /proc while data moves: a 1 GiB transfer takes a second or more,
# so a buffer that grows with it is seen many times over.
SAMPLE_INTERVAL_S = 0.05


def session_pss_bytes(session_id: int) -> int:
    """A process session's total proportional set size, in bytes (0 once it has gone)."""
    total = 0
    for pid in processes_in_session(session_id):
        try:
            with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as rollup:
                for line in rollup:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            continue  # exited while we looked
    return total


class MemorySampler:
    """Samples a process session's Pss on a thread until stopped; ``peak`` is the largest seen.

    Pss divides a page shared after fork() among its sharers, so a forking server's
    per-connection child adds what it really owns, not a copy of its parent.

    Args:
        session_id: the session leader's pid (a launched server's pid).
        read: ``session_id -> bytes`` (``session_pss_bytes``; a fake in tests).
    """

    def __init__(self, session_id: int, read: Callable[[int], int] = session_pss_bytes) -> None:
        self._session_id = session_id
        self._read = read
        self._stop = threading.Event()
        self.baseline = read(session_id)
        self.peak = self.baseline
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_INTERVAL_S):
            self.peak = max(self.peak, self._read(self._session_id))

    def __enter__(self) -> "MemorySampler":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._read(self._session_id))

    @property
    def growth(self) -> int:
        return self.peak - self.baseline
