"""The progress line (harness/pytest_progress.py): which case, against which target, for how long.

The tracker is judged with a fake clock (no test here asserts a wall-clock figure); the one
end-to-end run serves a mutant that never closes, whose echo-tcp/862/8 case must wait out
its 5 s stall limit, and asks for a line every second: the line must name that case and
target, on a line of its own, outside the case's captured output. Cost: one suite run of one
case, about 10 s.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from fixtures.mutants import MUTANTS
from fixtures.suite_run import run_suite_against_command
from harness.pytest_progress import ProgressLine, ProgressTracker, case_label


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("nodeid", "label"),
    [
        ("suites/echo_tcp/test_862.py::test_x[echo-tcp/862/6@runner:forking]", "echo-tcp/862/6 @ runner:forking"),
        ("suites/a.py::test_x[echo-tcp/862/1@[0:0:0:0:0:0:0:1]:7]@echo-tcp.0-0-1-7", "echo-tcp/862/1 @ [0:0:0:0:0:0:0:1]:7"),
        ("reachability[echo-tcp/reachability/0@127.0.0.14:7]", "echo-tcp/reachability/0 @ 127.0.0.14:7"),
        ("tests/test_plain.py::test_plain", "tests/test_plain.py::test_plain"),
    ],
)
def test_case_label_reads_case_and_target_from_the_node_id(nodeid: str, label: str) -> None:
    assert case_label(nodeid) == label


def test_a_line_is_due_only_for_a_case_running_longer_than_the_interval_and_at_most_that_often() -> None:
    clock = FakeClock()
    tracker = ProgressTracker(10.0, clock=clock)
    tracker.started("s.py::t[echo-tcp/862/6@runner:forking]")
    clock.now += 9.0
    assert tracker.due_line() is None  # not long enough yet
    clock.now += 2.0
    assert tracker.due_line() == "wirecheck: 11 s into the run; running: echo-tcp/862/6 @ runner:forking (11 s)"
    clock.now += 5.0
    assert tracker.due_line() is None  # a line was written 5 s ago
    tracker.started("s.py::t[time-tcp/868/1@runner:raw]")
    clock.now += 5.0
    assert tracker.due_line() == "wirecheck: 21 s into the run; running: echo-tcp/862/6 @ runner:forking (21 s)"
    clock.now += 10.0
    line = tracker.due_line()
    assert line is not None and "echo-tcp/862/6 @ runner:forking (31 s), time-tcp/868/1 @ runner:raw (15 s)" in line
    tracker.finished("s.py::t[echo-tcp/862/6@runner:forking]")
    tracker.finished("s.py::t[time-tcp/868/1@runner:raw]")
    clock.now += 60.0
    assert tracker.due_line() is None and not tracker.in_flight


class FakeConfig:
    def __init__(self, progress: str, every: float = 10.0, worker: bool = False) -> None:
        self._options = {"progress": progress, "progress_every": every}
        if worker:
            self.workerinput: dict[str, Any] = {}

    def getoption(self, name: str) -> Any:
        return self._options[name]


def test_the_line_is_on_for_a_terminal_or_when_asked_and_never_on_a_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.isatty", lambda fd: False)
    assert ProgressLine.if_wanted(FakeConfig("auto")) is None  # type: ignore[arg-type]
    assert ProgressLine.if_wanted(FakeConfig("never")) is None  # type: ignore[arg-type]
    assert ProgressLine.if_wanted(FakeConfig("always", worker=True)) is None  # type: ignore[arg-type]
    for when, tty in (("always", False), ("auto", True)):
        monkeypatch.setattr("os.isatty", lambda fd, tty=tty: tty)
        line = ProgressLine.if_wanted(FakeConfig(when))  # type: ignore[arg-type]
        assert line is not None
        line.close()
    with pytest.raises(pytest.UsageError, match="--progress-every must be a positive"):
        ProgressLine.if_wanted(FakeConfig("always", every=0))  # type: ignore[arg-type]


@pytest.mark.slow
def test_a_long_case_is_named_with_its_target_while_it_runs(tmp_path: Path) -> None:
    (never_closes,) = [mutant for mutant in MUTANTS if mutant.name == "echo_never_closes"]
    (case_id,) = never_closes.must_fail
    run = run_suite_against_command(
        never_closes.command(),
        never_closes.service,
        tmp_path / "results.json",
        extra_arguments=[f"--case={case_id}", "--progress", "always", "--progress-every", "1"],
    )
    lines = re.findall(rf"^wirecheck: \d+ s into the run; running: {re.escape(case_id)} @ 127\.0\.0\.1:(\d+) \(\d+ s\)$", run.output, re.MULTILINE)
    assert lines, "no progress line named the running case:\n" + run.output[-3000:]
    assert "Captured stdout" not in run.output  # the line reached the terminal, not the case's capture
    assert run.verdict_of(case_id) == "FAILED"
