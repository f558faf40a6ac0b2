"""Figures as people read them (µs or ms, percent of a core, m:ss), and the progress lines.

Shared by the steps that print as they go (harness/compare/sweep.py, references.py) and the
report (report.py), so a figure reads the same on the terminal and in compare.md.
"""

from __future__ import annotations

import time
from typing import Callable


def clock(seconds: float) -> str:
    """``m:ss``."""
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def microseconds(value: float | None) -> str:
    """``85 µs`` below a millisecond, ``1.3 ms`` above; ``-`` when not measured."""
    if value is None:
        return "-"
    return f"{value:.0f} µs" if value < 1000 else f"{value / 1000:.1f} ms"


def percent(value: float | None) -> str:
    """A share of a core (0.95 → ``95%``); ``-`` when not measured."""
    return "-" if value is None else f"{value:.0%}"


class Progress:
    """One line per measurement, with elapsed time and an ETA from the mean time per step."""

    def __init__(self, total_steps: int, write: Callable[[str], None]) -> None:
        self.total_steps = total_steps
        self.done = 0
        self.started = time.monotonic()
        self.write = write

    def step(self, text: str) -> None:
        self.done += 1
        elapsed = time.monotonic() - self.started
        remaining = (elapsed / self.done) * max(self.total_steps - self.done, 0)
        self.write(f"[{self.done:>3}/{self.total_steps}] {text}  (elapsed {clock(elapsed)}, ETA {clock(remaining)})")

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started
