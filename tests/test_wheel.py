"""The built distribution judges a server on its own, as a checkout does.

What a user gets from ``pip install wirecheck`` must be the product, not a part of it: the
suites ship inside the wheel (as ``harness.suites``), the plugin registers through pytest's
``pytest11`` entry point, and ``wirecheck check SERVICE=HOST:PORT`` (or ``pytest --pyargs
harness.suites``) gives the same cases, verdicts and results file as ``pytest suites/``.

Theory of operation, and what keeps it cheap (CI runs it on every push):

- The sources are copied to a temporary folder first (setuptools writes build/ and an
  egg-info beside what it builds; the checkout stays clean and parallel runs share nothing).
  An sdist is built from the copy and the wheel from the unpacked sdist, as ``python -m
  build`` does, so the sdist is shown to be complete too. Both builds use the setuptools
  already installed (``--no-build-isolation``): nothing is downloaded.
- The virtual environment is made with ``--system-site-packages --without-pip``: the
  dependencies are those already installed, the interpreter's own pip installs the wheel
  into it (``--no-deps --ignore-installed``: an editable wirecheck in the system site must
  not count as "already installed"), and ``ensurepip`` (~15 s) is skipped.
- Every command of the installed copy runs from an empty temporary folder, and the run's
  own output names the folders it used, so the checkout cannot stand in for the wheel.
- One reference server, started with the environment's own ``wirecheck serve`` (its READY
  line), serves every run and is stopped by its pid. The whole module costs about 17 s of
  CPU (55 s of wall time on 2 cores at a load average of 30): the builds ~40 %, echo-tcp's
  cases run twice (installed and checked out) to compare them ~30 %.
"""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from harness.catalogue import load_cases
from harness.launch import RunningServer, launch_command

REPO = Path(__file__).resolve().parent.parent
# The service the installed copy judges: the issue's own example, 12 cases, ~8 s.
SERVICE = "echo-tcp"
RUNNER = "selectors"
# Build, install and suite runs on a loaded machine take tens of seconds; a hang must not
# take the whole CI run with it.
COMMAND_TIMEOUT_S = 600

# Not sources: what a checkout accumulates (caches, builds, node packages, virtual envs).
NOT_SOURCES = shutil.ignore_patterns(
    ".git", "__pycache__", "node_modules", "build", "dist", "*.egg-info", ".hypothesis", ".venv", ".pytest_cache"
)

# Every run of a module's tests on one xdist worker: the wheel is built once.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("wheel")]


@dataclass
class InstalledWheel:
    wheel: Path
    sdist: Path
    venv: Path
    site_packages: Path
    elsewhere: Path  # an empty folder to run the installed copy from

    @property
    def python(self) -> str:
        return str(self.venv / "bin" / "python")

    @property
    def wirecheck(self) -> str:
        return str(self.venv / "bin" / "wirecheck")


def _environment() -> dict[str, str]:
    """Ours, without anything that would put the checkout on the installed copy's path."""
    return {name: value for name, value in os.environ.items() if name not in ("PYTHONPATH", "PYTEST_ADDOPTS")}


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=cwd, env=_environment(), capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S
    )


def _succeeded(result: subprocess.CompletedProcess[str]) -> bool:
    return result.returncode == 0


def _output(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\nstdout: {result.stdout[-3000:]}\nstderr: {result.stderr[-3000:]}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> InstalledWheel:
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    shutil.copytree(REPO, source, ignore=NOT_SOURCES)
    sdist_folder, wheel_folder = work / "sdist", work / "wheel"
    build_sdist = _run(
        [sys.executable, "-c", f"from setuptools import build_meta; build_meta.build_sdist({str(sdist_folder)!r})"],
        cwd=source,
    )
    assert _succeeded(build_sdist), _output(build_sdist)
    (sdist,) = sdist_folder.glob("wirecheck-*.tar.gz")
    with tarfile.open(sdist) as archive:  # ours, just built; the data filter where Python has it
        archive.extractall(work / "unpacked", **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    (unpacked,) = (work / "unpacked").iterdir()
    build_wheel = _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--disable-pip-version-check",
         "-q", "-w", str(wheel_folder), str(unpacked)],
        cwd=work,
    )
    assert _succeeded(build_wheel), _output(build_wheel)
    (wheel,) = wheel_folder.glob("wirecheck-*.whl")
    venv = work / "venv"
    made = _run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], cwd=work)
    assert _succeeded(made), _output(made)
    install = _run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--no-deps", "--ignore-installed",
         "--disable-pip-version-check", "-q", str(wheel)],
        cwd=work,
    )
    assert _succeeded(install), _output(install)
    elsewhere = work / "elsewhere"
    elsewhere.mkdir()
    where = _run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], elsewhere)
    assert _succeeded(where), _output(where)
    return InstalledWheel(wheel, sdist, venv, Path(where.stdout.strip()), elsewhere)


@pytest.fixture(scope="module")
def installed_server(installed: InstalledWheel) -> Iterator[RunningServer]:
    """A reference server started by the environment's own ``wirecheck serve``."""
    server = launch_command(
        [installed.wirecheck, "serve", SERVICE, "--runner", RUNNER], env=_environment(), cwd=str(installed.elsewhere)
    )
    try:
        yield server
    finally:
        server.stop()


def _source_files(folder: str) -> set[str]:
    """The files under ``REPO/folder`` that a distribution carries (not caches)."""
    root = REPO / folder
    return {
        str(path.relative_to(root))
        for path in root.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


def test_the_wheel_ships_the_harness_and_the_suites_and_nothing_else(installed: InstalledWheel) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = {name for name in wheel.namelist() if not name.startswith("wirecheck-")}
        entry_points = wheel.read(next(n for n in wheel.namelist() if n.endswith("entry_points.txt"))).decode()
    harness = {name.removeprefix("harness/") for name in names if not name.startswith("harness/suites/")}
    suites = {name.removeprefix("harness/suites/") for name in names if name.startswith("harness/suites/")}
    assert harness == _source_files("harness")
    assert suites == _source_files("suites")
    assert any(name.endswith("/SPEC.md") for name in suites)
    assert {name.split("/")[0] for name in names} == {"harness"}  # no fixtures/, tests/, loadtests/
    points = configparser.ConfigParser()
    points.read_string(entry_points)
    # Named as the module is, so a conftest's pytest_plugins finds it already registered.
    assert dict(points["pytest11"]) == {"harness.pytest_plugin": "harness.pytest_plugin"}


def test_the_sdist_carries_the_suites_but_not_the_tests_or_fixtures(installed: InstalledWheel) -> None:
    with tarfile.open(installed.sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"setup.py", "pyproject.toml", "README.md", "suites/conftest.py", "suites/__init__.py"} <= names
    assert {f"suites/{name}" for name in _source_files("suites")} <= names
    assert not {name for name in names if name.split("/")[0] in ("fixtures", "loadtests", "tests")}


def test_the_environment_imports_the_installed_copy(installed: InstalledWheel) -> None:
    probe = _run(
        [installed.python, "-c", "import harness, harness.suites; print(harness.__file__); print(harness.suites.__file__)"],
        installed.elsewhere,
    )
    assert _succeeded(probe), _output(probe)
    assert probe.stdout.split() == [
        str(installed.site_packages / "harness" / "__init__.py"),
        str(installed.site_packages / "harness" / "suites" / "__init__.py"),
    ]


def test_the_installed_catalogue_lists_the_checkouts_cases(installed: InstalledWheel) -> None:
    listed = _run([installed.wirecheck, "cases"], installed.elsewhere)
    assert _succeeded(listed), _output(listed)
    checked_out = _run([sys.executable, "-m", "harness", "cases"], REPO)
    assert _succeeded(checked_out), _output(checked_out)
    assert listed.stdout.splitlines() == checked_out.stdout.splitlines() != []


def _comparable(results: dict) -> dict:
    """A results document without what differs between any two runs (times, durations)."""
    return {
        "cases": sorted(
            ({key: value for key, value in case.items() if key != "duration_s"} for case in results["cases"]),
            key=lambda case: case["id"],
        ),
        **{key: results[key] for key in ("summary", "strict", "exit_status", "targets")},
    }


def test_wirecheck_check_judges_a_server_as_pytest_suites_does_in_the_checkout(
    installed: InstalledWheel, installed_server: RunningServer, tmp_path: Path
) -> None:
    target = f"{SERVICE}={installed_server.host}:{installed_server.port}"
    from_wheel = _run(
        [installed.wirecheck, "check", target, "--results", str(tmp_path / "installed.json"), "-p", "no:randomly"],
        installed.elsewhere,
    )
    assert _succeeded(from_wheel), _output(from_wheel)
    # The run used the installed suites and the command's own configuration.
    assert f"rootdir: {installed.site_packages / 'harness'}\n" in from_wheel.stdout
    assert "configfile: check_pytest.ini\n" in from_wheel.stdout
    assert "PytestAssertRewriteWarning" not in from_wheel.stdout  # harness/check_pytest.ini
    from_checkout = _run(
        [sys.executable, "-m", "pytest", "suites/", "--target", target, "--results", str(tmp_path / "checkout.json"),
         "-p", "no:xdist", "-p", "no:randomly"],
        REPO,
    )
    assert _succeeded(from_checkout), _output(from_checkout)
    installed_results = json.loads((tmp_path / "installed.json").read_text())
    checkout_results = json.loads((tmp_path / "checkout.json").read_text())
    # Not an empty run: every case of RFC 862's section (the plain-TCP ones) was judged.
    assert {case.case_id for case in load_cases() if case.case_id.startswith(f"{SERVICE}/862/")} <= {
        case["id"] for case in installed_results["cases"]
    }
    assert _comparable(installed_results) == _comparable(checkout_results)


def test_pytest_pyargs_runs_the_installed_suites(
    installed: InstalledWheel, installed_server: RunningServer, tmp_path: Path
) -> None:
    first_case = f"{SERVICE}/862/1"
    run = _run(
        [installed.python, "-m", "pytest", "--pyargs", "harness.suites", "-p", "no:cacheprovider",
         "--target", f"{SERVICE}={installed_server.host}:{installed_server.port}", "--case", first_case,
         "--results", str(tmp_path / "results.json")],
        installed.elsewhere,
    )
    assert _succeeded(run), _output(run)
    cases = json.loads((tmp_path / "results.json").read_text())["cases"]
    assert [(case["id"], case["verdict"]) for case in cases] == [(first_case, "OK")]


def test_a_checkout_with_the_entry_point_installed_registers_the_plugin_once(
    installed: InstalledWheel, installed_server: RunningServer, tmp_path: Path
) -> None:
    # The root conftest names the plugin too (pytest_plugins); a second registration would
    # stop the run before any case ("Plugin already registered under a different name").
    run = _run(
        [installed.python, "-m", "pytest", f"suites/{SERVICE.replace('-', '_')}/",
         "--target", f"{SERVICE}={installed_server.host}:{installed_server.port}",
         "--case", f"{SERVICE}/862/1", "-p", "no:xdist", "--results", str(tmp_path / "results.json")],
        REPO,
    )
    assert _succeeded(run), _output(run)
    assert "wirecheck-0.1.0" in run.stdout  # the entry point was loaded (pytest lists it under plugins)


def test_the_check_configuration_matches_the_checkouts() -> None:
    checked_out = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    check = configparser.ConfigParser()
    check.read(REPO / "harness" / "check_pytest.ini")
    assert check["pytest"]["addopts"].split() == checked_out["addopts"].split()
    assert [line for line in check["pytest"]["markers"].splitlines() if line] == checked_out["markers"]


def test_no_two_suite_modules_share_a_basename() -> None:
    # pytest's default import mode imports a module outside a package by its basename, as the
    # suites' service folders are (in a checkout and installed alike): two equal names would
    # break collection with "import file mismatch".
    basenames = [path.stem for path in (REPO / "suites").glob("*/*.py") if path.name != "conftest.py"]
    assert len(basenames) == len(set(basenames)), sorted(basenames)
