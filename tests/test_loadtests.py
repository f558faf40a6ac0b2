"""The load-test layer: its pieces unit-tested, and every locustfile smoke-run for seconds.

The smoke runs are what CI can afford and what it needs: each concrete user runs headless
against a reference server started with ``launch_server``, and locust's own CSV statistics
must show requests made and none failed. There is no assertion on time or rate: a loaded CI
machine may be slow, never wrong. The comparison itself is a command (``wirecheck compare``),
not a test; one tiny end-to-end run of it checks that it writes what it promises.
"""

from __future__ import annotations

import csv
import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.launch import RunningServer, launch_server
from harness.services import checker_options, get_service, option_environment_variable, per_run_secret_options
from harness.loadgen.histogram import LatencyHistogram
from harness.loadgen.pacing import Pacer
from harness.loadgen.payloads import numbered_payload
from harness.loadgen.recorder import LoadRecorder
from harness.loadgen.targets import (
    BadTargetError,
    NonLoopbackTargetError,
    is_loopback_host,
    parse_target,
    target_variable,
)

REPO_ROOT = Path(__file__).resolve().parent.parent

# Seconds of load per smoke run: enough for thousands of requests on loopback.
SMOKE_RUN_S = 2
# A bound on each locust subprocess: start-up, the run, shutdown, on a loaded machine.
SMOKE_DEADLINE_S = 60

# Every concrete user, its locustfile and the service × runner it is smoke-tested against.
SMOKE_CASES = [
    ("loadtests/echo_tcp.py", "EchoTcpUser", "echo-tcp", "selectors"),
    ("loadtests/echo_tcp.py", "LineEchoTcpUser", "line-echo-tcp", "threading"),
    ("loadtests/datagram_udp.py", "TimeUdpUser", "time-udp", "selectors"),
    ("loadtests/datagram_udp.py", "EchoUdpUser", "echo-udp", "asyncio"),
    ("loadtests/rest_http.py", "RestHelloUser", "rest-http", "asyncio"),
    ("loadtests/xmlrpc_kv.py", "KeyValueUser", "xmlrpc-kv", "threading"),
    ("loadtests/mpconn_echo.py", "MpconnEchoUser", "mpconn-echo", "fd-passing"),
    ("loadtests/auth_echo_tcp.py", "AuthEchoTcpUser", "auth-echo-tcp", "selectors"),
]

# The shared key of the authenticated services in these runs: fresh per test process, given to
# the servers and to locust only through the environment (WIRECHECK_OPTION_AUTHKEY), as
# ``wirecheck compare`` gives it.
LOAD_TEST_SECRET = secrets.token_hex(16)


def launch_loaded_server(service: str, runner: str) -> RunningServer:
    """:func:`launch_server`, with the service's secret options (the shared key) set to
    :data:`LOAD_TEST_SECRET` in its environment."""
    secret_values = {option.name: LOAD_TEST_SECRET for option in per_run_secret_options(get_service(service))}
    return launch_server(service, runner, options=secret_values, secret_options=tuple(secret_values))


# --- pieces ------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_histogram_percentiles_have_10_microsecond_resolution() -> None:
    histogram = LatencyHistogram()
    for value_us in range(1, 1001):  # 1 µs .. 1000 µs, one each
        histogram.record(float(value_us))
    assert histogram.count == 1000
    # The 500th sample, 500 µs, lies in bucket [500, 510): reported as its upper edge.
    assert histogram.percentile(50) == 510.0
    assert histogram.percentile(90) == 910.0
    assert histogram.percentile(99.9) == 1000.0
    assert histogram.percentile(100) == 1000.0  # capped at the exact maximum
    assert histogram.percentile(0) == 10.0


def test_histogram_tells_apart_latencies_locust_rounds_together() -> None:
    histogram = LatencyHistogram()
    for _ in range(90):
        histogram.record(40.0)
    for _ in range(10):
        histogram.record(450.0)
    assert histogram.percentile(50) == 50.0
    assert histogram.percentile(99) == 450.0


def test_histogram_merge_and_json_round_trip_are_exact() -> None:
    first, second = LatencyHistogram(), LatencyHistogram()
    for value in (15.0, 25.0, 2_000_000.0):
        first.record(value)
    for value in (35.0, 3.0):
        second.record(value)
    first.merge(LatencyHistogram.from_json(json.loads(json.dumps(second.to_json()))))
    assert first.count == 5
    assert first.min_us == 3.0 and first.max_us == 2_000_000.0
    assert first.percentile(60) == 30.0
    assert LatencyHistogram.from_json(first.to_json()) == first


def test_empty_histogram_has_no_percentiles() -> None:
    assert LatencyHistogram().percentile(99) is None
    with pytest.raises(ValueError):
        LatencyHistogram().percentile(101)


def test_recorder_counts_stalls_per_connection() -> None:
    clock = FakeClock()
    recorder = LoadRecorder(stall_threshold_s=0.5, clock=clock)
    fast, slow, silent = recorder.new_slot(), recorder.new_slot(), recorder.new_slot()
    recorder.open_window()
    for slot, wait in ((fast, 0.001), (slow, 0.8)):
        recorder.begin_wait(slot)
        clock.now += wait
        recorder.end_wait(slot, replied=True)
    recorder.begin_wait(silent)  # never answered
    clock.now += 1.0
    recorder.close_window()
    assert recorder.connection_counts() == {"connections": 3, "stalled": 2, "timed_out": 0, "starved": 1}


def test_recorder_watchdog_wakes_only_overdue_waits() -> None:
    clock = FakeClock()
    recorder = LoadRecorder(clock=clock)
    woken: list[int] = []
    overdue, fresh = recorder.new_slot(), recorder.new_slot()
    for slot in (overdue, fresh):
        slot.wake = lambda slot_id=slot.slot_id: woken.append(slot_id)
    recorder.begin_wait(overdue)
    clock.now += 3.0
    recorder.begin_wait(fresh)
    assert recorder.expire_overdue(timeout_s=2.0) == 1
    assert woken == [overdue.slot_id] and overdue.expired and not fresh.expired
    assert recorder.expire_overdue(timeout_s=2.0) == 0  # woken once, not again


def test_recorder_window_forgets_warm_up() -> None:
    recorder = LoadRecorder(clock=FakeClock())
    recorder.record_request("tcp-echo", "echo 64B", 0.05, failed=False)
    recorder.record_request("tcp-echo", "echo 64B", None, failed=True, kind="ReplyTimeoutError")
    recorder.open_window()
    recorder.record_request("tcp-echo", "echo 64B", 0.123, failed=False)
    tally = recorder.tallies[("tcp-echo", "echo 64B")]
    assert tally.histogram.count == 1 and tally.failures == 0
    assert tally.histogram.percentile(50) == 123.0  # 0.123 ms is 123 µs: resolution kept
    assert not recorder.failure_kinds


@pytest.mark.parametrize("host", ["127.0.0.1", "127.9.8.7", "::1", "localhost", "LOCALHOST"])
def test_loopback_hosts_are_accepted(host: str) -> None:
    assert is_loopback_host(host)


@pytest.mark.parametrize("text", ["10.0.0.1:7", "192.168.1.2:37", "example.com:7", "udp://8.8.8.8:53", "[2001:db8::1]:7"])
def test_non_loopback_targets_are_refused(text: str) -> None:
    with pytest.raises(NonLoopbackTargetError, match="only target loopback"):
        parse_target(text)


def test_target_forms_and_transport_check() -> None:
    assert parse_target("127.0.0.1:7007").address == ("127.0.0.1", 7007)
    assert parse_target("tcp://localhost:7").scheme == "tcp"
    assert parse_target("udp://[::1]:3737").address == ("::1", 3737)
    with pytest.raises(BadTargetError, match="this user speaks tcp"):
        parse_target("udp://127.0.0.1:7", transport="tcp")
    with pytest.raises(BadTargetError, match="port"):
        parse_target("127.0.0.1")
    assert target_variable("line-echo-tcp") == "WIRECHECK_TARGET_LINE_ECHO_TCP"


def test_echo_payloads_are_numbered_and_sized() -> None:
    make_payload = numbered_payload
    assert len(make_payload(7, 64)) == 64 and make_payload(7, 64).startswith(b"0000000000000007")
    assert make_payload(7, 64) != make_payload(8, 64)
    line = make_payload(7, 100, line=True)
    assert len(line) == 100 and line.endswith(b"\n") and line.count(b"\n") == 1
    assert make_payload(0x1234, 2) == b"34"
    assert make_payload(5, 1, line=True) == b"\n"


def test_open_loop_pacer_keeps_its_schedule_when_late() -> None:
    clock = FakeClock()
    pacer = Pacer(rate_per_s=10.0, clock=clock)
    first = pacer.take_slot()
    assert first == 100.0 and pacer.delay() == pytest.approx(0.1)
    clock.now += 0.35  # the reply came late: the next slots are already due
    assert pacer.delay() == 0.0
    assert pacer.take_slot() == pytest.approx(100.1)  # latency counts from here, not from now
    closed = Pacer(rate_per_s=0.0, clock=clock)
    assert closed.take_slot() is None and closed.delay() == 0.0


# --- smoke runs of every locustfile --------------------------------------------------------


def _locust_environment(secret: str = LOAD_TEST_SECRET) -> dict[str, str]:
    environment = dict(os.environ)
    environment["PYTHONPATH"] = str(REPO_ROOT) + (
        os.pathsep + environment["PYTHONPATH"] if environment.get("PYTHONPATH") else ""
    )
    for option in checker_options().values():
        if option.secret:
            environment[option_environment_variable(option)] = secret
    return environment


def _run_locust(
    arguments: list[str], csv_prefix: Path, environment: dict[str, str], *, request_timeout_s: float = 2.0,
    users: int = 4,
) -> subprocess.CompletedProcess:
    command = [
        sys.executable, "-m", "locust", *arguments, "--headless", "-u", str(users), "-r", str(users),
        "-t", f"{SMOKE_RUN_S}s", "--only-summary", "--csv", str(csv_prefix),
        "--request-timeout", f"{request_timeout_s:g}",
    ]
    return subprocess.run(
        command, cwd=REPO_ROOT, env=environment, capture_output=True, text=True, timeout=SMOKE_DEADLINE_S
    )


def _stats_rows(csv_prefix: Path) -> dict[tuple[str, str], dict[str, str]]:
    with open(f"{csv_prefix}_stats.csv", newline="") as stats_file:
        return {(row["Type"], row["Name"]): row for row in csv.DictReader(stats_file)}


def _failures_text(csv_prefix: Path) -> str:
    """locust's failures file (type, name, error, occurrences): what a failed assertion shows,
    so that a failure seen once on a CI machine says what it was."""
    failures_file = Path(f"{csv_prefix}_failures.csv")
    return failures_file.read_text() if failures_file.exists() else "(no failures file)"


@pytest.mark.parametrize("locustfile, user_class, service, runner", SMOKE_CASES, ids=[case[1] for case in SMOKE_CASES])
def test_locustfile_smoke(locustfile: str, user_class: str, service: str, runner: str, tmp_path: Path) -> None:
    with launch_loaded_server(service, runner) as server:
        result = _run_locust(
            ["-f", locustfile, user_class, "--host", f"{server.host}:{server.port}"],
            tmp_path / "smoke",
            _locust_environment(),
        )
    rows = _stats_rows(tmp_path / "smoke")
    aggregated = rows[("", "Aggregated")]
    assert int(aggregated["Request Count"]) > 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert int(aggregated["Failure Count"]) == 0, _failures_text(tmp_path / "smoke") + result.stderr[-2000:]
    assert result.returncode == 0
    assert "wirecheck latency, µs (closed-loop" in result.stdout  # our µs table is printed


def test_locust_directory_runs_every_user_against_its_own_server(tmp_path: Path) -> None:
    environment = _locust_environment()
    servers = [launch_loaded_server(service, runner) for _, _, service, runner in SMOKE_CASES]
    try:
        for (_, _, service, _), server in zip(SMOKE_CASES, servers):
            environment[target_variable(service)] = f"{server.host}:{server.port}"
        # At least one user per class, or locust leaves a class without any.
        result = _run_locust(["-f", "loadtests/"], tmp_path / "all", environment, users=len(SMOKE_CASES))
    finally:
        for server in servers:
            server.stop()
    rows = _stats_rows(tmp_path / "all")
    request_types = {request_type for request_type, _ in rows if request_type}
    assert {
        "tcp-echo", "tcp-line-echo", "udp-time", "udp-echo", "GET", "xmlrpc-call", "mpconn-echo", "auth-echo",
    } <= request_types, result.stderr[-2000:]
    for (request_type, _), row in rows.items():
        assert int(row["Failure Count"]) == 0, (request_type, _failures_text(tmp_path / "all"), result.stderr[-2000:])
    assert int(rows[("", "Aggregated")]["Request Count"]) > 0


def test_a_non_loopback_host_is_refused_before_any_load(tmp_path: Path) -> None:
    result = _run_locust(
        ["-f", "loadtests/echo_tcp.py", "EchoTcpUser", "--host", "192.0.2.1:7"], tmp_path / "refused", _locust_environment()
    )
    assert result.returncode == 2
    assert "refusing to send load to '192.0.2.1'" in result.stderr


def test_open_loop_requests_are_labelled(tmp_path: Path) -> None:
    with launch_server("echo-tcp", "selectors") as server:
        result = _run_locust(
            ["-f", "loadtests/echo_tcp.py", "EchoTcpUser", "--host", f"{server.host}:{server.port}",
             "--open-loop-rate", "200", "--latency-report", str(tmp_path / "report.json")],
            tmp_path / "open",
            _locust_environment(),
        )
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["mode"] == "open-loop", result.stderr[-2000:]
    echo = [entry for entry in report["requests"] if entry["request_type"] == "tcp-echo"]
    assert echo and echo[0]["name"].endswith("[open-loop]") and echo[0]["count"] > 0
    assert echo[0]["failures"] == 0


# --- wirecheck compare ----------------------------------------------------------------------


@pytest.mark.parametrize("service", ["mpconn-echo", "auth-echo-tcp"])
def test_compare_gives_an_authenticated_service_a_fresh_key_in_the_environment_only(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.compare.run import per_run_secrets

    (option,) = per_run_secret_options(get_service(service))
    variable = option_environment_variable(option)
    monkeypatch.delenv(variable, raising=False)
    with per_run_secrets(get_service(service)):
        first = os.environ[variable]
    assert variable not in os.environ  # restored
    with per_run_secrets(get_service(service)):
        second = os.environ[variable]
    assert len(first) == 64 and first != second  # random per run
    monkeypatch.setenv(variable, "the-user's-own-key")
    with per_run_secrets(get_service(service)):
        assert os.environ[variable] == "the-user's-own-key"  # a key the user set is the one used
    assert os.environ[variable] == "the-user's-own-key"


@pytest.mark.slow
def test_compare_writes_json_table_and_charts(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = subprocess.run(
        [
            sys.executable, "-m", "harness", "compare", "--service", "echo-tcp", "--runners", "selectors",
            "--users", "2", "--duration", "0.5", "--warmup", "0.2", "--repeat", "1", "--out", str(out),
        ],
        cwd=REPO_ROOT, env=_locust_environment(), capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    document = json.loads((out / "compare.json").read_text())
    assert document["leftover_processes"] == []
    (point,) = document["points"]
    assert point["runner"] == "selectors" and point["users"] == 2
    assert point["rps"] > 0 and point["failures"] == 0
    assert point["server_cpu_cores"] is not None and point["generator_cpu_cores"] is not None
    assert "rps" in document["generator_ceiling"]
    assert "selectors" in document["threaded_client"]
    markdown = (out / "compare.md").read_text()
    assert "| selectors | 2 |" in markdown
    assert "1 repetition(s), 0.2 s warm-up, 0.5 s windows: indicative" in markdown  # a short run says so
    assert list((out / "points").glob("*.html"))
    reference = document["server_bound_reference"]
    assert "ratio" in reference or "no CPU cap" in reference["error"], reference
    assert (out / "throughput.png").stat().st_size > 0 and (out / "p99.png").stat().st_size > 0


def test_server_cpu_budget_holds_every_server_and_is_reported(tmp_path: Path) -> None:
    """``--server-cpu``: every runner's server in a CPU-capped cgroup, the cap stated in the output."""
    from harness.loadgen.cpu_cap import CpuCap, CpuCapUnavailable

    try:
        CpuCap(0.2, name="wirecheck-test-probe").close()
    except CpuCapUnavailable as error:  # a kernel facility the feature needs: fail, do not hide it
        pytest.fail(f"--server-cpu needs a cgroup cpu controller, and this machine has none: {error}")
    out = tmp_path / "out"
    result = subprocess.run(
        [
            sys.executable, "-m", "harness", "compare", "--service", "echo-tcp", "--runners", "selectors",
            "--users", "2", "--duration", "0.5", "--warmup", "0.2", "--repeat", "1", "--server-cpu", "0.2",
            "--out", str(out),
        ],
        cwd=REPO_ROOT, env=_locust_environment(), capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    document = json.loads((out / "compare.json").read_text())
    assert document["settings"]["server_cpu"] == 0.2
    assert document["settings"]["server_cpu_cap"].startswith("20% of one core")
    (point,) = document["points"]
    assert point["rps"] > 0 and point["failures"] == 0
    # The kernel's throttling count is read from each capped server's cgroup: proof it was in one.
    assert all(sample["throttled_periods"] is not None for sample in point["samples"])
    assert all(sample["throttled_periods"] is not None for sample in document["threaded_client"]["selectors"]["samples"])
    assert "throttled_periods" not in document["generator_ceiling"]["samples"][0]  # the ceiling stays uncapped
    markdown = (out / "compare.md").read_text()
    assert "Server CPU budget: every runner's server" in markdown and "(`--server-cpu 0.2`)" in markdown


@pytest.mark.parametrize("fraction", ["0", "-1", "99", "half"])
def test_server_cpu_outside_the_machine_is_a_one_line_error(fraction: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "harness", "compare", "--service", "echo-tcp", "--server-cpu", fraction,
         "--out", str(tmp_path)],
        cwd=REPO_ROOT, env=_locust_environment(), capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "--server-cpu takes a share of a core in (0, " in result.stderr
    assert not (tmp_path / "compare.json").exists()


def test_server_cpu_without_a_cgroup_controller_is_a_one_line_error(monkeypatch, tmp_path: Path) -> None:
    from harness.compare.command import describe_server_cpu_budget
    from harness.loadgen import cpu_cap
    from harness.usage import UsageError

    monkeypatch.setattr(cpu_cap, "CGROUP_ROOT", tmp_path)  # a cgroup root with no controller
    with pytest.raises(UsageError) as raised:
        describe_server_cpu_budget(0.5)
    assert "needs a cgroup cpu controller: no cgroup cpu controller" in str(raised.value)
    assert "\n" not in str(raised.value)


def test_generator_bound_points_are_flagged() -> None:
    from harness.compare.aggregation import generator_bound_reasons
    from harness.compare.records import Point

    assert generator_bound_reasons(Point(generator_cpu_cores=0.95, rps=100.0), 10_000.0) == [
        "generator CPU 95% of its core"
    ]
    assert generator_bound_reasons(Point(generator_cpu_cores=0.5, rps=9_500.0), 10_000.0) == [
        "rate 95% of the generator ceiling"
    ]
    assert generator_bound_reasons(Point(generator_cpu_cores=0.5, rps=5_000.0), 10_000.0) == []


def test_repetitions_report_the_median_and_the_spread() -> None:
    from harness.compare.aggregation import aggregate
    from harness.compare.records import ConnectionCounts, Latency, LocustSample

    def sample(rps: float, p99: float, stalled: int) -> LocustSample:
        return LocustSample(
            rps=rps, latency_us=Latency(p50=10.0, p90=20.0, p99=p99, p99_9=2 * p99, max=3 * p99),
            connections=ConnectionCounts(stalled=stalled, stall_threshold_ms=500.0),
            server_cpu_cores=0.5, server_peak_rss_kib=1000, generator_cpu_cores=0.6,
        )

    point = aggregate([sample(100.0, 50.0, 0), sample(300.0, 70.0, 2), sample(200.0, 60.0, 1)])
    assert point.rps == 200.0 and (point.rps_min, point.rps_max) == (100.0, 300.0)
    assert point.latency_us.p99 == 60.0
    assert point.stalled_connections == 2  # the worst repetition
    assert point.to_json()["latency_us"]["p99.9"] == 120.0  # compare.json keeps its keys


def test_only_points_with_generator_slack_count_as_server_bound() -> None:
    from harness.compare.aggregation import is_server_bound
    from harness.compare.records import Point

    assert is_server_bound(Point(generator_cpu_cores=0.6, rps=10_000.0), 45_000.0)  # raw: one connection served
    assert not is_server_bound(Point(generator_cpu_cores=0.89, rps=40_000.0), 45_000.0)  # ambiguous
    assert not is_server_bound(Point(generator_cpu_cores=0.6, rps=40_000.0), 45_000.0)  # near the ceiling
    assert not is_server_bound(Point(generator_cpu_cores=0.6, rps=10_000.0), None)  # no ceiling measured


def test_goal_one_is_judged_on_the_cpu_capped_reference() -> None:
    from harness.compare.goals import evaluate_service_goals, format_goals
    from harness.compare.records import Comparison, Point, ServerBoundReference, Settings, ThreadedResult
    from harness.services import SERVICES

    profile = SERVICES["echo-tcp"].load_profile
    assert profile is not None

    def comparison(reference: ServerBoundReference) -> Comparison:
        return Comparison(
            service="echo-tcp", settings=Settings(service="echo-tcp"), generator_ceiling=Point(rps=40_000.0),
            server_bound_reference=reference,
        )

    def reference(locust_rps: float, threaded_rps: float) -> ServerBoundReference:
        return ServerBoundReference(
            runner="selectors", users=50, cpu_cap=0.1, cap="10% of one core", ratio=locust_rps / threaded_rps,
            ratio_min=0.9 * locust_rps / threaded_rps, ratio_max=locust_rps / threaded_rps,
            locust=Point(rps=locust_rps, server_cpu_cores=0.1, generator_cpu_cores=0.3),
            threaded=ThreadedResult(rps=threaded_rps, server_cpu_cores=0.1, cpu_cores=0.15),
        )

    met = evaluate_service_goals(profile, comparison(reference(11_000.0, 12_000.0)))[0]
    assert met.passed and abs(met.figures["reference_ratio"] - 11 / 12) < 1e-9
    assert "locust/threaded **0.92**" in "\n".join(format_goals([met]))
    assert not evaluate_service_goals(profile, comparison(reference(10_000.0, 12_000.0)))[0].passed  # 0.83
    unmeasured = evaluate_service_goals(
        profile, comparison(ServerBoundReference(runner="selectors", error="no CPU cap on this machine: no controller"))
    )[0]
    assert not unmeasured.passed and unmeasured.note is not None and "no CPU cap" in unmeasured.note


def test_starvation_goal_covers_every_one_client_at_a_time_runner() -> None:
    from harness.compare.records import Comparison, Point, Settings
    from harness.goals.echo import starvation_goal
    from harness.runners import one_client_at_a_time_runners

    serial = sorted(one_client_at_a_time_runners())
    points = [Point(runner=runner, users=50, rps=100.0, stalled_connections=49) for runner in serial]
    goal = starvation_goal(Comparison(service="echo-tcp", settings=Settings(), points=points))
    assert goal.passed and all(runner in goal.goal for runner in serial)
    points[0].stalled_connections = 3
    assert not starvation_goal(Comparison(service="echo-tcp", settings=Settings(), points=points)).passed


def test_cpu_cap_holds_a_busy_process_to_its_share() -> None:
    from harness.loadgen import procstat
    from harness.loadgen.cpu_cap import CpuCap, CpuCapUnavailable

    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
    try:
        try:
            cap = CpuCap(0.2, name="wirecheck-test-cap")
        except CpuCapUnavailable as error:  # a kernel facility, not an installable dependency
            pytest.skip(f"no cpu cgroup here: {error}")
        with cap:
            assert cap.add_tree(spinner.pid) == [spinner.pid]
            before = procstat.process_cpu_seconds(spinner.pid)
            window = 1.5
            time.sleep(window)  # the behaviour under test: CPU used over a window of wall time
            used = procstat.process_cpu_seconds(spinner.pid) - before
            assert used / window < 0.5, f"capped at 20 % of a core, the spinner used {used / window:.0%}"
            assert cap.throttled_periods()
        assert not cap.path.exists()  # the cgroup is gone, the spinner back in the root group
    finally:
        spinner.kill()
        spinner.wait()


# --- the users catch broken servers ----------------------------------------------------------

# A REST name prefix with markup and a non-ASCII letter: pages greeting it catch an unescaped
# name and a Content-Length counted in characters (the control test shows it passes otherwise).
REST_NAME_PREFIX = "<i>Länge</i>-"

# (locustfile, user, mutant, extra locust options, request type that must record failures)
BROKEN_SERVER_CASES = [
    ("loadtests/echo_tcp.py", "EchoTcpUser", "echo_quota", ["--payload-bytes", "16384"], "tcp-echo"),
    ("loadtests/echo_tcp.py", "EchoTcpUser", "echo_resets_every_connection", [], "tcp-echo"),
    ("loadtests/datagram_udp.py", "TimeUdpUser", "time_udp_little_endian", [], "udp-time"),
    ("loadtests/datagram_udp.py", "EchoUdpUser", "echo_udp_truncates", ["--payload-bytes", "9000"], "udp-echo"),
    # The REST user greeting REST_NAME_PREFIX names: an application that does not escape the
    # name, and a server whose Content-Length counts characters, not octets (the page's end is
    # read as the start of the next response).
    ("loadtests/rest_http.py", "RestHelloUser", "rest_http_unescaped_name", ["--name-prefix", REST_NAME_PREFIX], "GET"),
    ("loadtests/rest_http.py", "RestHelloUser", "http_content_length_in_characters", ["--name-prefix", REST_NAME_PREFIX], "GET"),
    # The authenticated services' users, keyed as the zoo's mutants are (MUTANT_ZOO_AUTHKEY):
    # a Listener whose frame lengths are little-endian fails every handshake at its challenge;
    # an auth-echo that wants the recipe's 16-byte HMAC-MD5 refuses every right answer.
    ("loadtests/mpconn_echo.py", "MpconnEchoUser", "mpconn_little_endian", [], "mpconn-handshake"),
    ("loadtests/auth_echo_tcp.py", "AuthEchoTcpUser", "auth_echo_md5", [], "auth-handshake"),
]


@pytest.mark.parametrize(
    "locustfile, user_class, mutant_name, options, request_type", BROKEN_SERVER_CASES,
    ids=[case[2] for case in BROKEN_SERVER_CASES],
)
def test_load_users_count_a_broken_server_s_replies_as_failures(
    locustfile: str, user_class: str, mutant_name: str, options: list[str], request_type: str, tmp_path: Path
) -> None:
    from fixtures.mutants import MUTANT_ZOO_AUTHKEY, MUTANTS
    from harness.launch import launch_command

    (mutant,) = [candidate for candidate in MUTANTS if candidate.name == mutant_name]
    with launch_command(mutant.command()) as server:
        result = _run_locust(
            ["-f", locustfile, user_class, "--host", f"{server.host}:{server.port}", *options],
            tmp_path / "broken",
            _locust_environment(MUTANT_ZOO_AUTHKEY),
            request_timeout_s=0.5,
        )
    rows = _stats_rows(tmp_path / "broken")
    failures = sum(int(row["Failure Count"]) for (kind, _), row in rows.items() if kind == request_type)
    assert failures > 0, result.stdout[-2000:] + result.stderr[-2000:]


def test_the_rest_user_s_markup_and_non_ascii_names_pass_on_a_correct_server(tmp_path: Path) -> None:
    """The control of the REST kills above: the same names on the reference server, no failure."""
    with launch_server("rest-http", "threading") as server:
        result = _run_locust(
            ["-f", "loadtests/rest_http.py", "RestHelloUser", "--host", f"{server.host}:{server.port}",
             "--name-prefix", REST_NAME_PREFIX],
            tmp_path / "control",
            _locust_environment(),
        )
    aggregated = _stats_rows(tmp_path / "control")[("", "Aggregated")]
    assert int(aggregated["Request Count"]) > 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert int(aggregated["Failure Count"]) == 0, _failures_text(tmp_path / "control") + result.stderr[-2000:]


@pytest.mark.parametrize(
    "locustfile, user_class, service, handshake_type, echo_type",
    [
        ("loadtests/mpconn_echo.py", "MpconnEchoUser", "mpconn-echo", "mpconn-handshake", "mpconn-echo"),
        ("loadtests/auth_echo_tcp.py", "AuthEchoTcpUser", "auth-echo-tcp", "auth-handshake", "auth-echo"),
    ],
    ids=["mpconn-echo", "auth-echo-tcp"],
)
def test_a_user_with_the_wrong_key_fails_every_handshake_and_echoes_nothing(
    locustfile: str, user_class: str, service: str, handshake_type: str, echo_type: str, tmp_path: Path
) -> None:
    with launch_loaded_server(service, "selectors") as server:
        result = _run_locust(
            ["-f", locustfile, user_class, "--host", f"{server.host}:{server.port}"],
            tmp_path / "wrong-key",
            _locust_environment(secret="not-" + LOAD_TEST_SECRET),
            users=2,
        )
    rows = _stats_rows(tmp_path / "wrong-key")
    handshakes = [row for (kind, _), row in rows.items() if kind == handshake_type]
    assert handshakes, result.stdout[-2000:] + result.stderr[-2000:]
    assert all(int(row["Failure Count"]) == int(row["Request Count"]) > 0 for row in handshakes), handshakes
    echoed = sum(int(row["Request Count"]) - int(row["Failure Count"]) for (kind, _), row in rows.items() if kind == echo_type)
    assert echoed == 0


# --- locust's distributed mode ---------------------------------------------------------------


def _free_loopback_port() -> int:
    """An ephemeral port for locust's master (it cannot take port 0 and report the choice);
    the port could be taken between this and the master's bind, which would fail the test
    loudly, not wrongly."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_a_master_and_two_local_workers_merge_their_load(tmp_path: Path) -> None:
    environment = _locust_environment()
    port = _free_loopback_port()
    locustfile = ["-f", "loadtests/echo_tcp.py", "EchoTcpUser"]
    with launch_server("echo-tcp", "selectors") as server:
        workers = [
            subprocess.Popen(
                [sys.executable, "-m", "locust", *locustfile, "--worker", "--master-host", "127.0.0.1",
                 "--master-port", str(port)],
                cwd=REPO_ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            for _ in range(2)
        ]
        try:
            master = subprocess.run(
                [sys.executable, "-m", "locust", *locustfile, "--master", "--master-bind-host", "127.0.0.1",
                 "--master-bind-port", str(port), "--expect-workers", "2", "--expect-workers-max-wait", "30",
                 "--host", f"{server.host}:{server.port}", "--headless", "-u", "8", "-r", "8", "-t", "15s",
                 "--warmup", "1", "--measure", "2", "--only-summary", "--csv", str(tmp_path / "master"),
                 "--latency-report", str(tmp_path / "report.json")],
                cwd=REPO_ROOT, env=environment, capture_output=True, text=True, timeout=SMOKE_DEADLINE_S,
            )
            for worker in workers:
                worker.wait(timeout=15)  # the master's quit stops its workers
        finally:
            for worker in workers:
                if worker.poll() is None:
                    os.killpg(worker.pid, 9)
                    worker.wait()
    report = json.loads((tmp_path / "report.json").read_text())
    echo = [entry for entry in report["requests"] if entry["request_type"] == "tcp-echo"]
    assert echo and echo[0]["count"] > 0 and echo[0]["failures"] == 0, master.stderr[-2000:]
    assert report["connections"]["connections"] == 8  # 4 users on each worker, counts merged
    # Our merged histograms hold what locust's own merged statistics hold for the window,
    # including each worker's final report, which reaches the master after its window closed
    # (a window shorter than the 3 s report interval is all in that final report).
    locust_count = int(_stats_rows(tmp_path / "master")[("tcp-echo", "echo 64B")]["Request Count"])
    assert 0.9 * locust_count <= echo[0]["count"] <= 1.02 * locust_count, (echo[0]["count"], locust_count)


# --- the web UI ---------------------------------------------------------------------------------


def test_the_web_ui_starts_a_run_and_reports_it(tmp_path: Path) -> None:
    """``locust -f loadtests/`` with its web UI: a swarm started over HTTP, as the form does."""
    import requests

    web_port = _free_loopback_port()
    base = f"http://127.0.0.1:{web_port}"
    with launch_server("echo-tcp", "selectors") as server:
        ui = subprocess.Popen(
            [sys.executable, "-m", "locust", "-f", "loadtests/echo_tcp.py", "EchoTcpUser",
             "--web-host", "127.0.0.1", "--web-port", str(web_port)],
            cwd=REPO_ROOT, env=_locust_environment(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + SMOKE_DEADLINE_S
            # Poll until the UI answers: locust logs "Starting web interface" before it binds
            # (delayed start) and logs nothing once it listens, so there is no line to wait for.
            while True:
                try:
                    assert requests.get(base + "/", timeout=2).status_code == 200
                    break
                except requests.ConnectionError:
                    assert ui.poll() is None, ui.stderr.read().decode()[-2000:] if ui.stderr else ""
                    assert time.monotonic() < deadline, "the web UI did not come up"
                    time.sleep(0.2)  # bounded by the deadline above
            started = requests.post(
                base + "/swarm", timeout=5,
                data={"user_count": 4, "spawn_rate": 4, "host": f"{server.host}:{server.port}"},
            )
            assert started.json()["success"], started.text
            requests_seen = failures = 0
            while requests_seen == 0 and time.monotonic() < deadline:
                time.sleep(0.2)  # the UI's statistics have no event to wait on: poll, bounded
                stats = requests.get(base + "/stats/requests", timeout=5).json()
                requests_seen = sum(row["num_requests"] for row in stats["stats"] if row["name"] != "Aggregated")
                failures = sum(row["num_failures"] for row in stats["stats"] if row["name"] != "Aggregated")
            requests.get(base + "/stop", timeout=5)
        finally:
            os.killpg(ui.pid, 9)
            ui.wait()
    assert requests_seen > 0 and failures == 0


def test_the_table_says_when_a_point_beat_the_generator_ceiling() -> None:
    """The ceiling is one run against a runner picked beforehand; a faster point is pointed out."""
    from harness.compare.records import Comparison
    from harness.compare.report import markdown_table

    document = json.loads((REPO_ROOT / "loadtests" / "results" / "echo-tcp" / "compare.json").read_text())
    comparison = Comparison.from_json(document)  # a committed document still loads
    fastest = max(point.rps or 0.0 for point in comparison.points)
    comparison.generator_ceiling.rps = fastest / 1.10
    assert "is 10% above it" in markdown_table(comparison)
    comparison.generator_ceiling.rps = fastest * 1.01
    assert "above it" not in markdown_table(comparison)
