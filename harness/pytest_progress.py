"""The progress line: on a long run, which case is running against which target, and for how long.

A case may rightly take its whole ``--case-timeout`` (30 s by default: 16 MiB through a
process-per-connection server, or a hostile server waited out), and pytest shows nothing
until it ends. So while a case has been running for ``--progress-every`` seconds (default
10), a line says so, and again every that many seconds::

    wirecheck: 95 s into the run; running: echo-tcp/862/6 @ runner:forking (20 s)

Under pytest-xdist the line lists every case running on any worker (the controller sees
each worker's ``logstart`` and ``logfinish``).

When: ``--progress auto`` (the default) shows it only when stdout is a terminal, where a
person is waiting; ``always`` also into a pipe or file (CI logs); ``never`` not at all.
Never on an xdist worker, whose output nobody sees.

Theory of operation, and why it never garbles pytest's output:

- A daemon thread wakes once a second and writes a line only while a case is in flight,
  i.e. between its ``logstart`` and its ``logfinish``. pytest itself writes to the terminal
  only inside those hooks (and ``logreport``), which this plugin wraps with the same lock
  the thread takes; so the two never write at once, and a line always starts on a line of
  its own (pytest's own partly written row is ended first).
- The line goes to a duplicate of the terminal's file descriptor taken at configure time,
  not through pytest's writer: in a run without xdist, the case runs with its output
  captured (fd 1 redirected to a file), and a line written to fd 1 then would land in the
  case's captured output instead of on the screen. pytest's writer is flushed first
  (it has nothing pending while a case runs; under xdist it may).
- After the line, pytest's ``currentfspath`` is reset, so that pytest starts its next
  result on a fresh line (pytest's own way of recovering after ``write_line``). At most one
  blank line follows the progress lines; pytest's rows resume below it.
- The thread is stopped and joined in ``pytest_sessionfinish``, before the summary.
"""

from __future__ import annotations

import os
import threading
import time
from typing import IO, Any, Callable, Iterator

import pytest

# Show a case once it has run this long, and again every this many seconds: a third of the
# default --case-timeout, so a case that takes its whole budget is reported twice.
DEFAULT_PROGRESS_EVERY_S = 10.0

# How often the thread looks: the line may come up to this late, never more often than due.
TICK_S = 1.0

PROGRESS_CHOICES = ("auto", "always", "never")


def add_progress_options(group: Any) -> None:
    """Register ``--progress`` and ``--progress-every`` in the suites' option group."""
    group.addoption(
        "--progress",
        choices=PROGRESS_CHOICES,
        default="auto",
        help="show which case is running against which target, and for how long, while a case runs "
        "longer than --progress-every: auto (default) when stdout is a terminal, always, never",
    )
    group.addoption(
        "--progress-every",
        type=float,
        default=DEFAULT_PROGRESS_EVERY_S,
        metavar="SECONDS",
        help=f"how long a case runs before the progress line names it, and how often (default {DEFAULT_PROGRESS_EVERY_S:g})",
    )


def case_label(nodeid: str) -> str:
    """``echo-tcp/862/6 @ runner:forking`` from a case's node ID, or the node ID of a plain test.

    A case's parameter ID is ``<case-id>@<target>``, inside the last ``[...]`` of its node ID
    (an IPv6 target has brackets of its own; xdist's loadgroup appends ``@<group>`` after it).
    """
    start, end = nodeid.find("["), nodeid.rfind("]")
    if start < 0 or end < start:
        return nodeid
    case_id, at, target = nodeid[start + 1 : end].partition("@")
    return f"{case_id} @ {target}" if at else nodeid[start + 1 : end]


class ProgressTracker:
    """Which cases are in flight and since when; when a progress line is due, and its text.

    Args:
        every_s: a case is named once it has run this long, and a line is written at most
            this often.
        clock: a monotonic clock (a fake one in unit tests).
    """

    def __init__(self, every_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.every_s = every_s
        self._clock = clock
        self._run_started = clock()
        self._in_flight: dict[str, float] = {}
        self._last_line_at: float | None = None

    def started(self, nodeid: str) -> None:
        self._in_flight[nodeid] = self._clock()

    def finished(self, nodeid: str) -> None:
        self._in_flight.pop(nodeid, None)

    @property
    def in_flight(self) -> bool:
        return bool(self._in_flight)

    def due_line(self) -> str | None:
        """The line to write now, or None (nothing has run long enough, or a line was just written)."""
        now = self._clock()
        if self._last_line_at is not None and now - self._last_line_at < self.every_s:
            return None
        long_running = [(nodeid, now - since) for nodeid, since in self._in_flight.items() if now - since >= self.every_s]
        if not long_running:
            return None
        self._last_line_at = now
        running = ", ".join(f"{case_label(nodeid)} ({seconds:.0f} s)" for nodeid, seconds in long_running)
        return f"wirecheck: {now - self._run_started:.0f} s into the run; running: {running}"


class ProgressLine:
    """Writes the progress line from a thread, in step with pytest's own terminal output.

    Args:
        config: the pytest config (read: ``--progress``, ``--progress-every``).
        terminal: a writable text file on the terminal (a duplicate of fd 1), owned by this
            object and closed by :meth:`close`.

    Resource handling: the thread starts at the first case and is joined in
    ``pytest_sessionfinish``; :meth:`close` closes the terminal file.
    """

    def __init__(self, config: pytest.Config, terminal: IO[str]) -> None:
        self._config = config
        self._terminal = terminal
        self._tracker = ProgressTracker(config.getoption("progress_every"))
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pytest_wrote_last = True  # whether pytest wrote since our last line

    @classmethod
    def if_wanted(cls, config: pytest.Config) -> "ProgressLine | None":
        """A progress line for this process, or None (asked not to, not a terminal, an xdist worker).

        Raises:
            pytest.UsageError: ``--progress-every`` is not a positive number of seconds.
        """
        every = config.getoption("progress_every")
        if not every > 0:
            raise pytest.UsageError(f"--progress-every must be a positive number of seconds, got {every:g}")
        when = config.getoption("progress")
        if when == "never" or hasattr(config, "workerinput"):
            return None
        if when == "auto" and not os.isatty(1):
            return None
        return cls(config, os.fdopen(os.dup(1), "w", encoding="utf-8", errors="replace"))

    # pytest writes to the terminal in these hooks: hold the lock while it does.

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> Iterator[None]:
        with self._lock:
            result = yield
            self._pytest_wrote_last = True
            self._tracker.started(nodeid)
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="wirecheck-progress", daemon=True)
            self._thread.start()
        return result

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> Iterator[None]:
        with self._lock:
            result = yield
            self._pytest_wrote_last = True
            if report.when not in ("setup", "call"):  # teardown, or "???" for a crashed worker's item
                self._tracker.finished(report.nodeid)
        return result

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> Iterator[None]:
        with self._lock:
            result = yield
            self._pytest_wrote_last = True
            self._tracker.finished(nodeid)
        return result

    def pytest_sessionfinish(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def pytest_unconfigure(self) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        if not self._terminal.closed:
            self._terminal.close()

    def _run(self) -> None:
        while not self._stop.wait(TICK_S):
            with self._lock:
                line = self._tracker.due_line()
                if line is not None:
                    self._write(line)

    def _write(self, line: str) -> None:
        reporter = self._config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.flush()  # pytest's own pending output first
        # End pytest's partly written row first; our own previous line is already ended.
        self._terminal.write(("\n" if self._pytest_wrote_last else "") + line + "\n")
        self._pytest_wrote_last = False
        self._terminal.flush()
        if reporter is not None:
            reporter.currentfspath = None  # pytest's next result starts on a line of its own
