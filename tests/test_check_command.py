"""`wirecheck check`'s own behaviour: its command line, its errors, what it hands to pytest.

That an installed copy judges a server as a checkout does is tests/test_wheel.py's claim;
these run from the checkout, against no server or a reference server launched here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from harness.check_command import PLUGIN_MODULE, PYTEST_CONFIGURATION, pytest_arguments
from harness.launch import launch_server
from harness.suite_files import suites_directory

REPO = Path(__file__).resolve().parent.parent
COMMAND_TIMEOUT_S = 300


def wirecheck(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """This checkout's ``wirecheck`` (from any folder: the checkout goes first on the path)."""
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "harness", *args], cwd=cwd, env={**os.environ, "PYTHONPATH": path},
        capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S,
    )


def test_a_checkout_finds_its_own_suites() -> None:
    assert suites_directory() == REPO / "suites"


def test_the_target_and_every_further_argument_reach_pytest_in_order() -> None:
    arguments = pytest_arguments("time-tcp=127.0.0.1:37", ["--results", "r.json", "-q"], REPO / "suites")
    assert arguments[0] == str(REPO / "suites")
    assert arguments[arguments.index("-c") + 1] == str(PYTEST_CONFIGURATION)
    assert arguments[arguments.index("--rootdir") + 1] == str(REPO)
    assert arguments[arguments.index("-p") + 1] == PLUGIN_MODULE
    assert arguments[-5:] == ["--target", "time-tcp=127.0.0.1:37", "--results", "r.json", "-q"]


def test_a_target_without_a_service_is_one_line_and_exit_two() -> None:
    result = wirecheck("check", "127.0.0.1:7")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "wirecheck: error: expected SERVICE=HOST:PORT as the first argument after check, got '127.0.0.1:7'"
    ]


def test_other_commands_still_refuse_arguments_they_do_not_know() -> None:
    result = wirecheck("list", "--results", "r.json")
    assert result.returncode == 2
    assert "unrecognized arguments: --results r.json" in result.stderr


def test_help_explains_the_pass_through_and_the_exit_status() -> None:
    result = wirecheck("check", "--help")
    assert result.returncode == 0
    assert "SERVICE=HOST:PORT" in result.stdout
    assert "goes to pytest unchanged" in result.stdout
    assert "Exit status" in result.stdout


def test_check_reports_failures_and_exits_one_against_the_wrong_service(tmp_path: Path) -> None:
    # A daytime server judged as a time server: its reply is text, not four bytes. The command
    # must carry pytest's verdicts and exit status through, failures included.
    with launch_server("daytime-tcp", "selectors") as server:
        result = wirecheck(
            "check", f"time-tcp={server.host}:{server.port}", "--results", str(tmp_path / "r.json"), "-q",
            cwd=tmp_path,
        )
    assert result.returncode == 1, result.stdout[-2000:]
    verdicts = {case["verdict"] for case in json.loads((tmp_path / "r.json").read_text())["cases"]}
    assert "FAILED" in verdicts
