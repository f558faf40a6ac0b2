"""One measurement: a pinned (and optionally CPU-capped) server, one generator subprocess.

How locust is driven, and why: **one locust subprocess per measurement**
(``python -m locust -f loadtests/... --headless -u N -r ... --warmup W --measure S``).

- It is exactly the command a user would run, recorded in compare.json, so every point can
  be reproduced by hand, and its HTML report and CSV files are locust's own.
- Each point starts from a fresh generator: no greenlets, sockets or statistics carried over
  from the previous point (1000 users leave 1000 sockets in TIME_WAIT and a heap to match).
- The generator is a process of its own, so it is pinned to its core with
  ``sched_setaffinity`` before it starts (``preexec_fn``), and its CPU is its own, not
  shared with this orchestrator's bookkeeping.
- The measurement window is timed *inside* locust by wirecheck's plugin (the window opens
  ``--warmup`` seconds after spawning completes and closes ``--measure`` seconds later), and
  the plugin reads the server's CPU from /proc at the window's edges (``--watch-pid``), so
  server and generator costs cover the same interval, with no guessing from outside.
- The cost, about half a second of interpreter start-up per point, falls outside the window.

The alternative, locust as a library (``Environment`` + ``LocalRunner``) in this process,
would save that half second but share one gevent hub, one heap and one set of statistics
across the sweep, and would monkey-patch this orchestrator's own process management.

Pinning: the server must run on core 0 and locust on core 1. ``launch_server`` cannot set a
child's affinity, so this process pins *itself* to core 0 just while it starts the server (a
forked child inherits the mask, and so do all the threads and processes the server creates
later), returns to core 1, then checks every thread of the server's tree
(``procstat.start_on_cores``).
With fewer than two cores nothing is pinned and the report says so.

A CPU budget (:func:`server_under_test` with ``cpu_share``) puts the server's whole tree in a
cgroup with a CFS quota (harness/loadgen/cpu_cap.py), so the server, not the generator, is
the limit; the kernel's count of throttled periods is recorded with each sample as proof.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from harness.compare.records import ConnectionCounts, Latency, LocustSample, Settings, ThreadedSample
from harness.launch import LaunchError, RunningServer, launch_command, launch_server
from harness.loadgen import procstat
from harness.loadgen.cpu_cap import CpuCap, CpuCapUnavailable
from harness.loadgen.profile import LoadProfile

REPO_ROOT = Path(__file__).resolve().parent.parent.parent

# The core for the server and the core for the generator (this project's machines have 2).
SERVER_CORE = 0
GENERATOR_CORE = 1
SERVER_CPUS = {SERVER_CORE}
GENERATOR_CPUS = {GENERATOR_CORE}

# All users start at once: locust dispatches floor(-r) users per one-second step, so -r equal
# to the user count is a single step. The burst of connects (1000 at most) fits the servers'
# backlog of 4096, and the warm-up that follows keeps the burst out of the window. Allowed for
# in the run-time bounds below:
SPAWN_ALLOWANCE_S = 1.0

# locust's own -t: the window's end stops the run; this is only the backstop for a run whose
# window never opened (spawning never completed).
RUN_TIME_MARGIN_S = 15.0
# And our backstop on the subprocess itself, beyond -t.
PROCESS_DEADLINE_MARGIN_S = 30.0


class CompareError(RuntimeError):
    """The comparison cannot run as asked (the message says why)."""


# What :func:`server_under_test` raises when a server cannot be measured; the measurement is
# then recorded as not made, with the reason, and the sweep goes on.
SERVER_FAILURES: tuple[type[Exception], ...] = (LaunchError, CompareError, CpuCapUnavailable)


def pin_self(cpus: set[int], pinned: bool) -> None:
    """Restrict this process to ``cpus`` (children inherit the mask); nothing when not pinning."""
    if pinned:
        os.sched_setaffinity(0, cpus)


def launch_pinned_server(service: str, runner: str, settings: Settings) -> RunningServer:
    """Start ``service`` on ``runner`` (or the external target of that name) with every thread
    and child on the server core.

    Raises:
        LaunchError: the server did not come up.
        CompareError: pinning could not be verified.

    Resource handling: the caller owns the returned server and must stop it.
    """
    external = settings.external_targets.get(runner)

    def start() -> RunningServer:
        if external is not None:  # a third-party server: its command prints the READY line
            return launch_command(external, env=generator_environment(), cwd=str(REPO_ROOT))
        return launch_server(service, runner)

    if not settings.pinned:
        return start()
    try:
        return procstat.start_on_cores(start, SERVER_CPUS)
    except procstat.NotPinned as error:
        raise CompareError(f"server {runner} not pinned to core {SERVER_CORE}: {error}") from None


def _alive(pid: int) -> bool:
    fields = procstat._read_stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def stop_server(server: RunningServer) -> list[int]:
    """Stop the server; return the pids of its tree still alive afterwards (should be none)."""
    tree_before = procstat.process_tree(server.pid)
    server.stop()
    return [pid for pid in tree_before if _alive(pid)]


@dataclass
class ServerUnderTest:
    """A running server and, when it has one, the CPU budget that holds it."""

    server: RunningServer
    cap: CpuCap | None = None

    def throttled_periods(self) -> int | None:
        return self.cap.throttled_periods() if self.cap is not None else None


@contextmanager
def server_under_test(
    service: str, runner: str, settings: Settings, leftovers: list[int], *, cpu_share: float | None = None
) -> Iterator[ServerUnderTest]:
    """A pinned server of ``service`` on ``runner``, held to ``cpu_share`` of a core if given.

    Args:
        leftovers: the pids of the server's tree still alive after its stop are appended.

    Raises:
        LaunchError, CompareError: the server did not start or could not be pinned.
        CpuCapUnavailable: ``cpu_share`` was asked for and no cpu cgroup can hold it.

    Resource handling: the server is stopped and the cgroup removed when the block ends.
    """
    server = launch_pinned_server(service, runner, settings)
    try:
        if cpu_share is None:
            yield ServerUnderTest(server)
        else:
            with CpuCap(cpu_share) as cap:
                cap.add_tree(server.pid)
                yield ServerUnderTest(server, cap)
    finally:
        leftovers += stop_server(server)


def locust_command(
    profile: LoadProfile, server: RunningServer, users: int, settings: Settings, stem: Path
) -> list[str]:
    """The locust command line of one measurement (recorded, reproducible by hand)."""
    spawn_rate = users
    run_time = math.ceil(SPAWN_ALLOWANCE_S + settings.warmup_s + settings.duration_s + RUN_TIME_MARGIN_S)
    host = f"{server.host}:{server.port}" if ":" not in server.host else f"[{server.host}]:{server.port}"
    command = [
        sys.executable, "-m", "locust",
        "-f", str(REPO_ROOT / profile.locustfile), profile.user_class,
        "--host", host,
        "--headless", "--only-summary", "--loglevel", "ERROR",
        "-u", str(users), "-r", str(spawn_rate), "-t", f"{run_time}s",
        "--exit-code-on-error", "0",
        "--warmup", f"{settings.warmup_s:g}", "--measure", f"{settings.duration_s:g}",
        "--payload-bytes", str(settings.payload_bytes),
        "--request-timeout", f"{settings.request_timeout_s:g}",
        "--stall-ms", f"{settings.stall_ms:g}",
        "--watch-pid", str(server.pid),
        "--latency-report", str(stem.with_suffix(".json")),
        "--html", str(stem.with_suffix(".html")),
        "--csv", str(stem),
    ]
    if settings.open_loop_rate:
        command += ["--open-loop-rate", f"{settings.open_loop_rate / users:g}"]
    return command


def generator_environment() -> dict[str, str]:
    """Our environment, with this checkout first on PYTHONPATH so that the locustfiles import
    this harness even when wirecheck is not installed."""
    environment = dict(os.environ)
    existing = environment.get("PYTHONPATH")
    environment["PYTHONPATH"] = str(REPO_ROOT) + (os.pathsep + existing if existing else "")
    return environment


def run_generator(command: list[str], deadline_s: float, settings: Settings, log_path: Path) -> int:
    """Run a generator command pinned to the generator core; kill its group past the deadline.

    Returns:
        Its exit status (negative: killed by that signal).

    Resource handling: the generator runs in its own session; it and everything it started
    are killed if it outlives the deadline or if this process is interrupted.
    """
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
            env=generator_environment(),
            start_new_session=True,  # its own group: a stuck run is killed with all it started
            preexec_fn=(lambda: os.sched_setaffinity(0, GENERATOR_CPUS)) if settings.pinned else None,
        )
        try:
            return process.wait(deadline_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 15)
            try:
                return process.wait(5.0)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                return process.wait()
        except BaseException:  # interrupted (Ctrl-C, SIGTERM): the generator goes with us
            os.killpg(process.pid, 9)
            process.wait()
            raise


def measure_locust(
    profile: LoadProfile, target: ServerUnderTest, users: int, settings: Settings, label: str
) -> LocustSample:
    """One locust run against a running server."""
    stem = settings.html_dir / label
    command = locust_command(profile, target.server, users, settings, stem)
    report_path = stem.with_suffix(".json")
    if report_path.exists():
        report_path.unlink()
    deadline = SPAWN_ALLOWANCE_S + settings.warmup_s + settings.duration_s + RUN_TIME_MARGIN_S + PROCESS_DEADLINE_MARGIN_S
    started = time.monotonic()
    status = run_generator(command, deadline, settings, stem.with_suffix(".log"))
    wall_s = time.monotonic() - started
    if not report_path.exists():
        tail = stem.with_suffix(".log").read_text(errors="replace")[-800:]
        return LocustSample(error=f"locust exited {status} without a report; its log ends: {tail}", command=command)
    sample = summarise_report(json.loads(report_path.read_text()), profile)
    sample.command = command
    sample.exit_status = status
    sample.wall_s = wall_s
    sample.html_report = str(stem.with_suffix(".html"))
    # The machine may be shared: the 1-minute load average after each run shows when it was
    # (this run's own server and generator account for about 2 of it).
    sample.load_average_1min = os.getloadavg()[0]
    sample.throttled_periods = target.throttled_periods()
    return sample


def summarise_report(report: dict[str, Any], profile: LoadProfile) -> LocustSample:
    """The figures of one wirecheck report (harness/loadgen/plugin.py) that a comparison needs."""
    entries = [entry for entry in report["requests"] if entry["request_type"] == profile.request_type]
    count = sum(entry["count"] for entry in entries)
    window_s = report["window"]["measured_s"] or float("nan")
    latency = entries[0]["latency_us"] if len(entries) == 1 else {}
    server = report.get("server") or {}
    machine = report.get("machine") or {}
    kinds = report.get("failure_kinds", {})
    connections = report["connections"]
    return LocustSample(
        mode=report["mode"],
        window_s=window_s,
        requests=count,
        rps=count / window_s if window_s == window_s and window_s > 0 else 0.0,
        failures=sum(entry["failures"] for entry in report["requests"]),
        timeouts=sum(kinds.get(kind, 0) for kind in profile.timeout_kinds),
        failure_kinds=kinds,
        latency_us=Latency(
            p50=latency.get("p50_us"), p90=latency.get("p90_us"), p99=latency.get("p99_us"),
            p99_9=latency.get("p99.9_us"), max=latency.get("max_us"),
        ),
        connections=ConnectionCounts(
            connections=connections.get("connections", 0), stalled=connections.get("stalled", 0),
            timed_out=connections.get("timed_out", 0), starved=connections.get("starved", 0),
            stall_threshold_ms=connections.get("stall_threshold_ms"),
        ),
        generator_cpu_cores=report["generator"]["cpu_cores"],
        server_cpu_cores=server.get("cpu_cores"),
        server_peak_rss_kib=server.get("peak_rss_kib"),
        other_cpu_cores=machine.get("other_cores"),
        steal_cpu_cores=machine.get("steal_cores"),
    )


def measure_threaded(
    service: str, target: ServerUnderTest, threads: int, settings: Settings, label: str
) -> ThreadedSample:
    """The plain threaded client against a running server, pinned like locust."""
    server = target.server
    command = [
        sys.executable, "-m", "harness.loadgen.threaded_client",
        "--service", service, "--target", f"{server.host}:{server.port}",
        "--threads", str(threads), "--warmup", f"{settings.warmup_s:g}",
        "--duration", f"{settings.duration_s:g}", "--payload-bytes", str(settings.payload_bytes),
        "--request-timeout", f"{settings.request_timeout_s:g}", "--watch-pid", str(server.pid),
    ]
    log_path = settings.html_dir / f"{label}.log"
    deadline = settings.warmup_s + settings.duration_s + settings.request_timeout_s + PROCESS_DEADLINE_MARGIN_S
    status = run_generator(command, deadline, settings, log_path)
    lines = [line for line in log_path.read_text(errors="replace").splitlines() if line.startswith("{")]
    if status != 0 or not lines:
        return ThreadedSample(error=f"threaded client exited {status}", command=command)
    sample = ThreadedSample.from_json(json.loads(lines[-1]))
    sample.command = command
    sample.throttled_periods = target.throttled_periods()
    return sample
