"""Every CPython on the machine as a third-party mpconn-echo target: its own Listener, judged.

Each interpreter that ``harness.interop.discover_interpreters`` finds (pyenv's CPython 2.7 and
3.6-3.13 on this project's machine kind) runs ``fixtures/thirdparty/cpython_listener.py``: its
stdlib ``multiprocessing.connection.Listener``, echoing with ``recv_bytes``/``send_bytes``. The
whole mpconn-echo suite is run against it through ``--target`` (one suite run, a ``--target``
per Listener, so that pytest starts once), and every verdict is asserted:
exactly the cases of :data:`VERDICTS_OTHER_THAN_OK` are not OK, with those verdicts, as measured
(the README's "Findings: CPython's own Listener as an mpconn-echo target" says why each one is
so), and none is ERROR. An interpreter upgrade or a suite change that moves a verdict fails here.

A missing interpreter is a failure, never a skip: the machine doc of this project's kind says
pyenv has 2.7 and 3.6-3.13, so finding fewer means the machine is not what the tests were
measured on, and a silent skip would leave the interpreters unjudged while CI stays green.

The other direction for rpc-mpconn: every interpreter's stdlib Client calls the reference RPC
server, under each codec (``harness.checks.rpc.check_stdlib_client_calls``).

The Listener's key is a fixed test key (like the mutant zoo's): these Listeners exist only to
be judged. It reaches the Listener through its environment and the suite through ``--authkey``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Iterator

import pytest

from fixtures.suite_run import (
    EXIT_ALL_MUST_CASES_PASSED,
    EXIT_SOME_CASE_FAILED,
    PROCESS_GROUP_EXIT_TIMEOUT_S,
    JUDGE_EVERY_CASE,
    run_pytest_suites,
    wait_until_process_group_gone,
)
from fixtures.thirdparty import RECIPES_DIRECTORY
from harness.checks import rpc
from harness.checks.endpoint import Deadline, Endpoint
from harness.interop import Interpreter, discover_interpreters
from harness.launch import RunningServer, launch_command, launch_server
from harness.protocols.rpc import CODEC_NAMES
from harness.verdicts import Verdict

pytestmark = pytest.mark.slow

# The interpreters this machine kind has (pyenv; the env doc's machine page), by minor version.
EXPECTED_MINOR_VERSIONS = ("2.7", "3.6", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13")

LISTENER_SCRIPT = RECIPES_DIRECTORY / "cpython_listener.py"
KEY_VARIABLE = "WIRECHECK_OPTION_AUTHKEY"
INTERPRETER_TEST_KEY = "interpreter-listener-test-key-not-a-secret"

# One suite run judges them all: 23 cases x 9 Listeners, the 64 MiB echo each, on a loaded machine.
SUITE_TIMEOUT_S = 900.0

# Every case of the suite, each of which must be judged on every Listener.
CASES_OF_THE_SUITE = tuple(f"mpconn-echo/framing/{n}" for n in range(1, 9)) + tuple(
    f"mpconn-echo/handshake/{n}" for n in range(1, 17)
)

FAILED = Verdict.FAILED.value
NON_STRICT = Verdict.NON_STRICT.value

# Before 3.12 a Listener challenges with the legacy 20 bytes (a SHOULD, handshake/2) and
# answers any challenge of 20 bytes or more with a bare HMAC-MD5, a {sha1} or unprefixed one
# included (handshake/13).
_LEGACY_HANDSHAKE = {"mpconn-echo/handshake/2": NON_STRICT, "mpconn-echo/handshake/13": FAILED}
# Before 3.8 the -1 + 8-byte header is not understood: the Listener waits for 4 GiB.
_NO_EXTENDED_HEADER = {"mpconn-echo/framing/7": FAILED}

# The mpconn-echo verdicts other than OK, by minor version, as measured; every other case is OK.
VERDICTS_OTHER_THAN_OK: dict[str, dict[str, str]] = {
    "2.7": {**_LEGACY_HANDSHAKE, **_NO_EXTENDED_HEADER},
    "3.6": {**_LEGACY_HANDSHAKE, **_NO_EXTENDED_HEADER},
    "3.7": {**_LEGACY_HANDSHAKE, **_NO_EXTENDED_HEADER},
    "3.8": dict(_LEGACY_HANDSHAKE),
    "3.9": dict(_LEGACY_HANDSHAKE),
    "3.10": dict(_LEGACY_HANDSHAKE),
    "3.11": dict(_LEGACY_HANDSHAKE),
    "3.12": {},
    "3.13": {},
}


def minor_version(interpreter: Interpreter) -> str:
    return ".".join(interpreter.version.split(".")[:2])


def interpreters_by_minor_version() -> dict[str, Interpreter]:
    """The newest interpreter found for each minor version."""
    found: dict[str, Interpreter] = {}
    for interpreter in discover_interpreters():
        found[minor_version(interpreter)] = interpreter
    return found


@dataclass(frozen=True)
class ListenerRun:
    """One interpreter's Listener as judged: its version and its records, by case ID."""

    version: str
    cases: dict[str, dict[str, Any]]

    def describe(self, case_id: str) -> str:
        record = self.cases[case_id]
        return f"{case_id}: {record['verdict']} ({record['level']}); actual: {record['actual']}"


@pytest.fixture(scope="module")
def listener_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ListenerRun]:
    """Every interpreter's Listener, judged by ONE run of the suite (a ``--target`` each): one
    pytest start-up instead of nine.

    Resource handling: every Listener is stopped by its pid, and its process group must be gone.
    """
    interpreters = interpreters_by_minor_version()
    results = tmp_path_factory.mktemp("interpreters") / "results.json"
    environment = dict(os.environ, **{KEY_VARIABLE: INTERPRETER_TEST_KEY})
    servers: dict[str, RunningServer] = {}
    try:
        for version, interpreter in interpreters.items():
            servers[version] = launch_command([interpreter.path, str(LISTENER_SCRIPT)], env=environment)
        targets = [f"--target=mpconn-echo={server.address[0]}:{server.address[1]}" for server in servers.values()]
        run = run_pytest_suites(
            [*targets, "--authkey", INTERPRETER_TEST_KEY, "--results", str(results), "--case-timeout", "10", "-p", "no:randomly", "-q", *JUDGE_EVERY_CASE],
            results,
            suite_timeout=SUITE_TIMEOUT_S,
            what="every interpreter's Listener",
        )
    finally:
        for server in servers.values():
            server.stop()
    for version, server in servers.items():
        survivors = wait_until_process_group_gone(server.pid, PROCESS_GROUP_EXIT_TIMEOUT_S)
        assert not survivors, f"CPython {version}'s Listener left processes behind: {survivors}"
    print(f"mpconn-echo suite against {len(servers)} Listeners: exit {run.exit_status}, {run.wall_time_s:.1f} s")
    assert run.exit_status in (EXIT_ALL_MUST_CASES_PASSED, EXIT_SOME_CASE_FAILED), run.output[-4000:]
    by_target = {f"{server.address[0]}:{server.address[1]}": version for version, server in servers.items()}
    runs = {version: ListenerRun(interpreters[version].version, {}) for version in servers}
    for record in run.records:
        runs[by_target[record["target"]]].cases[record["id"]] = record
    return runs


def test_every_interpreter_of_this_machine_kind_is_found() -> None:
    found = interpreters_by_minor_version()
    missing = [version for version in EXPECTED_MINOR_VERSIONS if version not in found]
    assert not missing, (
        f"CPython {', '.join(missing)} not found (looked at this interpreter and "
        f"$PYENV_ROOT/versions/*/bin/python; found {sorted(found)}): this machine kind has pyenv's "
        "2.7 and 3.6-3.13, and each must be judged as an mpconn-echo target"
    )
    assert set(VERDICTS_OTHER_THAN_OK) == set(EXPECTED_MINOR_VERSIONS)


@pytest.mark.parametrize("version", EXPECTED_MINOR_VERSIONS)
def test_interpreters_listener_gets_its_measured_verdicts(version: str, listener_runs: dict[str, ListenerRun]) -> None:
    assert version in listener_runs, f"no CPython {version} on this machine: see test_every_interpreter_of_this_machine_kind_is_found"
    run = listener_runs[version]
    print(f"CPython {run.version}'s Listener:")
    for case_id in sorted(run.cases):
        print(f"  {run.describe(case_id)[:200]}")

    assert run.cases, "the suite judged no case of this Listener"
    missing = set(CASES_OF_THE_SUITE) - set(run.cases)
    assert not missing, f"cases not judged: {sorted(missing)}"
    expected = VERDICTS_OTHER_THAN_OK[version]
    measured = {case_id: record["verdict"] for case_id, record in run.cases.items() if record["verdict"] != Verdict.OK.value}
    differences = [
        f"{case_id}: expected {expected.get(case_id, 'OK')}, got " + (run.describe(case_id) if case_id in measured else "OK")
        for case_id in sorted(set(measured) | set(expected))
        if measured.get(case_id) != expected.get(case_id)
    ]
    assert not differences, f"CPython {run.version}'s verdicts moved:\n" + "\n".join(differences)


@pytest.fixture(scope="module", params=CODEC_NAMES)
def rpc_server(request: pytest.FixtureRequest) -> Iterator[tuple[str, RunningServer]]:
    """The reference rpc-mpconn server under each codec, on the threading runner."""
    server = launch_server(
        "rpc-mpconn", "threading", options={"authkey": INTERPRETER_TEST_KEY, "codec": request.param}, secret_options=("authkey",)
    )
    with server:
        yield request.param, server


@pytest.mark.parametrize("version", EXPECTED_MINOR_VERSIONS)
def test_interpreters_client_calls_the_rpc_server(version: str, rpc_server: tuple[str, RunningServer]) -> None:
    """The other direction: every interpreter's stdlib Client calls our RPC server, under JSON and
    under pickle, whose replies come in the request's pickle protocol (2 for a 2.7 Client)."""
    interpreter = interpreters_by_minor_version().get(version)
    assert interpreter is not None, f"no CPython {version} on this machine: see test_every_interpreter_of_this_machine_kind_is_found"
    codec, server = rpc_server
    endpoint = Endpoint(server.address[0], server.address[1], Deadline(30.0))
    client_version = rpc.check_stdlib_client_calls(endpoint, INTERPRETER_TEST_KEY.encode(), codec, interpreter.path)
    assert client_version == interpreter.version
