"""``wirecheck compare``: the same protocol on every runner, under the same locust load, measured.

For one service, each runner in turn is started on an ephemeral loopback port, pinned to one
core, and driven by locust pinned to the other core, at each number of concurrent users of
the sweep, after a warm-up, several times (the median is reported and the spread shown).
Per point it records requests/s, latency percentiles at 10 µs resolution, failures,
connections that stalled or timed out, server CPU and peak RSS, and generator CPU. In the same
run it measures the generator's own ceiling and a plain threaded client's rate, and flags the
points where the generator, not the server, was the limit. Outputs: ``compare.json`` (one
record per point), ``compare.md`` (the table, the goals), ``throughput.png`` and
``p99.png`` (a line per runner), and locust's HTML report, CSV files and wirecheck's JSON
report per point (``--html-dir``).

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
later), returns to core 1, then pins every thread of the server's tree again and checks it.
With fewer than two cores nothing is pinned and the report says so.

Generator-bound points: a point is flagged when the generator used at least
:data:`GENERATOR_BOUND_CPU_CORES` of its core, or reached :data:`GENERATOR_BOUND_CEILING_FRACTION`
of the generator ceiling measured in the same run (locust against the fastest runner, uvloop,
at :data:`CEILING_USERS` users). On a flagged point the server may be faster than reported.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from harness.launch import LaunchError, RunningServer, launch_server
from harness.loadgen import procstat
from harness.loadgen.cpu_cap import CpuCap, CpuCapUnavailable
from harness.runners import RUNNERS, runners_for
from harness.services import SERVICES

REPO_ROOT = Path(__file__).resolve().parent.parent

# The core for the server and the core for the generator (this project's machines have 2).
SERVER_CORE = 0
GENERATOR_CORE = 1

# The sweep: one client, a few, the chapter's "many", and a flood.
DEFAULT_USERS = (1, 10, 50, 200, 1000)
# Enough to see a trend and a spread without the full run taking an hour per service.
DEFAULT_DURATION_S = 5.0
DEFAULT_WARMUP_S = 2.0
DEFAULT_REPEAT = 3

# --quick: the three points the goals need (1, 50 and 1000 users), one repetition, short
# windows; all ten echo-tcp runners fit in under three minutes on 2 cores. The warm-up must
# outlast the start-up burst: with 0.5 s, `threading` at 1000 users stalled 26-114 connections
# for > 500 ms in 3 of 5 runs (likely 1000 threads made runnable at once, queueing for the
# GIL); with 1 s, none in 3; the full run's 2 s keeps it out of the window. 1.5 s leaves a
# margin and the sweep under three minutes. One short repetition is still only indicative:
# the Markdown says so above the goals.
QUICK_USERS = (1, 50, 1000)
QUICK_DURATION_S = 1.0
QUICK_WARMUP_S = 1.5
QUICK_REPEAT = 1

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

# The generator's ceiling is locust against the fastest runner at this many users (enough
# connections to keep locust's one core busy while each waits).
CEILING_USERS = 50
CEILING_RUNNERS = ("uvloop", "asyncio", "selectors")

# A point is generator-bound when the generator used this much of its core...
GENERATOR_BOUND_CPU_CORES = 0.9
# ...or reached this fraction of the generator's measured ceiling.
GENERATOR_BOUND_CEILING_FRACTION = 0.9

# A point counts as server-bound (for the goal that compares locust with the threaded client)
# only with clear slack in the generator: at least a fifth of its core idle and its rate at
# least a fifth below its ceiling. Points between this and the generator-bound flag are
# ambiguous and judged neither way.
SERVER_BOUND_MAX_GENERATOR_CPU_CORES = 0.8
SERVER_BOUND_MAX_CEILING_FRACTION = 0.8

# The server-bound reference (goal 1): this runner, its CPU capped by the kernel to this share
# of its core (harness/loadgen/cpu_cap.py), driven by locust and by the threaded client at
# THREADED_CLIENT_USERS. Uncapped, every runner that can use its core outruns one locust
# process on loopback, so no natural target is server-bound; at a tenth of a core the server
# is the limit by a wide margin (about 12,000 req/s, the clients using ~15 % of theirs).
SERVER_BOUND_RUNNER = "selectors"
SERVER_BOUND_CPU_CAP = 0.1
# Goal 2 (selectors vs asyncio at 50 users) uncapped compares locust with itself: both servers
# outrun it. Capped alike, the two runners are compared where the server is the limit, so the
# ratio is their cost per request. Measured with locust in the same alternating repetitions.
SERVER_BOUND_PEERS = ("asyncio",)

# The plain threaded client runs at this many threads on every runner (the goals compare it
# with locust at the same concurrency).
THREADED_CLIENT_USERS = 50

# A server whose threads all run on more than one core after pinning is not pinned.
SERVER_CPUS = {SERVER_CORE}
GENERATOR_CPUS = {GENERATOR_CORE}


@dataclass(frozen=True)
class LoadProfile:
    """Which locust user drives a service, and which request type measures it."""

    locustfile: str
    user_class: str
    request_type: str
    timeout_kinds: tuple[str, ...]


LOAD_PROFILES: dict[str, LoadProfile] = {
    "echo-tcp": LoadProfile("loadtests/echo_tcp.py", "EchoTcpUser", "tcp-echo", ("ReplyTimeoutError",)),
    "line-echo-tcp": LoadProfile(
        "loadtests/echo_tcp.py", "LineEchoTcpUser", "tcp-line-echo", ("ReplyTimeoutError",)
    ),
    "time-udp": LoadProfile("loadtests/datagram_udp.py", "TimeUdpUser", "udp-time", ("DatagramLostError",)),
    "echo-udp": LoadProfile("loadtests/datagram_udp.py", "EchoUdpUser", "udp-echo", ("DatagramLostError",)),
}


class CompareError(RuntimeError):
    """The comparison cannot run as asked (the message says why)."""


# --- one measurement ---------------------------------------------------------------------


@dataclass
class Settings:
    service: str
    runners: list[str]
    users: list[int]
    duration_s: float
    warmup_s: float
    repeat: int
    out_dir: Path
    html_dir: Path
    payload_bytes: int
    request_timeout_s: float
    stall_ms: float
    open_loop_rate: float
    pinned: bool


def _pin_self(cpus: set[int], pinned: bool) -> None:
    if pinned:
        os.sched_setaffinity(0, cpus)


def launch_pinned_server(service: str, runner: str, settings: Settings) -> RunningServer:
    """Start ``service`` on ``runner`` with every thread and child on the server core.

    Raises:
        LaunchError: the server did not come up.
        CompareError: pinning could not be verified.

    Resource handling: the caller owns the returned server and must stop it.
    """
    _pin_self(SERVER_CPUS, settings.pinned)
    try:
        server = launch_server(service, runner)
    finally:
        _pin_self(GENERATOR_CPUS, settings.pinned)
    if settings.pinned:
        procstat.pin_tree(server.pid, SERVER_CPUS)
        affinities = procstat.tree_affinities(server.pid)
        if affinities and affinities != {frozenset(SERVER_CPUS)}:
            server.stop()
            raise CompareError(f"server {runner} not pinned to core {SERVER_CORE}: {affinities}")
    return server


def stop_server(server: RunningServer) -> list[int]:
    """Stop the server; return the pids of its tree still alive afterwards (should be none)."""
    tree_before = procstat.process_tree(server.pid)
    server.stop()
    return [pid for pid in tree_before if _alive(pid)]


def _alive(pid: int) -> bool:
    fields = procstat._read_stat_fields(pid)
    return fields is not None and fields[0] != "Z"


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
    if settings.open_loop_rate > 0:
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


def measure_point(
    profile: LoadProfile, server: RunningServer, users: int, settings: Settings, label: str
) -> dict[str, Any]:
    """One locust run against a running server; returns one sample (see :func:`summarise_sample`)."""
    stem = settings.html_dir / label
    command = locust_command(profile, server, users, settings, stem)
    report_path = stem.with_suffix(".json")
    if report_path.exists():
        report_path.unlink()
    deadline = SPAWN_ALLOWANCE_S + settings.warmup_s + settings.duration_s + RUN_TIME_MARGIN_S + PROCESS_DEADLINE_MARGIN_S
    started = time.monotonic()
    status = run_generator(command, deadline, settings, stem.with_suffix(".log"))
    wall_s = time.monotonic() - started
    if not report_path.exists():
        tail = stem.with_suffix(".log").read_text(errors="replace")[-800:]
        return {"error": f"locust exited {status} without a report; its log ends: {tail}", "command": command}
    report = json.loads(report_path.read_text())
    sample = summarise_sample(report, profile)
    sample.update(
        command=command, exit_status=status, wall_s=wall_s, html_report=str(stem.with_suffix(".html")),
        # The machine may be shared: the 1-minute load average after each run shows when it was
        # (this run's own server and generator account for about 2 of it).
        load_average_1min=os.getloadavg()[0],
    )
    return sample


def summarise_sample(report: dict[str, Any], profile: LoadProfile) -> dict[str, Any]:
    """The figures of one wirecheck report that a comparison needs."""
    entries = [entry for entry in report["requests"] if entry["request_type"] == profile.request_type]
    count = sum(entry["count"] for entry in entries)
    failures = sum(entry["failures"] for entry in report["requests"])
    window_s = report["window"]["measured_s"] or float("nan")
    latency = entries[0]["latency_us"] if len(entries) == 1 else {}
    server = report.get("server") or {}
    kinds = report.get("failure_kinds", {})
    return {
        "mode": report["mode"],
        "window_s": window_s,
        "requests": count,
        "rps": count / window_s if window_s == window_s and window_s > 0 else 0.0,
        "failures": failures,
        "timeouts": sum(kinds.get(kind, 0) for kind in profile.timeout_kinds),
        "failure_kinds": kinds,
        "latency_us": {key: latency.get(f"{key}_us") for key in ("p50", "p90", "p99", "p99.9", "max")},
        "connections": report["connections"],
        "generator_cpu_cores": report["generator"]["cpu_cores"],
        "server_cpu_cores": server.get("cpu_cores"),
        "server_peak_rss_kib": server.get("peak_rss_kib"),
        "other_cpu_cores": (report.get("machine") or {}).get("other_cores"),
        "steal_cpu_cores": (report.get("machine") or {}).get("steal_cores"),
    }


def run_threaded_client(server: RunningServer, service: str, threads: int, settings: Settings, label: str) -> dict:
    """The plain threaded client against ``server``, pinned like locust."""
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
        return {"error": f"threaded client exited {status}", "command": command}
    result = json.loads(lines[-1])
    result["command"] = command
    return result


def measure_server_bound_reference(
    profile: LoadProfile, settings: Settings, progress: "Progress"
) -> dict[str, Any]:
    """Locust and the threaded client against one CPU-capped server, alternating repetitions.

    The goal "locust's rate >= 0.9 x a plain client's on a server-bound target" asks how much
    of a server's capacity the generator's own overhead hides. That is only visible where the
    server is the limit, so both clients drive :data:`SERVER_BOUND_RUNNER` held to
    :data:`SERVER_BOUND_CPU_CAP` of its core; each repetition is a fresh server per client, and
    the two clients alternate so that drift on a shared machine hits both alike.
    """
    reference: dict[str, Any] = {
        "runner": SERVER_BOUND_RUNNER, "users": THREADED_CLIENT_USERS, "cpu_cap": SERVER_BOUND_CPU_CAP,
    }
    transport = SERVICES[settings.service].transport
    peers = [peer for peer in SERVER_BOUND_PEERS if transport in RUNNERS[peer].transports]
    runs = [(SERVER_BOUND_RUNNER, "locust"), (SERVER_BOUND_RUNNER, "threaded")] + [(peer, "locust") for peer in peers]
    samples: dict[tuple[str, str], list[dict[str, Any]]] = {run: [] for run in runs}
    leftovers: list[int] = []
    for repetition in range(1, settings.repeat + 1):
        for runner, client in runs:
            try:
                server = launch_pinned_server(settings.service, runner, settings)
            except (LaunchError, CompareError) as error:
                samples[runner, client].append({"error": str(error)})
                progress.step(f"server-bound reference: {runner}, {client} rep {repetition}: ERROR {str(error)[:120]}")
                continue
            try:
                with CpuCap(SERVER_BOUND_CPU_CAP) as cap:
                    cap.add_tree(server.pid)
                    reference["cap"] = cap.describe()
                    label = f"server-bound-{settings.service}-{runner}-{client}-r{repetition}"
                    if client == "locust":
                        sample = measure_point(profile, server, THREADED_CLIENT_USERS, settings, label)
                    else:
                        sample = run_threaded_client(server, settings.service, THREADED_CLIENT_USERS, settings, label)
                    sample["throttled_periods"] = cap.throttled_periods()
                    samples[runner, client].append(sample)
            except CpuCapUnavailable as error:
                reference["error"] = f"no CPU cap on this machine: {error}"
                return reference
            finally:
                leftovers += stop_server(server)
            progress.step(
                f"server-bound reference: {runner} at {SERVER_BOUND_CPU_CAP:.0%} of a core, "
                f"{client} rep {repetition}: "
                + (f"{sample['rps']:,.0f} req/s, server CPU {_percent(sample.get('server_cpu_cores'))}"
                   if "error" not in sample else f"ERROR {sample['error'][:120]}")
            )
    locust_samples = samples[SERVER_BOUND_RUNNER, "locust"]
    threaded_samples = samples[SERVER_BOUND_RUNNER, "threaded"]
    reference["locust"] = aggregate(locust_samples)
    reference["locust"]["samples"] = locust_samples
    reference["threaded"] = aggregate_threaded(threaded_samples)
    reference["peers_locust"] = {}
    for peer in peers:
        reference["peers_locust"][peer] = aggregate(samples[peer, "locust"])
        reference["peers_locust"][peer]["samples"] = samples[peer, "locust"]
    reference["leftover_processes"] = leftovers
    if "error" not in reference["locust"] and "error" not in reference["threaded"] and reference["threaded"]["rps"]:
        reference["ratio"] = reference["locust"]["rps"] / reference["threaded"]["rps"]
        ratios = [
            sample_l["rps"] / sample_t["rps"]
            for sample_l, sample_t in zip(locust_samples, threaded_samples)
            if "error" not in sample_l and "error" not in sample_t and sample_t["rps"]
        ]
        reference["ratio_min"], reference["ratio_max"] = min(ratios), max(ratios)
    return reference


# --- the sweep ---------------------------------------------------------------------------


def aggregate_threaded(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """The threaded client's repetitions: median rate (and spread), worst failures."""
    good = [sample for sample in samples if "error" not in sample]
    if not good:
        return {"error": "; ".join(sample["error"][:200] for sample in samples) or "not run"}
    rates = [sample["rps"] for sample in good]
    return {
        "threads": good[0]["threads"],
        "repeats": len(good),
        "rps": statistics.median(rates),
        "rps_min": min(rates),
        "rps_max": max(rates),
        "failures": max(sample["failures"] for sample in good),
        "cpu_cores": _median([sample["cpu_cores"] for sample in good]),
        "server_cpu_cores": _median([sample.get("server_cpu_cores") for sample in good]),
        "samples": good,
    }


def _median(values: Sequence[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


def aggregate(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Median over repetitions (spread: min and max); failure-like counts take the worst."""
    good = [sample for sample in samples if "error" not in sample]
    if not good:
        return {"error": "; ".join(sample["error"][:300] for sample in samples)}
    rates = [sample["rps"] for sample in good]
    p99s = [sample["latency_us"]["p99"] for sample in good if sample["latency_us"]["p99"] is not None]
    return {
        "repeats": len(good),
        "mode": good[0]["mode"],
        "rps": _median(rates),
        "rps_min": min(rates),
        "rps_max": max(rates),
        "latency_us": {
            key: _median([sample["latency_us"][key] for sample in good]) for key in ("p50", "p90", "p99", "p99.9")
        },
        "p99_min_us": min(p99s) if p99s else None,
        "p99_max_us": max(p99s) if p99s else None,
        "failures": max(sample["failures"] for sample in good),
        "timeouts": max(sample["timeouts"] for sample in good),
        "stalled_connections": max(sample["connections"]["stalled"] for sample in good),
        "timed_out_connections": max(sample["connections"]["timed_out"] for sample in good),
        "starved_connections": max(sample["connections"]["starved"] for sample in good),
        "stall_threshold_ms": good[0]["connections"]["stall_threshold_ms"],
        "server_cpu_cores": _median([sample["server_cpu_cores"] for sample in good]),
        "server_peak_rss_kib": max((sample["server_peak_rss_kib"] or 0) for sample in good) or None,
        "generator_cpu_cores": _median([sample["generator_cpu_cores"] for sample in good]),
        "failed_repeats": len(samples) - len(good),
        "load_average_1min_max": max(sample.get("load_average_1min", 0.0) for sample in good),
        "other_cpu_cores": _median([sample.get("other_cpu_cores") for sample in good]),
        "steal_cpu_cores": _median([sample.get("steal_cpu_cores") for sample in good]),
    }


def generator_bound_reasons(record: dict[str, Any], ceiling_rps: float | None) -> list[str]:
    """Why the generator, not the server, may have set this point's rate (empty: it did not)."""
    reasons = []
    cpu = record.get("generator_cpu_cores")
    if cpu is not None and cpu >= GENERATOR_BOUND_CPU_CORES:
        reasons.append(f"generator CPU {cpu:.0%} of its core")
    rate = record.get("rps")
    if ceiling_rps and rate is not None and rate >= GENERATOR_BOUND_CEILING_FRACTION * ceiling_rps:
        reasons.append(f"rate {rate / ceiling_rps:.0%} of the generator ceiling")
    return reasons


def is_server_bound(record: dict[str, Any], ceiling_rps: float | None) -> bool:
    """True when the generator clearly had slack at this point, so the server set the rate."""
    cpu = record.get("generator_cpu_cores")
    rate = record.get("rps")
    if cpu is None or rate is None or not ceiling_rps:
        return False
    return cpu < SERVER_BOUND_MAX_GENERATOR_CPU_CORES and rate < SERVER_BOUND_MAX_CEILING_FRACTION * ceiling_rps


class Progress:
    """One line per measurement, with elapsed time and an ETA from the mean time per step."""

    def __init__(self, total_steps: int, write: Callable[[str], None]) -> None:
        self.total_steps = total_steps
        self.done = 0
        self.started = time.monotonic()
        self.write = write

    def step(self, text: str) -> None:
        self.done += 1
        elapsed = time.monotonic() - self.started
        remaining = (elapsed / self.done) * (self.total_steps - self.done)
        self.write(
            f"[{self.done:>3}/{self.total_steps}] {text}  "
            f"(elapsed {_clock(elapsed)}, ETA {_clock(remaining)})"
        )


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def _point_line(service: str, runner: str, users: int, record: dict[str, Any]) -> str:
    if "error" in record:
        return f"{service} {runner:<17} u={users:<5} ERROR {record['error'][:120]}"
    p99 = record["latency_us"]["p99"]
    gen = record["generator_cpu_cores"]
    srv = record["server_cpu_cores"]
    flag = "  GEN-BOUND" if record.get("generator_bound") else ""
    return (
        f"{service} {runner:<17} u={users:<5} {record['rps']:>9,.0f} req/s  p99 {_us(p99):>8}  "
        f"fail {record['failures']:<5} stalled {record['stalled_connections']:<4} "
        f"gen {_percent(gen)} srv {_percent(srv)}{flag}"
    )


def _us(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f} µs" if value < 1000 else f"{value / 1000:.1f} ms"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def machine_description() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu_model": model,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": sys.platform,
        "kernel": os.uname().release,
    }


def raise_open_file_limit() -> tuple[int, int]:
    """Raise RLIMIT_NOFILE's soft limit to the hard one (inherited by servers and generators):
    1000 connections need 1000 descriptors on each side, past the common soft limit of 1024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def run_compare(settings: Settings, write: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the whole comparison and write its outputs. Returns the compare.json document."""
    profile = LOAD_PROFILES[settings.service]
    transport = SERVICES[settings.service].transport
    settings.out_dir.mkdir(parents=True, exist_ok=True)
    settings.html_dir.mkdir(parents=True, exist_ok=True)
    nofile = raise_open_file_limit()
    load_before = os.getloadavg()
    _pin_self(GENERATOR_CPUS, settings.pinned)
    ceiling_runner = next((name for name in CEILING_RUNNERS if transport in RUNNERS[name].transports), settings.runners[0])
    steps = 1 + len(settings.runners) * (len(settings.users) * settings.repeat + 1) + (2 + len(SERVER_BOUND_PEERS)) * settings.repeat
    progress = Progress(steps, write)
    write(
        f"wirecheck compare {settings.service}: {len(settings.runners)} runners x users "
        f"{','.join(map(str, settings.users))} x {settings.repeat} repeat(s), warm-up {settings.warmup_s:g} s, "
        f"window {settings.duration_s:g} s; load average {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}; "
        f"server on core {SERVER_CORE}, generator on core {GENERATOR_CORE}"
        + ("" if settings.pinned else " (NOT pinned: fewer than 2 cores)")
    )

    # 1. The generator's ceiling: locust against the fastest runner.
    ceiling: dict[str, Any]
    try:
        server = launch_pinned_server(settings.service, ceiling_runner, settings)
    except (LaunchError, CompareError) as error:
        ceiling = {"error": str(error)}
    else:
        try:
            sample = measure_point(profile, server, CEILING_USERS, settings, f"ceiling-{ceiling_runner}-u{CEILING_USERS}")
        finally:
            stop_server(server)
        ceiling = aggregate([sample])
        ceiling.update(runner=ceiling_runner, users=CEILING_USERS)
    ceiling_rps = ceiling.get("rps")
    progress.step(
        f"generator ceiling: locust vs {ceiling_runner} at {CEILING_USERS} users: "
        + (f"{ceiling_rps:,.0f} req/s, generator CPU {_percent(ceiling.get('generator_cpu_cores'))}, "
           f"server CPU {_percent(ceiling.get('server_cpu_cores'))}" if ceiling_rps else f"ERROR {ceiling.get('error')}")
    )

    # 2. The sweep, and the threaded client on every runner.
    points: list[dict[str, Any]] = []
    threaded: dict[str, dict[str, Any]] = {}
    leftovers: list[int] = []
    for runner in settings.runners:
        for users in settings.users:
            samples = []
            for repetition in range(1, settings.repeat + 1):
                label = f"{settings.service}-{runner}-u{users}-r{repetition}"
                try:
                    server = launch_pinned_server(settings.service, runner, settings)
                except (LaunchError, CompareError) as error:
                    samples.append({"error": f"server did not start: {error}"})
                    progress.step(f"{settings.service} {runner} u={users} rep {repetition}: server did not start")
                    continue
                try:
                    samples.append(measure_point(profile, server, users, settings, label))
                finally:
                    leftovers += stop_server(server)
                progress.step(_sample_line(settings.service, runner, users, repetition, settings.repeat, samples[-1]))
            record = aggregate(samples)
            record.update(service=settings.service, runner=runner, users=users, samples=samples)
            if "error" not in record:
                reasons = generator_bound_reasons(record, ceiling_rps)
                record.update(generator_bound=bool(reasons), generator_bound_reasons=reasons)
            points.append(record)
            write("    = " + _point_line(settings.service, runner, users, record))
        threaded_samples = []
        for repetition in range(1, settings.repeat + 1):
            try:
                server = launch_pinned_server(settings.service, runner, settings)
            except (LaunchError, CompareError) as error:
                threaded_samples.append({"error": str(error)})
                continue
            try:
                threaded_samples.append(
                    run_threaded_client(
                        server, settings.service, THREADED_CLIENT_USERS, settings,
                        f"threaded-{settings.service}-{runner}-r{repetition}",
                    )
                )
            finally:
                leftovers += stop_server(server)
        threaded[runner] = result = aggregate_threaded(threaded_samples)
        progress.step(
            f"{settings.service} {runner:<17} plain threaded client, {THREADED_CLIENT_USERS} threads: "
            + (f"{result['rps']:,.0f} req/s (median of {result['repeats']}), {result['failures']} failures, client CPU "
               f"{_percent(result['cpu_cores'])}, server CPU {_percent(result.get('server_cpu_cores'))}"
               if "error" not in result else f"ERROR {result['error']}")
        )

    # 3. The server-bound reference: locust and the threaded client on a CPU-capped server.
    server_bound_reference = measure_server_bound_reference(profile, settings, progress)
    leftovers += server_bound_reference.pop("leftover_processes", [])

    load_after = os.getloadavg()
    document = {
        "service": settings.service,
        "settings": {
            "runners": settings.runners, "users": settings.users, "duration_s": settings.duration_s,
            "warmup_s": settings.warmup_s, "repeat": settings.repeat, "payload_bytes": settings.payload_bytes,
            "request_timeout_s": settings.request_timeout_s, "stall_ms": settings.stall_ms,
            "open_loop_rate": settings.open_loop_rate or None, "pinned": settings.pinned,
            "server_core": SERVER_CORE, "generator_core": GENERATOR_CORE, "open_files_limit": nofile[0],
        },
        "machine": machine_description(),
        "load_average_before": load_before,
        "load_average_after": load_after,
        "generator_ceiling": ceiling,
        "threaded_client": threaded,
        "server_bound_reference": server_bound_reference,
        "points": points,
        "leftover_processes": leftovers,
        "wall_s": time.monotonic() - progress.started,
    }
    document["goals"] = evaluate_goals(document) if settings.service == "echo-tcp" else []
    write_outputs(document, settings.out_dir)
    return document


def _sample_line(service: str, runner: str, users: int, repetition: int, repeat: int, sample: dict) -> str:
    if "error" in sample:
        return f"{service} {runner:<17} u={users:<5} rep {repetition}/{repeat}: ERROR {sample['error'][:100]}"
    return (
        f"{service} {runner:<17} u={users:<5} rep {repetition}/{repeat}: {sample['rps']:>9,.0f} req/s  "
        f"p99 {_us(sample['latency_us']['p99']):>8}  fail {sample['failures']:<5} "
        f"stalled {sample['connections']['stalled']:<4} gen {_percent(sample['generator_cpu_cores'])} "
        f"srv {_percent(sample['server_cpu_cores'])}"
    )


# --- the goals -------------------------------------------------------------------


def _point(document: dict[str, Any], runner: str, users: int) -> dict[str, Any] | None:
    for record in document["points"]:
        if record["runner"] == runner and record["users"] == users and "error" not in record:
            return record
    return None


def evaluate_goals(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's four goals for echo-tcp, as measured: each with its figures and verdict."""
    goals: list[dict[str, Any]] = []
    threaded = document["threaded_client"]
    ceiling_rps = document["generator_ceiling"].get("rps")

    # 1. locust >= 0.9 x the threaded client on a server-bound target. The target is the
    # CPU-capped reference server (:func:`measure_server_bound_reference`), where the server is
    # the limit by construction. Every runner's uncapped ratio at the same concurrency is listed
    # as well, marked server-bound where the generator clearly had slack (:func:`is_server_bound`),
    # so no target is picked to suit the verdict.
    candidates = []
    for record in document["points"]:
        result = threaded.get(record["runner"], {})
        if record["users"] != THREADED_CLIENT_USERS or "error" in record or "error" in result or not result["rps"]:
            continue
        candidates.append(
            {
                "runner": record["runner"], "locust_rps": record["rps"], "threaded_rps": result["rps"],
                "ratio": record["rps"] / result["rps"], "server_bound": is_server_bound(record, ceiling_rps),
                "server_cpu_cores": record.get("server_cpu_cores"),
            }
        )
    goal1: dict[str, Any] = {
        "goal": "locust echo user rate >= 0.9 x plain threaded client on a server-bound target",
        "users": THREADED_CLIENT_USERS,
        "candidates": candidates,
    }
    reference = document.get("server_bound_reference") or {}
    if "ratio" in reference:
        goal1.update(reference=reference_summary(reference), passed=reference["ratio"] >= 0.9)
    else:
        goal1.update(
            passed=False,
            note="no server-bound measurement: " + (reference.get("error") or "the reference run failed"),
        )
    goals.append(goal1)

    # 2. selectors >= 1.0 x asyncio at 50 users. Judged where the servers are the limit: both
    # capped alike (the server-bound reference), locust at 50 users. The uncapped locust ratio
    # (usually generator-bound) and the uncapped threaded-client ratio are reported beside it.
    selectors_point, asyncio_point = _point(document, "selectors", 50), _point(document, "asyncio", 50)
    goal2: dict[str, Any] = {"goal": "selectors runner >= 1.0 x asyncio runner at 50 users"}
    capped_selectors = reference.get("locust") or {}
    capped_asyncio = (reference.get("peers_locust") or {}).get("asyncio") or {}
    if capped_selectors.get("rps") and capped_asyncio.get("rps"):
        goal2.update(
            capped_ratio=capped_selectors["rps"] / capped_asyncio["rps"],
            capped_rps={"selectors": capped_selectors["rps"], "asyncio": capped_asyncio["rps"]},
            cap=reference.get("cap"),
        )
        goal2["passed"] = goal2["capped_ratio"] >= 1.0
    if selectors_point and asyncio_point:
        ratio = selectors_point["rps"] / asyncio_point["rps"] if asyncio_point["rps"] else None
        both_bound = selectors_point.get("generator_bound") and asyncio_point.get("generator_bound")
        goal2["locust_ratio"] = ratio
        if "capped_ratio" not in goal2:
            goal2["passed"] = bool(ratio is not None and ratio >= 1.0)
        threaded_selectors, threaded_asyncio = threaded.get("selectors", {}), threaded.get("asyncio", {})
        if THREADED_CLIENT_USERS == 50 and threaded_selectors.get("rps") and threaded_asyncio.get("rps"):
            goal2["threaded_client_ratio"] = threaded_selectors["rps"] / threaded_asyncio["rps"]
        if any(point.get("generator_bound") for point in (selectors_point, asyncio_point)):
            # The verdict stays the locust ratio, as the goal says; the note says what it is worth.
            goal2["note"] = (
                ("both" if both_bound else "one of the")
                + " uncapped locust points were generator-bound, so the uncapped locust ratio mostly "
                "compares the generator with itself"
                + ("; the verdict is the capped ratio" if "capped_ratio" in goal2 else " (inconclusive either way)")
            )
    elif "capped_ratio" not in goal2:
        goal2.update(passed=False, note="selectors or asyncio at 50 users missing from the sweep")
    goals.append(goal2)

    # 3. 1000 concurrent connections held with zero failures and zero stalls.
    held = []
    for runner in ("threading", "selectors", "asyncio", "prefork-processes"):
        record = _point(document, runner, 1000)
        if record is None:
            held.append({"runner": runner, "measured": False, "passed": False})
            continue
        held.append(
            {
                "runner": runner, "measured": True, "failures": record["failures"],
                "stalled_connections": record["stalled_connections"],
                "timed_out_connections": record["timed_out_connections"],
                "passed": record["failures"] == 0 and record["stalled_connections"] == 0,
            }
        )
    goals.append(
        {"goal": "threading, selectors, asyncio, prefork-processes hold 1000 connections, 0 failures, 0 stalls",
         "runners": held, "passed": all(entry["passed"] for entry in held)}
    )

    # 4. single and raw starve concurrent clients: it shows in the stall count.
    starvation = []
    for runner in ("single", "raw"):
        for record in document["points"]:
            if record["runner"] == runner and record["users"] > 1 and "error" not in record:
                starvation.append(
                    {
                        "runner": runner, "users": record["users"],
                        "stalled_connections": record["stalled_connections"],
                        "starved_connections": record["starved_connections"],
                        # One connection is served; the others should all stall.
                        "passed": record["stalled_connections"] >= record["users"] - 1,
                    }
                )
    goals.append(
        {"goal": "single and raw starve concurrent clients (stalled connections >= users - 1)",
         "points": starvation, "passed": bool(starvation) and all(entry["passed"] for entry in starvation)}
    )
    return goals


def reference_summary(reference: dict[str, Any]) -> dict[str, Any]:
    """The figures of the server-bound reference that the goal and the table quote."""
    locust, threaded = reference["locust"], reference["threaded"]
    return {
        "runner": reference["runner"], "users": reference["users"], "cap": reference.get("cap"),
        "ratio": reference["ratio"], "ratio_min": reference.get("ratio_min"), "ratio_max": reference.get("ratio_max"),
        "locust_rps": locust["rps"], "threaded_rps": threaded["rps"],
        "locust_server_cpu": locust.get("server_cpu_cores"), "threaded_server_cpu": threaded.get("server_cpu_cores"),
        "locust_generator_cpu": locust.get("generator_cpu_cores"), "threaded_client_cpu": threaded.get("cpu_cores"),
    }


def format_goals(goals: list[dict[str, Any]]) -> list[str]:
    lines = []
    for goal in goals:
        verdict = "MET" if goal.get("passed") else "NOT MET"
        lines.append(f"- **{verdict}**: {goal['goal']}")
        if "reference" in goal:
            ref = goal["reference"]
            lines.append(
                f"  - server-bound target ({ref['runner']} capped at {ref['cap']}), {ref['users']} users: "
                f"locust/threaded **{ref['ratio']:.2f}** (per repetition {ref['ratio_min']:.2f}-{ref['ratio_max']:.2f}); "
                f"locust {ref['locust_rps']:,.0f} req/s with server CPU {_percent(ref['locust_server_cpu'])} and "
                f"generator CPU {_percent(ref['locust_generator_cpu'])}; threaded {ref['threaded_rps']:,.0f} req/s "
                f"with server CPU {_percent(ref['threaded_server_cpu'])} and client CPU {_percent(ref['threaded_client_cpu'])}"
            )
        if goal.get("candidates"):
            lines.append(
                "  - uncapped, every runner, locust/threaded (for context; most are generator-bound): "
                + ", ".join(
                    f"{c['runner']} {c['ratio']:.2f}{' (server-bound)' if c['server_bound'] else ''}" for c in goal["candidates"]
                )
            )
        if "capped_ratio" in goal:
            lines.append(
                f"  - both capped at {goal['cap']}, locust at 50 users: selectors/asyncio **{goal['capped_ratio']:.2f}** "
                f"({goal['capped_rps']['selectors']:,.0f} vs {goal['capped_rps']['asyncio']:,.0f} req/s)"
            )
        if goal.get("locust_ratio") is not None:
            text = f"  - uncapped, selectors/asyncio (locust): {goal['locust_ratio']:.2f}"
            if "threaded_client_ratio" in goal:
                text += f"; uncapped, selectors/asyncio (threaded client, 50 threads): {goal['threaded_client_ratio']:.2f}"
            lines.append(text)
        for entry in goal.get("runners", []):
            if entry["measured"]:
                lines.append(
                    f"  - {entry['runner']}: {entry['failures']} failures, {entry['stalled_connections']} stalled, "
                    f"{entry['timed_out_connections']} timed-out connections"
                )
            else:
                lines.append(f"  - {entry['runner']}: not measured at 1000 users")
        for entry in goal.get("points", []):
            lines.append(
                f"  - {entry['runner']} at {entry['users']} users: {entry['stalled_connections']} stalled, "
                f"{entry['starved_connections']} got no reply in the window"
            )
        if goal.get("note"):
            lines.append(f"  - note: {goal['note']}")
    return lines


# --- outputs -----------------------------------------------------------------------------


def markdown_table(document: dict[str, Any]) -> str:
    """The comparison as a Markdown document: settings, machine, ceiling, table, goals."""
    settings = document["settings"]
    machine = document["machine"]
    ceiling = document["generator_ceiling"]
    before, after = document["load_average_before"], document["load_average_after"]
    mode = document["points"][0].get("mode", "closed-loop") if document["points"] else "closed-loop"
    lines = [
        f"## {document['service']}: concurrency models compared",
        "",
        f"Machine: {machine['cpus']} CPUs, {machine['cpu_model']}, Linux {machine['kernel']}, Python {machine['python']}. "
        f"Server pinned to core {settings['server_core']}, locust to core {settings['generator_core']}"
        + ("" if settings["pinned"] else " (not pinned)") + ". "
        f"Load average {before[0]:.2f} before, {after[0]:.2f} after (1-minute). `other CPU`: CPU "
        "busy in the window outside the server and the generator (of 2 cores), i.e. other processes "
        "of the shared machine plus the kernel's interrupt work for the loopback traffic; "
        "hypervisor steal is in compare.json.",
        "",
        f"Each point: warm-up {settings['warmup_s']:g} s, window {settings['duration_s']:g} s, "
        f"{settings['repeat']} repetition(s), the median shown (spread min-max in brackets); failures "
        f"and stalled / timed-out connections are the worst repetition's; payload "
        f"{settings['payload_bytes']} B; request timeout {settings['request_timeout_s']:g} s; a connection "
        f"is stalled when a reply took > {settings['stall_ms']:g} ms. Latency is **{mode}**"
        + (
            " (measured from the actual send: a closed loop sends less while a server stalls, so its "
            "percentiles understate stalls; the stall counts do not)."
            if mode == "closed-loop" else " (measured from the intended send time)."
        ),
        "",
    ]
    if "rps" in ceiling:
        lines.append(
            f"Generator ceiling (locust against {ceiling['runner']} at {ceiling['users']} users): "
            f"**{ceiling['rps']:,.0f} req/s**, generator CPU {_percent(ceiling['generator_cpu_cores'])}, "
            f"server CPU {_percent(ceiling['server_cpu_cores'])}. Rows marked GEN were generator-bound "
            f"(generator CPU >= {GENERATOR_BOUND_CPU_CORES:.0%} of its core, or rate >= "
            f"{GENERATOR_BOUND_CEILING_FRACTION:.0%} of the ceiling): there the server may be faster than shown."
        )
        fastest = max((record for record in document["points"] if record.get("rps")), key=lambda r: r["rps"], default=None)
        if fastest is not None and fastest["rps"] > ceiling["rps"]:
            # The ceiling is one run against a runner chosen beforehand; say when the sweep beat it.
            lines[-1] += (
                f" The sweep's fastest point ({fastest['runner']} at {fastest['users']} users, "
                f"{fastest['rps']:,.0f} req/s) is {fastest['rps'] / ceiling['rps'] - 1:.0%} above it: "
                "the ceiling is a single measurement, as noisy as any point."
            )
    else:
        lines.append(f"Generator ceiling: not measured ({ceiling.get('error')}).")
    lines += [
        "",
        "| runner | users | req/s | p50 | p90 | p99 | p99.9 | failures | stalled / timed-out conns | server CPU | server peak RSS | generator CPU | other CPU | note |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for record in document["points"]:
        if "error" in record:
            lines.append(f"| {record['runner']} | {record['users']} | error | | | | | | | | | | | {record['error'][:80]} |")
            continue
        latency = record["latency_us"]
        spread = (
            f" ({record['rps_min']:,.0f}-{record['rps_max']:,.0f})" if record["repeats"] > 1 else ""
        )
        rss = record["server_peak_rss_kib"]
        lines.append(
            f"| {record['runner']} | {record['users']} | {record['rps']:,.0f}{spread} | {_us(latency['p50'])} | "
            f"{_us(latency['p90'])} | {_us(latency['p99'])} | {_us(latency['p99.9'])} | {record['failures']} | "
            f"{record['stalled_connections']} / {record['timed_out_connections']} | "
            f"{_percent(record['server_cpu_cores'])} | {'-' if rss is None else f'{rss / 1024:.0f} MiB'} | "
            f"{_percent(record['generator_cpu_cores'])} | {_percent(record.get('other_cpu_cores'))} | "
            f"{'GEN' if record.get('generator_bound') else ''} |"
        )
    lines += [
        "",
        f"Plain threaded client ({THREADED_CLIENT_USERS} threads, persistent connections, replies checked), "
        "same targets, same warm-up, window and repetitions (median, spread in brackets):",
        "",
        "| runner | req/s | failures | client CPU | server CPU |",
        "|---|---:|---:|---:|---:|",
    ]
    for runner, result in document["threaded_client"].items():
        if "error" in result:
            lines.append(f"| {runner} | error | | | |")
        else:
            spread = f" ({result['rps_min']:,.0f}-{result['rps_max']:,.0f})" if result.get("repeats", 1) > 1 else ""
            lines.append(
                f"| {runner} | {result['rps']:,.0f}{spread} | {result['failures']} | {_percent(result['cpu_cores'])} | "
                f"{_percent(result.get('server_cpu_cores'))} |"
            )
    reference = document.get("server_bound_reference") or {}
    if "ratio" in reference:
        ref = reference_summary(reference)
        lines += [
            "",
            f"Server-bound reference: {ref['runner']} capped at {ref['cap']}, {ref['users']} concurrent clients, "
            f"fresh server per run, the two clients alternating (median of {reference['locust'].get('repeats')}):",
            "",
            "| runner (capped) | client | req/s | server CPU | client CPU |",
            "|---|---|---:|---:|---:|",
            f"| {ref['runner']} | locust | {_rate_cell(reference['locust'])} | {_percent(ref['locust_server_cpu'])} | {_percent(ref['locust_generator_cpu'])} |",
            f"| {ref['runner']} | threaded | {_rate_cell(reference['threaded'])} | {_percent(ref['threaded_server_cpu'])} | {_percent(ref['threaded_client_cpu'])} |",
        ]
        for peer, result in (reference.get("peers_locust") or {}).items():
            lines.append(
                f"| {peer} | locust | {_rate_cell(result)} | {_percent(result.get('server_cpu_cores'))} "
                f"| {_percent(result.get('generator_cpu_cores'))} |"
            )
        lines += [
            "",
            f"locust/threaded: **{ref['ratio']:.2f}** (per repetition {ref['ratio_min']:.2f}-{ref['ratio_max']:.2f}).",
        ]
    elif reference:
        lines += ["", f"Server-bound reference: not measured ({reference.get('error', 'failed')})."]
    if document.get("goals"):
        heading = "Goals of issue 4, as measured in this run"
        if settings["repeat"] < DEFAULT_REPEAT or settings["warmup_s"] < DEFAULT_WARMUP_S:
            heading += (
                f" ({settings['repeat']} repetition(s), {settings['warmup_s']:g} s warm-up, "
                f"{settings['duration_s']:g} s windows: indicative; a full run judges them)"
            )
        lines += ["", heading + ":", ""] + format_goals(document["goals"])
    lines += [
        "",
        "Caveats: peak RSS sums VmHWM over the server's live processes (pages shared after fork are "
        "counted per process; children that already exited are not counted). Server CPU includes "
        "children reaped in the window.",
    ]
    return "\n".join(lines) + "\n"


def _rate_cell(result: dict[str, Any]) -> str:
    if "error" in result:
        return "error"
    return f"{result['rps']:,.0f} ({result['rps_min']:,.0f}-{result['rps_max']:,.0f})"


def write_charts(document: dict[str, Any], out_dir: Path) -> list[Path]:
    """throughput.png and p99.png: a line per runner against users (log scale); hollow
    markers for generator-bound points; the generator ceiling as a dashed line."""
    import matplotlib  # imported here: only the charts need it, and it is slow to import

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    written = []
    charts = (
        ("throughput.png", "requests/s", lambda record: record["rps"], False),
        ("p99.png", "p99 latency (ms)", lambda record: (record["latency_us"]["p99"] or 0) / 1000.0, True),
    )
    for filename, ylabel, value_of, log_y in charts:
        figure, axes = pyplot.subplots(figsize=(10.5, 5.5))
        for runner in document["settings"]["runners"]:
            records = [r for r in document["points"] if r["runner"] == runner and "error" not in r]
            records = [r for r in records if value_of(r) is not None]
            if not records:
                continue
            xs = [r["users"] for r in records]
            ys = [value_of(r) for r in records]
            (line,) = axes.plot(xs, ys, marker="o", label=runner)
            bound = [(x, y) for x, y, r in zip(xs, ys, records) if r.get("generator_bound")]
            if bound:
                axes.scatter(
                    [x for x, _ in bound], [y for _, y in bound], s=90, facecolors="white",
                    edgecolors=line.get_color(), zorder=3,
                )
            # A rate with starving connections behind it is not a good rate: mark it.
            stalled = [(x, y) for x, y, r in zip(xs, ys, records) if r.get("stalled_connections")]
            if stalled:
                axes.scatter(
                    [x for x, _ in stalled], [y for _, y in stalled], s=40, marker="x",
                    color="black", zorder=4, label="_stalled",
                )
        if any(r.get("stalled_connections") for r in document["points"] if "error" not in r):
            axes.scatter([], [], s=40, marker="x", color="black", label="point with stalled connections")
        ceiling = document["generator_ceiling"].get("rps")
        if filename == "throughput.png" and ceiling:
            axes.axhline(ceiling, linestyle="--", color="grey", label="generator ceiling")
        axes.set_xscale("log")
        users = sorted({r["users"] for r in document["points"]})
        if users:
            axes.set_xticks(users)
            axes.set_xticklabels([str(count) for count in users])
            axes.minorticks_off()
        if log_y:
            axes.set_yscale("log")
        transport = SERVICES[document["service"]].transport
        axes.set_xlabel("concurrent users (" + ("connections" if transport == "tcp" else "sockets") + ")")
        axes.set_ylabel(ylabel)
        mode = document["points"][0].get("mode", "closed-loop") if document["points"] else ""
        axes.set_title(
            f"{document['service']}: {ylabel} vs users ({mode}; hollow: generator-bound; x: stalls)"
        )
        axes.grid(True, which="both", alpha=0.3)
        axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the plot, not over it
        figure.tight_layout()
        path = out_dir / filename
        figure.savefig(path, dpi=100)
        pyplot.close(figure)
        written.append(path)
    return written


def write_outputs(document: dict[str, Any], out_dir: Path) -> None:
    slim = json.loads(json.dumps(document))
    for record in slim["points"]:
        for sample in record.get("samples", []):
            sample.pop("command", None)
    slim["commands_example"] = next(
        (sample.get("command") for record in document["points"] for sample in record.get("samples", []) if sample.get("command")),
        None,
    )
    (out_dir / "compare.json").write_text(json.dumps(slim, indent=1) + "\n")
    (out_dir / "compare.md").write_text(markdown_table(document))
    write_charts(document, out_dir)


# --- the command -------------------------------------------------------------------------


def _users_list(text: str) -> list[int]:
    try:
        users = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--users takes integers separated by commas, not {text!r}") from None
    if not users or any(not 1 <= count <= 10_000 for count in users):
        raise argparse.ArgumentTypeError("--users: each count must be in 1..10000")
    return users


def add_compare_command(commands: Any) -> None:
    """Add ``compare`` to the ``wirecheck`` subcommands (called from harness/cli.py)."""
    parser = commands.add_parser(
        "compare",
        help="load-test one service on every runner and compare (locust; loopback only)",
        description="Launch each runner in turn (server on core 0, locust on core 1), sweep the "
        "number of concurrent users with warm-up and repetitions, and write compare.json, "
        "compare.md, throughput.png, p99.png and locust's HTML report per point.",
    )
    parser.add_argument("--service", required=True, help=f"one of: {', '.join(LOAD_PROFILES)}")
    parser.add_argument("--runners", default="", help="comma-separated runners (default: all that carry the service)")
    parser.add_argument("--users", type=_users_list, default=None, help="comma-separated user counts (default: 1,10,50,200,1000)")
    parser.add_argument("--duration", type=float, default=None, metavar="S", help=f"measurement window per point (default {DEFAULT_DURATION_S:g})")
    parser.add_argument("--warmup", type=float, default=None, metavar="S", help=f"warm-up per point (default {DEFAULT_WARMUP_S:g})")
    parser.add_argument("--repeat", type=int, default=None, metavar="N", help=f"repetitions per point (default {DEFAULT_REPEAT})")
    parser.add_argument("--quick", action="store_true", help="users 1,50,1000, one repetition, short windows (< 3 min for echo-tcp)")
    parser.add_argument("--out", default="compare-results", metavar="DIR", help="where compare.json, compare.md and the charts go (default: ./compare-results)")
    parser.add_argument("--html-dir", default=None, metavar="DIR", help="locust's HTML/CSV and wirecheck's JSON per point (default: OUT/points)")
    parser.add_argument("--payload-bytes", type=int, default=64, metavar="N",
                        help="echo request size in bytes (default 64)")
    parser.add_argument("--request-timeout", type=float, default=2.0, metavar="S",
                        help="bound on a connect and on each reply; past it the request fails (default 2)")
    parser.add_argument("--stall-ms", type=float, default=500.0, metavar="MS",
                        help="a connection that waited longer than this for the server is stalled (default 500)")
    parser.add_argument("--open-loop-rate", type=float, default=0.0, metavar="RPS",
                        help="total requests/s per point on a fixed schedule (open loop); 0: closed loop")
    parser.set_defaults(handler=compare_command)


def _raise_keyboard_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def compare_command(args: argparse.Namespace) -> int:
    from harness.cli import UsageError

    if args.service not in LOAD_PROFILES:
        raise UsageError(f"compare knows services {', '.join(LOAD_PROFILES)}, not {args.service!r}")
    transport = SERVICES[args.service].transport
    available = runners_for(transport)
    runners = [name.strip() for name in args.runners.split(",") if name.strip()] or available
    unknown = [name for name in runners if name not in available]
    if unknown:
        raise UsageError(f"runner(s) {', '.join(unknown)} do not carry {args.service}; runners that do: {' '.join(available)}")
    quick = args.quick
    settings = Settings(
        service=args.service,
        runners=runners,
        users=args.users or list(QUICK_USERS if quick else DEFAULT_USERS),
        duration_s=args.duration if args.duration is not None else (QUICK_DURATION_S if quick else DEFAULT_DURATION_S),
        warmup_s=args.warmup if args.warmup is not None else (QUICK_WARMUP_S if quick else DEFAULT_WARMUP_S),
        repeat=args.repeat if args.repeat is not None else (QUICK_REPEAT if quick else DEFAULT_REPEAT),
        out_dir=Path(args.out),
        html_dir=Path(args.html_dir) if args.html_dir else Path(args.out) / "points",
        payload_bytes=args.payload_bytes,
        request_timeout_s=args.request_timeout,
        stall_ms=args.stall_ms,
        open_loop_rate=args.open_loop_rate,
        pinned=(os.cpu_count() or 1) >= 2 and hasattr(os, "sched_setaffinity"),
    )
    if settings.duration_s <= 0 or settings.warmup_s < 0 or not 1 <= settings.repeat <= 50:
        raise UsageError("--duration must be > 0, --warmup >= 0, --repeat in 1..50")
    # SIGTERM unwinds like Ctrl-C, so every finally block stops its server and generator.
    previous_handler = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        document = run_compare(settings)
    except KeyboardInterrupt:
        print("\nwirecheck compare: interrupted; the servers and generators it started are stopped", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
    print()
    print(markdown_table(document))
    print(f"wrote {settings.out_dir / 'compare.json'}, compare.md, throughput.png, p99.png; "
          f"per-point reports in {settings.html_dir}; wall time {_clock(document['wall_s'])}")
    if document["leftover_processes"]:
        print(f"warning: server processes left after stop: {document['leftover_processes']}", file=sys.stderr)
    return 0

