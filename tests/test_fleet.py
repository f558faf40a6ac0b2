"""CIDR fleets: ``--target SERVICE=NETWORK:PORT`` is one target per host, each judged on its own.

The parsing tests are in-process and instant. The end-to-end test serves a /29 of loopback
(reference servers, mutants and a host where nothing listens, all on one port), runs the
suite once against the network, and reads every host's verdicts back from the results file
and from ``wirecheck report``'s page and JUnit: one pytest run of three cases against six hosts.
"""

from __future__ import annotations

import contextlib
import json
import socket
from xml.etree import ElementTree
from pathlib import Path
from typing import Iterator

import pytest

from fixtures.mutants import MUTANTS, Mutant
from fixtures.suite_run import EXIT_SOME_CASE_FAILED, run_pytest_suites, wait_until_process_group_gone
from harness.cases import Target, TargetOptionError, parse_target_fleet, parse_target_option, select_targets
from harness.launch import LaunchError, RunningServer, launch_command, serve_command
from harness.report.model import merge
from harness.verdicts import Verdict


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("echo-tcp=127.0.0.8/29:7007", [f"127.0.0.{n}:7007" for n in range(9, 15)]),
        ("echo-tcp=127.0.0.8/31:7", ["127.0.0.8:7", "127.0.0.9:7"]),
        ("echo-tcp=127.0.0.9/32:7", ["127.0.0.9:7"]),
        ("echo-tcp=[::1]/128:7007", ["[::1]:7007"]),
        ("echo-tcp=tls://127.0.0.8/30:7443", ["tls://127.0.0.9:7443", "tls://127.0.0.10:7443"]),
        ("time-tcp=tls://[::1]/128:37", ["tls://[::1]:37"]),
        ("echo-tcp=127.0.0.1:7", ["127.0.0.1:7"]),
    ],
)
def test_a_network_target_is_one_target_per_host(text: str, names: list[str]) -> None:
    fleet = parse_target_fleet(text)
    assert [target.name for target in fleet] == names
    assert all(target.runner is None and target.service == text.split("=")[0] for target in fleet)
    assert len({target.group for target in fleet}) == len(fleet)  # each host its own server
    assert len({target.test_id for target in fleet}) == len(fleet)


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("echo-tcp=10.0.0.8/29:7", "not wholly loopback"),
        ("echo-tcp=126.0.0.0/7:7", "not wholly loopback"),
        ("echo-tcp=[::]/127:7", "not wholly loopback"),
        ("echo-tcp=[2001:db8::]/126:7", "not wholly loopback"),
        ("echo-tcp=127.0.0.0/8:7", "a fleet is at most 256 hosts"),
        ("echo-tcp=127.0.0.9/29:7", "host bits set: the network it lies in is 127.0.0.8/29"),
        ("echo-tcp=127.0.0.8/33:7", "is not a network"),
        ("echo-tcp=127.0.0.8/29", "loopback network such as 127.0.0.8/29:PORT"),
        ("echo-tcp=[::1/128]:7", "loopback network such as"),
        ("echo-tcp=localhost/29:7", "is not a network"),
        ("echo-tcp=127.0.0.8/29:0", "outside 1-65535"),
        ("echo-udp=tls://127.0.0.8/29:7", "TLS carries byte streams"),
    ],
)
def test_a_network_target_is_refused_with_one_line_before_anything_is_sent(text: str, complaint: str) -> None:
    with pytest.raises(TargetOptionError, match=complaint) as raised:
        parse_target_fleet(text)
    assert "\n" not in str(raised.value)


def test_a_single_target_option_refuses_a_network() -> None:
    with pytest.raises(TargetOptionError, match="got a network"):
        parse_target_option("echo-tcp=127.0.0.9/32:7")


def test_select_targets_expands_a_fleet_and_keeps_other_targets() -> None:
    selected = select_targets(target_options=["echo-tcp=127.0.0.8/30:7", "echo-tcp=127.0.0.1:7", "time-udp=[::1]/128:37"])
    assert [target.name for target in selected["echo-tcp"]] == ["127.0.0.9:7", "127.0.0.10:7", "127.0.0.1:7"]
    assert selected["time-udp"] == [Target("time-udp", host="::1", port=37)]


# --- the fleet, end to end ---------------------------------------------------------------
#
# One /29 of loopback (Linux routes all of 127.0.0.0/8 to lo, so every address of it can be
# bound): its six hosts on ONE port, each a different server. Two reference servers on
# different runners, three mutants each registered to fail one case, and one host where
# nothing listens (a socket bound to it and never listened on holds the port: a connect is
# refused, and nobody else can take it). The suite runs once, against the network.

FLEET_NETWORK = "127.0.0.8/29"
REFERENCE_HOSTS = {"127.0.0.9": "threading", "127.0.0.12": "selectors"}
MUTANT_HOSTS = {
    "127.0.0.10": "echo_utf8_round_trip",
    "127.0.0.11": "echo_drops_buffer_at_eof",
    "127.0.0.13": "echo_dies_on_reset",
}
ABSENT_HOST = "127.0.0.14"
FLEET_SERVICE = "echo-tcp"

# The first host's ephemeral port may be taken on another loopback address (someone bound
# 127.0.0.11:P, or 0.0.0.0:P after our first bind): then all stop and the fleet starts over.
PORT_COLLISION_RETRIES = 3
# The fleet's name in its results and in the merged report (each host a column of its own).
FLEET_LABEL = "fleet"


def _mutant(name: str) -> Mutant:
    (mutant,) = [mutant for mutant in MUTANTS if mutant.name == name]
    return mutant


@contextlib.contextmanager
def fleet_on_one_port() -> Iterator[int]:
    """Serve every host of the fleet on one port; yield that port; stop every server by its id.

    Resource handling: every server started is stopped (by its pid) and the held socket
    closed on every path out, and each server's process group must be gone afterwards.
    """
    last_error: Exception | None = None
    for _ in range(PORT_COLLISION_RETRIES):
        with contextlib.ExitStack() as stack:
            servers: list[RunningServer] = []
            try:
                first_host, first_runner = next(iter(REFERENCE_HOSTS.items()))
                first = launch_command(serve_command(FLEET_SERVICE, first_runner, host=first_host))
                servers.append(first)
                stack.callback(first.stop)
                port = first.port
                held = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
                held.bind((ABSENT_HOST, port))  # never listen(): connects are refused
                for host, runner in list(REFERENCE_HOSTS.items())[1:]:
                    server = launch_command([*serve_command(FLEET_SERVICE, runner, host=host), "--port", str(port)])
                    servers.append(server)
                    stack.callback(server.stop)
                for host, name in MUTANT_HOSTS.items():
                    server = launch_command([*_mutant(name).command(), "--host", host, "--port", str(port)])
                    servers.append(server)
                    stack.callback(server.stop)
            except (LaunchError, OSError) as exc:  # the port was taken on one of the hosts
                last_error = exc
                continue
            assert {server.host for server in servers} == set(REFERENCE_HOSTS) | set(MUTANT_HOSTS)
            yield port
            stack.close()
            survivors = [pid for server in servers for pid in wait_until_process_group_gone(server.pid, 5.0)]
            assert not survivors, f"the fleet left processes running: {survivors}"
            return
    raise AssertionError(f"no port free on every host of {FLEET_NETWORK} after {PORT_COLLISION_RETRIES} tries: {last_error}")


@pytest.mark.slow
def test_one_run_judges_every_host_of_a_network_as_its_own_target(tmp_path: Path) -> None:
    named_cases = sorted({case_id for name in MUTANT_HOSTS.values() for case_id in _mutant(name).must_fail})
    results = tmp_path / "results.json"
    with fleet_on_one_port() as port:
        arguments = [
            "--target", f"{FLEET_SERVICE}={FLEET_NETWORK}:{port}",
            *(f"--case={case_id}" for case_id in named_cases),
            "--results", str(results), "--label", FLEET_LABEL,
            "--case-timeout", "10", "-p", "no:randomly", "-q",
        ]  # fmt: skip
        run = run_pytest_suites(arguments, results, suite_timeout=300, what=f"the fleet {FLEET_NETWORK}:{port}")
    print(f"suite against the fleet: exit status {run.exit_status}, {run.wall_time_s:.1f} s")

    def records_of(host: str) -> dict[str, dict]:
        return {record["id"]: record for record in run.records if record["target"] == f"{host}:{port}"}

    document = json.loads(results.read_text())
    assert document["targets"][FLEET_SERVICE] == [f"127.0.0.{n}:{port}" for n in range(9, 15)]
    assert run.exit_status == EXIT_SOME_CASE_FAILED, run.output[-3000:]
    for host, runner in REFERENCE_HOSTS.items():
        verdicts = {case_id: record["verdict"] for case_id, record in records_of(host).items()}
        assert verdicts == {case_id: Verdict.OK.value for case_id in named_cases}, f"reference {runner} at {host}: {verdicts}"
    for host, name in MUTANT_HOSTS.items():
        records = records_of(host)
        assert sorted(records) == named_cases, f"{name} at {host}: {sorted(records)}"
        for case_id in _mutant(name).must_fail:
            assert records[case_id]["verdict"] == Verdict.FAILED.value, f"{name} at {host}: {records[case_id]}"
        errors = [record for record in records.values() if record["verdict"] == Verdict.ERROR.value]
        assert not errors, f"the harness broke on {name} at {host}: {errors}"
    absent = records_of(ABSENT_HOST)
    assert list(absent) == [f"{FLEET_SERVICE}/reachability/0"], absent
    assert absent[f"{FLEET_SERVICE}/reachability/0"]["verdict"] == Verdict.ERROR.value
    assert absent[f"{FLEET_SERVICE}/reachability/0"]["actual"].startswith(f"connection refused at {ABSENT_HOST}:{port}")
    _check_the_merged_report(results, port, named_cases, tmp_path)


def _check_the_merged_report(results: Path, port: int, named_cases: list[str], tmp_path: Path) -> None:
    """``wirecheck report`` of the fleet's results: every host
    its own column (``LABEL HOST:PORT``) with its verdicts, in the HTML matrix and the JUnit."""
    from harness.cli import main as wirecheck

    html, junit = tmp_path / "report.html", tmp_path / "report.xml"
    assert wirecheck(["report", str(results), "--html", str(html), "--junit", str(junit)]) == 0
    report = merge([results])
    columns = {implementation.name for implementation in report.implementations}
    assert columns == {f"{FLEET_LABEL} 127.0.0.{n}:{port}" for n in range(9, 15)}, columns
    for host, name in MUTANT_HOSTS.items():
        column = f"{FLEET_LABEL} {host}:{port}"
        failed = {row.id for row in report.rows if column in row.cells and row.cells[column].verdict == "FAILED"}
        assert failed >= set(_mutant(name).must_fail), (name, failed)
        assert column in html.read_text()
    suites = ElementTree.parse(junit).getroot().findall("testsuite")
    assert sorted(suite.get("name") for suite in suites) == sorted(columns)
    failures = {suite.get("name"): int(suite.get("failures")) for suite in suites}
    assert all(failures[f"{FLEET_LABEL} {host}:{port}"] == 0 for host in REFERENCE_HOSTS), failures
    assert all(failures[f"{FLEET_LABEL} {host}:{port}"] > 0 for host in MUTANT_HOSTS), failures
