"""Installed, the plugin loads into every pytest run; only wirecheck's runs get its defaults.

The ``pytest11`` entry point makes pytest load harness.pytest_plugin in any project of an
environment where wirecheck is installed. Its run-wide defaults (the ``ci`` hypothesis profile:
ten derandomized examples; ``-n`` grouping by server) must not leak into another project's
tests, and must still apply to wirecheck's own suites (``is_wirecheck_run``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from harness.suite_files import suites_directory

FOREIGN_TEST = '''
from hypothesis import settings

def test_the_project_keeps_hypothesis_defaults():
    assert settings.default.max_examples == 100, settings.default
    assert not settings.default.derandomize
'''

# A bound on the subprocess: pytest's start-up and one trivial test.
RUN_TIMEOUT_S = 120


def _pytest_in(directory: Path, *arguments: str, ci: bool = False) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "HYPOTHESIS_"))}
    environment.pop("CI", None)
    if ci:
        # Hypothesis makes its built-in ``ci`` profile current when it sees $CI.
        environment["CI"] = "true"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *arguments],
        cwd=directory, env=environment, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
    )


def test_another_project_keeps_its_hypothesis_settings(tmp_path: Path) -> None:
    (tmp_path / "test_foreign.py").write_text(FOREIGN_TEST)
    result = _pytest_in(tmp_path, "-p", "harness.pytest_plugin", "test_foreign.py")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


FOREIGN_TEST_IN_CI = '''
from hypothesis import settings

def test_the_project_keeps_hypothesis_s_ci_profile():
    # hypothesis's own ci profile: derandomized, its default 100 examples.
    assert settings.default.max_examples == 100, settings.default
    assert settings.default.derandomize
'''


def test_another_project_in_a_ci_job_keeps_hypothesis_s_own_ci_profile(tmp_path: Path) -> None:
    """In a CI job hypothesis loads its built-in ``ci`` profile; wirecheck's must not replace it."""
    (tmp_path / "test_foreign.py").write_text(FOREIGN_TEST_IN_CI)
    result = _pytest_in(tmp_path, "-p", "harness.pytest_plugin", "test_foreign.py", ci=True)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def test_wirecheck_s_own_run_gets_the_ci_profile(tmp_path: Path) -> None:
    """The control: the same check, given a wirecheck option, sees the ci profile's 10 examples."""
    (tmp_path / "test_foreign.py").write_text(FOREIGN_TEST)
    result = _pytest_in(tmp_path, "-p", "harness.pytest_plugin", "--service", "echo-tcp", "test_foreign.py")
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    assert "max_examples=10" in result.stdout, result.stdout[-2000:]


def test_the_suites_folder_is_recognised_as_wirecheck_s() -> None:
    from harness.pytest_plugin import is_wirecheck_run

    class Options:
        pyargs = False

    class FakeConfig:
        rootpath = Path("/")
        option = Options()
        args = [str(suites_directory() / "echo_tcp")]

        def getoption(self, name: str, default: object = None) -> object:
            return default

    assert is_wirecheck_run(FakeConfig())  # type: ignore[arg-type]
    FakeConfig.args = ["/elsewhere/tests"]
    assert not is_wirecheck_run(FakeConfig())  # type: ignore[arg-type]


DIST_PROBE = '''
def test_distribution(request):
    print("DIST", request.config.workerinput.get("wirecheck_dist"))
    assert request.config.workerinput.get("wirecheck_dist") == "{expected}"
'''


def test_wirecheck_s_own_run_under_n_groups_by_server_whatever_the_plugin_order(tmp_path: Path) -> None:
    """`-n 2` without `--dist`: wirecheck's runs are distributed by group (one server's cases on
    one worker), another project's as xdist decides ("load"). The plugin is loaded first here,
    by -p, as its entry point may load it before xdist: its hook must still run first."""
    (tmp_path / "test_dist.py").write_text(DIST_PROBE.format(expected="loadgroup"))
    ours = _pytest_in(tmp_path, "-p", "harness.pytest_plugin", "-n", "2", "--service", "echo-tcp", "test_dist.py")
    assert ours.returncode == 0, ours.stdout[-2000:] + ours.stderr[-2000:]
    (tmp_path / "test_dist.py").write_text(DIST_PROBE.format(expected="load"))
    theirs = _pytest_in(tmp_path, "-p", "harness.pytest_plugin", "-n", "2", "test_dist.py")
    assert theirs.returncode == 0, theirs.stdout[-2000:] + theirs.stderr[-2000:]
