"""The core benchmark: one tiny end-to-end run, and its input errors.

The run is what CI can afford: two runners, one repetition, four connections, a fraction of
a second per window, each server held to half a core (``--server-cpu``, which CI's root can
grant). It checks that the benchmark writes what it promises (both sides of
new/old, the ratios and their spreads, the TLS rows, servers that ran the code they were
meant to run) and cleans up after itself (no baseline worktree left, no server process left).
There is no assertion on a rate or a time: a loaded CI machine may be slow, never wrong.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness import core_benchmark

REPO_ROOT = Path(__file__).resolve().parent.parent

# Start-up of the command, a git worktree, 8 measurements of ~1.5 s each: well inside this.
RUN_DEADLINE_S = 120

TINY_RUNNERS = ("selectors", "threading")


def _in_git_checkout() -> bool:
    return shutil.which("git") is not None and (REPO_ROOT / ".git").exists()


def _worktrees() -> str:
    return subprocess.run(
        ["git", "worktree", "list"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=30
    ).stdout


@pytest.mark.skipif(not _in_git_checkout(), reason="the baseline is checked out with git")
def test_core_benchmark_tiny_run_writes_both_sides_ratios_and_tls_rows(tmp_path: Path) -> None:
    out = tmp_path / "out"
    command = [sys.executable, "-m", "harness.core_benchmark", "--repeat", "1", "--connections", "4",
               "--warmup", "0.2", "--window", "0.5", "--server-cpu", "0.5", "--out", str(out)]
    for runner in TINY_RUNNERS:
        command += ["--runner", runner]
    completed = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=RUN_DEADLINE_S)
    assert completed.returncode == 0, completed.stderr

    document = json.loads((out / "core-benchmark.json").read_text())
    assert document["goal_verdict"] in ("MET", "NOT MET")
    assert document["goal_verdict_per_cpu"] in ("MET", "NOT MET")
    assert [result["runner"] for result in document["runners"]] == list(TINY_RUNNERS)
    for result in document["runners"]:
        core, tls = result["new_over_old"], result["tls_over_plain"]
        assert (core["numerator"], core["denominator"]) == ("new", "old")
        assert (tls["numerator"], tls["denominator"]) == ("tls", "plain")
        for summary in (core, tls):
            assert summary["errors"] == []
            for key in ("numerator_median", "denominator_median", "ratio_of_medians",
                        "repetition_ratio_min", "repetition_ratio_max", "per_cpu_ratio"):
                assert summary[key] > 0, key
        assert result["goal_met"] in (True, False)
        assert result["per_cpu_goal_met"] in (True, False)

    kinds = {(m["runner"], m["side"], m["kind"]) for m in document["measurements"]}
    for runner in TINY_RUNNERS:
        assert {(runner, "old", core_benchmark.THREADED_PLAIN), (runner, "new", core_benchmark.THREADED_PLAIN),
                (runner, "new", core_benchmark.LOOP_PLAIN), (runner, "new", core_benchmark.LOOP_TLS)} <= kinds
    for measurement in document["measurements"]:
        assert measurement["leftover_pids"] == []
        # Each side's servers imported their own tree's harness: the baseline from its worktree.
        imported = Path(measurement["harness_file"])
        if measurement["side"] == "new":
            assert imported == REPO_ROOT / "harness" / "__init__.py"
        else:
            assert imported.parent.parent != REPO_ROOT and imported.name == "__init__.py"
        assert ("--tls" in measurement["server_command"]) == (measurement["kind"] == core_benchmark.LOOP_TLS)
    assert document["run"]["old_commit"] != document["run"]["new_commit"]
    assert document["run"]["server_cpu"] == 0.5
    assert len(document["run"]["load_average_before"]) == len(document["run"]["load_average_after"]) == 3

    table = (out / "core-benchmark.md").read_text()
    assert "TLS/plain" in table and "new/old" in table
    assert "every server tree held to 50% of one core (cgroup" in table
    assert "load average (1, 5, 15 min) before " in table and "not recorded" not in table
    for runner in TINY_RUNNERS:
        assert f"| {runner}" in table
    assert "wirecheck-core-baseline-" not in _worktrees()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--runner", "no-such-runner"], "unknown stream runner 'no-such-runner'"),
        (["--repeat", "0"], "--repeat must be in 1..50"),
        (["--window", "0"], "--window in (0, 600]"),
        (["--baseline", "no-such-revision-xyz"], "names no commit"),
        (["--server-cpu", "2"], "--server-cpu must be in [0.05, 1]"),
    ],
)
def test_core_benchmark_bad_input_is_one_line_error(
    arguments: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = core_benchmark.main([*arguments, "--runner", "selectors", "--out", str(tmp_path)]
                                 if "--runner" not in arguments else [*arguments, "--out", str(tmp_path)])
    error = capsys.readouterr().err
    assert status == 2
    assert message in error
    assert error.count("\n") == 1


def test_plan_alternates_sides_and_flips_order_every_repetition() -> None:
    args = core_benchmark.build_parser().parse_args(["--runner", "select", "--repeat", "2"])
    steps = core_benchmark.plan(core_benchmark.settings_from(args))
    first = [(side, kind) for repetition, _, side, kind in steps if repetition == 1]
    second = [(side, kind) for repetition, _, side, kind in steps if repetition == 2]
    assert first == second[:2][::-1] + second[2:][::-1]
    assert [side for side, _ in first[:2]] == ["old", "new"]


def test_a_measurement_above_its_cpu_cap_is_named_as_not_server_bound() -> None:
    held = core_benchmark.Measurement("selectors", "new", core_benchmark.THREADED_PLAIN, 1, server_cpu_cores=0.52)
    escaped = core_benchmark.Measurement("prefork-processes", "old", core_benchmark.THREADED_PLAIN, 2, server_cpu_cores=0.97)
    assert core_benchmark.measurements_over_cap([held, escaped], 0.5) == [
        f"prefork-processes old {core_benchmark.THREADED_PLAIN} rep 2: 0.97 cores"
    ]
    assert core_benchmark.measurements_over_cap([held, escaped], None) == []  # uncapped: nothing to hold
