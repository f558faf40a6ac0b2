"""A target where nothing listens is ONE ERROR before any case, not a column of FAILED cases.

harness/reachability.py probes; harness/pytest_reachability.py turns an absent target into
one ERROR record. "Nothing listens" is made certain, not hoped for: a TCP socket bound but
not listening holds its port (a connect to it is refused, and no other process can take
it); a UDP port is one that was bound and released (nobody else binds it in the moment
between, on an ephemeral port).

Cost: the probe tests take about 2 s; the suite run is one pytest start-up (5-15 s on a
loaded machine), no case is run.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Iterator

import pytest

from fixtures.suite_run import EXIT_SOME_CASE_FAILED, run_pytest_suites
from harness.cases import Target
from harness.pytest_reachability import TargetReachability
from harness.reachability import ProbeTarget, find_absent, probe_datagram, probe_stream
from harness.verdicts import Verdict


@pytest.fixture
def refusing_tcp_port() -> Iterator[int]:
    """A loopback TCP port bound by us and never listened on: every connect is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        yield held.getsockname()[1]


@pytest.fixture
def listening_tcp_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def unbound_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_stream_probe_reports_refusal_and_accepts_a_listener(refusing_tcp_port: int, listening_tcp_port: int) -> None:
    reason = probe_stream("127.0.0.1", refusing_tcp_port)
    assert reason is not None and reason.startswith(f"connection refused at 127.0.0.1:{refusing_tcp_port} (3 attempts")
    assert probe_stream("127.0.0.1", listening_tcp_port) is None


def test_a_datagram_probe_hears_icmp_port_unreachable_and_tolerates_silence() -> None:
    port = unbound_udp_port()
    reason = probe_datagram("127.0.0.1", port)
    assert reason == f"connection refused at 127.0.0.1:{port} (udp: ICMP port unreachable)"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:  # bound, never answers
        silent.bind(("127.0.0.1", 0))
        assert probe_datagram("127.0.0.1", silent.getsockname()[1]) is None
        assert silent.recv(100).startswith(b"wirecheck")  # the probe was not empty


def test_find_absent_returns_only_the_absent(refusing_tcp_port: int, listening_tcp_port: int) -> None:
    absent_tcp = ProbeTarget("127.0.0.1", refusing_tcp_port, "tcp")
    absent_on_ipv6 = ProbeTarget("::1", refusing_tcp_port, "tcp")  # ours holds only IPv4's port
    present = ProbeTarget("127.0.0.1", listening_tcp_port, "tcp")
    found = find_absent([absent_tcp, present, absent_tcp])
    assert list(found) == [absent_tcp]
    assert present not in find_absent([present, absent_on_ipv6])


def test_the_suite_gives_one_error_per_absent_target_and_runs_none_of_its_cases(
    tmp_path: Path, refusing_tcp_port: int
) -> None:
    udp_port = unbound_udp_port()
    results = tmp_path / "results.json"
    arguments = [
        "--target", f"echo-tcp=127.0.0.1:{refusing_tcp_port}",
        "--target", f"time-udp=127.0.0.1:{udp_port}",
        "--results", str(results), "-p", "no:randomly", "-q",
    ]  # fmt: skip
    run = run_pytest_suites(arguments, results, suite_timeout=120, what="two absent targets")
    assert run.exit_status == EXIT_SOME_CASE_FAILED, run.output[-3000:]
    records = {record["id"]: record for record in run.records}
    assert sorted(records) == ["echo-tcp/reachability/0", "time-udp/reachability/0"], run.output[-3000:]
    echo, time_udp = records["echo-tcp/reachability/0"], records["time-udp/reachability/0"]
    assert echo["verdict"] == time_udp["verdict"] == Verdict.ERROR.value
    assert echo["target"] == f"127.0.0.1:{refusing_tcp_port}"
    assert echo["actual"].startswith(f"connection refused at 127.0.0.1:{refusing_tcp_port}")
    assert time_udp["actual"].startswith(f"connection refused at 127.0.0.1:{udp_port} (udp: ICMP port unreachable)")
    assert "none of its" in echo["actual"] and "cases was run" in echo["actual"]
    document = json.loads(results.read_text())
    assert document["summary"]["ERROR"] == 2 and document["summary"]["FAILED"] == 0
    assert f"ERROR         echo-tcp/reachability/0 @ 127.0.0.1:{refusing_tcp_port} (MUST): connection refused" in run.output


class FakeConfig:
    def __init__(self, workerinput: dict | None = None) -> None:
        if workerinput is not None:
            self.workerinput = workerinput


def test_only_running_targets_are_probed_and_workers_take_the_controllers_findings(refusing_tcp_port: int) -> None:
    absent = Target("echo-tcp", host="127.0.0.1", port=refusing_tcp_port)
    targets = {"echo-tcp": [Target("echo-tcp", runner="threading"), absent]}
    controller = TargetReachability(FakeConfig(), targets, lambda item: None)  # type: ignore[arg-type]
    assert list(controller.absent) == [absent]  # the reference runner is launched, not probed

    class FakeNode:
        workerinput: dict = {}

    node = FakeNode()
    controller.pytest_configure_node(node)
    # A worker probes nothing (every worker must collect the same items): port 1 has no listener
    # either, yet only the target the controller found absent is absent on the worker.
    targets_elsewhere = {"echo-tcp": [Target("echo-tcp", host="127.0.0.1", port=1), absent]}
    worker = TargetReachability(FakeConfig(node.workerinput), targets_elsewhere, lambda item: None)  # type: ignore[arg-type]
    assert worker.absent == controller.absent
