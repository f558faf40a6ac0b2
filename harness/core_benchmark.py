"""``python -m harness.core_benchmark``: is the serving core as fast as the one it replaced?

The goal it judges: on every stream runner, the current core serves an echo load at no less
than :data:`GOAL_RATIO` of the previous core's rate (ratio of medians, new/old). In the same
run and the same table it measures what TLS costs each runner on the current core.

Theory of operation, one run:

1. **Two code trees.** The new side is this checkout. The old side is a ``git worktree`` of the
   baseline revision (by default the parent of the commit that added
   ``harness/runners/connection.py``, the module the current core is built around; ``--baseline
   REV`` overrides), made in a temporary folder and removed afterwards, on error and on
   Ctrl-C/SIGTERM too. Each server runs with the interpreter this command runs on, its cwd and
   ``PYTHONPATH`` set to its tree. ``python -m harness`` would resolve ``harness`` from the cwd
   first, but an editable install elsewhere could still win if the cwd were wrong, so the
   server is started through a two-line bootstrap that does exactly what ``python -m harness``
   does (``harness.cli.main``) after writing the path of the ``harness`` it imported to stderr;
   the benchmark refuses a server whose ``harness`` is not the tree's (:class:`WrongCodeError`).
2. **Pinned.** Each server starts pinned to :data:`SERVER_CORE` (this process pins itself there
   while it forks the server, then every thread of the server's tree is pinned again and
   checked); each load client starts pinned to :data:`GENERATOR_CORE`, as ``wirecheck
   compare`` does. With fewer than two cores nothing is pinned and the report says so.
3. **Measured alike, alternately.** Every measurement is a fresh server and a fresh client
   process: warm-up, then a fixed window; only requests that end in the window count, every
   echo is checked byte-exact. Repetitions are the outer loop (each runner's repetitions are
   spread over the whole run, so drift of a noisy machine hits both sides) and the order of
   old and new flips every repetition (ABBA), as does the order of TLS and plain.
4. **Two ratios per runner.**

   - new/old, with the plain threaded client (``python -m harness.loadgen.threaded_client``,
     the project's yardstick, the same process for both sides, run from this tree);
   - TLS/plain on the new core, with :mod:`harness.loadgen.echo_loop` on *both* sides (the
     threaded client speaks no TLS, and a ratio of two different clients would measure the
     clients): the sides differ only by the TLS layer.

   Each is the ratio of the medians, shown with its spread: the min-max of the per-repetition
   ratios (repetition i of one side over repetition i of the other) and each side's min-max.
   Server CPU per reply (from /proc at the window's edges) is shown beside the rates, and
   turned into a second ratio, replies per server CPU second (new/old, TLS/plain): the rate
   each side would reach with a whole core. On a shared machine the rate depends on how much
   of the core other processes left the server, which changes from one measurement to the
   next; the CPU per reply changes much less. So each measurement also records the share of
   the server's core that other processes used meanwhile (``/proc/stat``'s line for that core
   minus the server's own CPU), and the report shows it per row. When the client saturates
   its core (``generator-bound``, flagged), the rate hides a costlier server; the CPU per reply
   still shows it.

5. **Server-bound, if asked.** With ``--server-cpu FRACTION`` every server tree is held to
   that share of its core by a cgroup CFS quota (:class:`harness.loadgen.cpu_cap.CpuCap`, as
   ``wirecheck compare --server-cpu`` does), so that the client, which alone can use a whole
   core, is never the limit: the rate then measures the server's work per reply on both
   sides, and new/old in req/s is a comparison of cores, not of how much of the client's
   core was left. Uncapped, most echo points on a 2-core machine are generator-bound (†).

Outputs (``--out``): ``core-benchmark.json`` (every measurement and every summary) and
``core-benchmark.md`` (the table and the verdict). Exit status 0 when the run completed
(whatever the verdict), 1 when it could not measure, 2 for bad input, 130 on interrupt.

Resource handling: every server is stopped by its pid (SIGTERM, then SIGKILL to the group it
leads) in a ``finally``; every client runs under a deadline and its group is killed past it or
on interrupt; the temporary worktree is removed in a ``finally``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from harness.compare.aggregation import GENERATOR_BOUND_CPU_CORES
from harness.compare.measure import GENERATOR_CORE, SERVER_CORE, stop_server
from harness.launch import LaunchError, RunningServer, launch_command
from harness.loadgen import procstat
from harness.loadgen.cpu_cap import CpuCap, CpuCapUnavailable, probe_cpu_cap
from harness.runners import one_client_at_a_time_runners, runners_for

REPO_ROOT = Path(__file__).resolve().parent.parent

# The service every measurement serves: an echo does the least protocol work per request, so
# what it measures is the serving core (runner plus connection plumbing), and both load clients
# check its replies byte-exact.
BENCHMARK_SERVICE = "echo-tcp"

# The goal: the new core keeps at least 95 % of the old core's rate on every runner (5 % is
# about the run-to-run noise of a 3 s window on this project's shared 2-core machines).
GOAL_RATIO = 0.95

# The module whose first appearance marks the current core; its parent is the default baseline.
CORE_MARKER_PATH = "harness/runners/connection.py"

# Defaults: the chapter's "many clients" (50 persistent connections); a 1 s warm-up covers the
# connect burst and the interpreter's warm caches; a 3 s window holds tens of thousands of
# requests; three repetitions give a median and a spread.
DEFAULT_CONNECTIONS = 50
DEFAULT_WARMUP_S = 1.0
DEFAULT_WINDOW_S = 3.0
DEFAULT_REPEAT = 3
# --quick: a look in about a fifth of the time, not a verdict to quote.
QUICK_WARMUP_S = 0.5
QUICK_WINDOW_S = 1.0

DEFAULT_PAYLOAD_BYTES = 64  # as the threaded client's and the locust users' default
DEFAULT_REQUEST_TIMEOUT_S = 2.0  # as the threaded client's: a reply not back in 2 s is not coming
DEFAULT_OUT_DIR = Path("core-benchmark-results")  # git-ignored

# Interpreter start-up, thread start and JSON of a load client, beyond warm-up + window +
# request timeout + its own 5 s join grace, on a loaded machine.
CLIENT_START_ALLOWANCE_S = 15.0
# Join grace the load clients give their threads after the window (both use 5 s).
CLIENT_JOIN_GRACE_S = 5.0
# git operations on a local repository: seconds, not minutes; a bound all the same.
GIT_TIMEOUT_S = 120.0

# What the bootstrap writes to stderr before serving: the path of the harness it imported.
HARNESS_PATH_MARKER = "core-benchmark: harness imported from "
SERVER_BOOTSTRAP = (
    "import sys, harness; "
    f"sys.stderr.write({HARNESS_PATH_MARKER!r} + harness.__file__ + '\\n'); sys.stderr.flush(); "
    "from harness.cli import main; sys.exit(main(sys.argv[1:]))"
)
# Where ``wirecheck serve --tls`` names its throw-away CA (harness/cli.py).
CA_PATH_PATTERN = re.compile(r"CA: (\S+)")


class BenchmarkError(RuntimeError):
    """The benchmark cannot run as asked (bad input or setup); the message says why."""


class WrongCodeError(BenchmarkError):
    """A server imported ``harness`` from another tree than the one it was started for."""


# --- the two code trees -----------------------------------------------------------------


@dataclass(frozen=True)
class CodeTree:
    """A checkout whose ``harness`` a server runs.

    Attributes:
        side: ``old`` or ``new``.
        root: the folder that holds ``harness/``.
        commit: the full hash checked out (for the new side, HEAD of this checkout).
        dirty: the new side's working tree has changes under ``harness/`` not in ``commit``.
    """

    side: str
    root: Path
    commit: str
    dirty: bool = False


def git(arguments: Sequence[str], cwd: Path) -> str:
    """Run ``git`` in ``cwd``; return its stripped stdout.

    Raises:
        BenchmarkError: git failed or overran :data:`GIT_TIMEOUT_S` (message: its stderr).
    """
    try:
        completed = subprocess.run(
            ["git", *arguments], cwd=cwd, capture_output=True, text=True, timeout=GIT_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise BenchmarkError(f"git {' '.join(arguments)} took over {GIT_TIMEOUT_S:g} s") from None
    except FileNotFoundError:
        raise BenchmarkError("git is not installed") from None
    if completed.returncode != 0:
        detail = completed.stderr.strip().splitlines()
        raise BenchmarkError(f"git {' '.join(arguments)}: {detail[-1] if detail else 'failed'}")
    return completed.stdout.strip()


def default_baseline(repo: Path) -> str:
    """The parent of the commit that added :data:`CORE_MARKER_PATH` (the previous core).

    Raises:
        BenchmarkError: the file was never added in this history, or its commit has no parent.
    """
    added = git(["log", "--diff-filter=A", "--format=%H", "--", CORE_MARKER_PATH], repo).split()
    if not added:
        raise BenchmarkError(f"no commit adds {CORE_MARKER_PATH}: pass --baseline REV")
    return resolve_revision(f"{added[-1]}^", repo)


def resolve_revision(revision: str, repo: Path) -> str:
    """The full commit hash ``revision`` names.

    Raises:
        BenchmarkError: it names no commit.
    """
    try:
        return git(["rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"], repo)
    except BenchmarkError:
        raise BenchmarkError(f"--baseline {revision!r} names no commit in {repo}") from None


def current_tree(repo: Path) -> CodeTree:
    """This checkout as the new side."""
    commit = git(["rev-parse", "HEAD"], repo)
    dirty = bool(git(["status", "--porcelain", "--", "harness"], repo))
    return CodeTree("new", repo, commit, dirty)


@contextmanager
def baseline_worktree(repo: Path, commit: str) -> Iterator[CodeTree]:
    """A detached ``git worktree`` of ``commit`` in a temporary folder, for the ``with`` block.

    Resource handling: the worktree is removed (``git worktree remove --force``) and the
    folder deleted when the block ends, however it ends.
    """
    parent = Path(tempfile.mkdtemp(prefix="wirecheck-core-baseline-"))
    checkout = parent / "baseline"
    try:
        git(["worktree", "add", "--detach", "--quiet", str(checkout), commit], repo)
        yield CodeTree("old", checkout, commit)
    finally:
        if checkout.exists():
            try:
                git(["worktree", "remove", "--force", str(checkout)], repo)
            except BenchmarkError as error:
                print(f"core-benchmark: warning: {error}; remove {checkout} by hand", file=sys.stderr)
        shutil.rmtree(parent, ignore_errors=True)


# --- one measurement --------------------------------------------------------------------


# The three kinds of measurement: (client, TLS on the server).
THREADED_PLAIN = "threaded-client plain"
LOOP_PLAIN = "echo-loop plain"
LOOP_TLS = "echo-loop tls"


@dataclass
class Settings:
    runners: list[str]
    repeat: int
    connections: int
    warmup_s: float
    window_s: float
    payload_bytes: int
    request_timeout_s: float
    out_dir: Path
    baseline: str | None
    pinned: bool
    server_cpu: float | None = None  # the share of its core each server may use, if capped
    server_cpu_cap: str | None = None  # that cap as the report states it


@dataclass
class Measurement:
    """One server, one client, one window.

    Attributes:
        runner, side, kind, repetition: what was measured (``kind`` is one of
            :data:`THREADED_PLAIN`, :data:`LOOP_PLAIN`, :data:`LOOP_TLS`).
        rps: replies per second in the window (None when it could not be measured).
        replies, failures: counts in the window.
        client_cpu_cores, server_cpu_cores: CPU used over the window, in cores.
        server_cpu_us_per_reply: the server's CPU per reply, microseconds.
        generator_bound: the client used at least GENERATOR_BOUND_CPU_CORES of its core.
        server_core_others_share: the share of the server's core that other processes used
            while the client ran (busy time of that core minus the server's own CPU): on a
            shared machine, the part of the core the server did not get.
        server_core_steal_share: the share of the server's core the hypervisor gave elsewhere.
        harness_file: the ``harness/__init__.py`` the server imported.
        error: why there is no rate.
    """

    runner: str
    side: str
    kind: str
    repetition: int
    rps: float | None = None
    replies: int = 0
    failures: int = 0
    first_failure: str | None = None
    client_cpu_cores: float | None = None
    server_cpu_cores: float | None = None
    server_cpu_us_per_reply: float | None = None
    generator_bound: bool = False
    server_core_others_share: float | None = None
    server_core_steal_share: float | None = None
    harness_file: str | None = None
    server_command: list[str] = field(default_factory=list)
    client_command: list[str] = field(default_factory=list)
    leftover_pids: list[int] = field(default_factory=list)
    elapsed_s: float = 0.0
    error: str | None = None


def launch_tree_server(tree: CodeTree, runner: str, *, tls: bool, pinned: bool) -> RunningServer:
    """Start ``echo-tcp`` on ``runner`` from ``tree``, pinned to the server core, verified.

    Raises:
        LaunchError: the server did not come up.
        WrongCodeError: it imported another tree's ``harness``.
        BenchmarkError: pinning could not be verified.

    Resource handling: the caller owns the returned server and must stop it.
    """
    argv = [sys.executable, "-c", SERVER_BOOTSTRAP, "serve", BENCHMARK_SERVICE, "--runner", runner,
            "--host", "127.0.0.1"]
    if tls:
        argv.append("--tls")
    environment = dict(os.environ, PYTHONPATH=str(tree.root), PYTHONDONTWRITEBYTECODE="1")
    def start() -> RunningServer:
        return launch_command(argv, env=environment, cwd=str(tree.root))

    try:
        server = procstat.start_on_cores(start, {SERVER_CORE}) if pinned else start()
    except procstat.NotPinned as error:
        raise BenchmarkError(f"server {runner} not pinned to core {SERVER_CORE}: {error}") from None
    try:
        imported = _imported_harness(server)
        expected = tree.root / "harness" / "__init__.py"
        if imported is None or Path(imported).resolve() != expected.resolve():
            raise WrongCodeError(f"the {tree.side} {runner} server imported harness from {imported}, not {expected}")
    except BaseException:
        server.stop()
        raise
    return server


def _imported_harness(server: RunningServer) -> str | None:
    for line in server.stderr_text().splitlines():
        if line.startswith(HARNESS_PATH_MARKER):
            return line[len(HARNESS_PATH_MARKER):].strip()
    return None


def client_command(kind: str, server: RunningServer, settings: Settings) -> list[str]:
    """The load client's command line for ``kind`` against ``server`` (recorded, reproducible)."""
    target = f"{server.host}:{server.port}"
    common = ["--warmup", f"{settings.warmup_s:g}", "--duration", f"{settings.window_s:g}",
              "--payload-bytes", str(settings.payload_bytes),
              "--request-timeout", f"{settings.request_timeout_s:g}", "--watch-pid", str(server.pid)]
    if kind == THREADED_PLAIN:
        return [sys.executable, "-m", "harness.loadgen.threaded_client", "--service", BENCHMARK_SERVICE,
                "--target", target, "--threads", str(settings.connections), *common]
    command = [sys.executable, "-m", "harness.loadgen.echo_loop", "--target", target,
               "--connections", str(settings.connections), *common]
    if kind == LOOP_TLS:
        match = CA_PATH_PATTERN.search(server.stderr_text())
        if match is None:
            raise BenchmarkError(f"the TLS server did not name its CA on stderr: {server.stderr_text()[-300:]!r}")
        command += ["--tls-ca", match.group(1), "--server-name", "127.0.0.1"]
    return command


def run_client(command: list[str], settings: Settings) -> dict:
    """Run a load client pinned to the generator core, under a deadline; return its JSON line.

    Raises:
        BenchmarkError: it overran the deadline, failed, or printed no JSON.

    Resource handling: the client leads its own session; past the deadline or on interrupt
    its whole group is killed and reaped before this returns or raises.
    """
    deadline_s = (settings.warmup_s + settings.window_s + settings.request_timeout_s
                  + CLIENT_JOIN_GRACE_S + CLIENT_START_ALLOWANCE_S)
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        cwd=REPO_ROOT, env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
        start_new_session=True,
        preexec_fn=(lambda: os.sched_setaffinity(0, {GENERATOR_CORE})) if settings.pinned else None,
    )
    try:
        stdout, stderr = process.communicate(timeout=deadline_s)
    except BaseException as interruption:  # the deadline, Ctrl-C, SIGTERM: the client goes too
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.communicate()
        if isinstance(interruption, subprocess.TimeoutExpired):
            raise BenchmarkError(f"load client overran its {deadline_s:g} s deadline and was killed") from None
        raise
    lines = stdout.decode("utf-8", "replace").strip().splitlines()
    if process.returncode != 0 or not lines:
        tail = stderr.decode("utf-8", "replace").strip().splitlines()
        raise BenchmarkError(f"load client exited {process.returncode}: {tail[-1] if tail else '(no output)'}")
    try:
        return json.loads(lines[-1])
    except json.JSONDecodeError:
        raise BenchmarkError(f"load client printed no JSON: {lines[-1][:200]!r}") from None


@dataclass(frozen=True)
class ServerCoreSample:
    """The server core's busy and stolen CPU seconds so far, and the server tree's own."""

    moment: float
    core_busy_seconds: float
    core_steal_seconds: float
    server_cpu_seconds: float


def _server_core_sample(server_pid: int, pinned: bool) -> ServerCoreSample | None:
    """Read ``/proc/stat``'s line for the server core and the server tree's CPU, now.

    Busy is user + nice + system: the time processes ran there (interrupt and softirq time,
    much of it our own loopback traffic, is left out). None when not pinned or not readable.
    """
    if not pinned:
        return None
    server_cpu = procstat.tree_cpu_seconds(server_pid)
    try:
        with open("/proc/stat", "rb") as stat_file:
            lines = stat_file.read().splitlines()
    except OSError:
        return None
    name = f"cpu{SERVER_CORE}".encode()
    for line in lines:
        fields = line.split()
        if fields and fields[0] == name and server_cpu is not None:
            values = [int(value) for value in fields[1:9]] + [0] * 8
            user, nice, system, steal = values[0], values[1], values[2], values[7]
            ticks = procstat.CLOCK_TICKS_PER_S
            return ServerCoreSample(time.monotonic(), (user + nice + system) / ticks, steal / ticks, server_cpu)
    return None


def measure(tree: CodeTree, runner: str, kind: str, repetition: int, settings: Settings) -> Measurement:
    """One fresh server from ``tree`` and one client of ``kind``; never raises for the server's
    or the client's failure (it is recorded in ``error``), only for an interrupt."""
    started = time.monotonic()
    record = Measurement(runner, tree.side, kind, repetition)
    server = None
    try:
        server = launch_tree_server(tree, runner, tls=(kind == LOOP_TLS), pinned=settings.pinned)
        record.server_command = server.argv
        record.harness_file = _imported_harness(server)
        record.client_command = client_command(kind, server, settings)
        with ExitStack() as capped:
            if settings.server_cpu is not None:
                capped.enter_context(CpuCap(settings.server_cpu, name="wirecheck-core-benchmark")).add_tree(server.pid)
            before = _server_core_sample(server.pid, settings.pinned)
            result = run_client(record.client_command, settings)
            after = _server_core_sample(server.pid, settings.pinned)
        if before is not None and after is not None:
            seconds = after.moment - before.moment
            server_cpu = after.server_cpu_seconds - before.server_cpu_seconds
            record.server_core_others_share = max(0.0, after.core_busy_seconds - before.core_busy_seconds - server_cpu) / seconds
            record.server_core_steal_share = (after.core_steal_seconds - before.core_steal_seconds) / seconds
        record.rps = float(result["rps"])
        record.replies = int(result["replies"])
        record.failures = int(result["failures"])
        record.first_failure = result.get("first_failure")
        record.client_cpu_cores = result.get("cpu_cores")
        record.server_cpu_cores = result.get("server_cpu_cores")
        if record.server_cpu_cores is not None and record.replies:
            record.server_cpu_us_per_reply = record.server_cpu_cores * settings.window_s / record.replies * 1e6
        record.generator_bound = (record.client_cpu_cores or 0.0) >= GENERATOR_BOUND_CPU_CORES
        if record.replies == 0:
            record.error = f"no reply in the window ({record.failures} failures; first: {record.first_failure})"
            record.rps = None
    except WrongCodeError:
        raise  # every later measurement would be as wrong: stop the run
    except (LaunchError, BenchmarkError, CpuCapUnavailable) as error:
        record.error = str(error).splitlines()[0]
    finally:
        if server is not None:
            record.leftover_pids = stop_server(server)
        record.elapsed_s = time.monotonic() - started
    return record


# --- the plan and the summaries ---------------------------------------------------------


def plan(settings: Settings) -> list[tuple[int, str, str, str]]:
    """Every measurement in order: (repetition, runner, side, kind).

    Repetitions outermost; within one, each runner's pairs alternate (old/new, then plain/TLS)
    and flip order every repetition, so neither side always runs first or on a warmer machine.
    """
    steps = []
    for repetition in range(1, settings.repeat + 1):
        flip = repetition % 2 == 0
        for runner in settings.runners:
            core_pair = [("old", THREADED_PLAIN), ("new", THREADED_PLAIN)]
            tls_pair = [("new", LOOP_PLAIN), ("new", LOOP_TLS)]
            for side, kind in (core_pair[::-1] if flip else core_pair) + (tls_pair[::-1] if flip else tls_pair):
                steps.append((repetition, runner, side, kind))
    return steps


@dataclass
class RatioSummary:
    """Numerator over denominator for one runner: medians, their ratio and the spreads.

    Attributes:
        numerator_rps, denominator_rps: the per-repetition rates (None: not measured).
        ratio_of_medians: median(numerator) / median(denominator).
        repetition_ratio_min, repetition_ratio_max: spread of rep-i over rep-i ratios.
        per_cpu_ratio: replies per server CPU second, numerator over denominator (the
            median CPU per reply of the denominator over the numerator's): the ratio of the
            rates the two would reach with a whole core each, which other load on a shared
            machine disturbs far less than the rate itself.
        others_share_max: the largest share of the server core other processes took during
            any measurement of the pair.
    """

    numerator: str
    denominator: str
    numerator_rps: list[float | None]
    denominator_rps: list[float | None]
    numerator_median: float | None = None
    numerator_min: float | None = None
    numerator_max: float | None = None
    denominator_median: float | None = None
    denominator_min: float | None = None
    denominator_max: float | None = None
    ratio_of_medians: float | None = None
    repetition_ratio_min: float | None = None
    repetition_ratio_max: float | None = None
    numerator_cpu_us_per_reply: float | None = None
    denominator_cpu_us_per_reply: float | None = None
    per_cpu_ratio: float | None = None
    per_cpu_repetition_ratio_min: float | None = None
    per_cpu_repetition_ratio_max: float | None = None
    generator_bound_repetitions: int = 0
    numerator_failures: int = 0
    denominator_failures: int = 0
    others_share_median: float | None = None
    others_share_max: float | None = None
    errors: list[str] = field(default_factory=list)


def summarise(numerators: list[Measurement], denominators: list[Measurement], labels: tuple[str, str]) -> RatioSummary:
    """The ratio of two series of measurements, paired by repetition."""
    by_rep_n = {m.repetition: m for m in numerators}
    by_rep_d = {m.repetition: m for m in denominators}
    repetitions = sorted(set(by_rep_n) | set(by_rep_d))
    summary = RatioSummary(
        labels[0], labels[1],
        [by_rep_n[r].rps if r in by_rep_n else None for r in repetitions],
        [by_rep_d[r].rps if r in by_rep_d else None for r in repetitions],
    )
    top = [m.rps for m in numerators if m.rps]
    bottom = [m.rps for m in denominators if m.rps]
    if top:
        summary.numerator_median = statistics.median(top)
        summary.numerator_min, summary.numerator_max = min(top), max(top)
    if bottom:
        summary.denominator_median = statistics.median(bottom)
        summary.denominator_min, summary.denominator_max = min(bottom), max(bottom)
    if top and bottom:
        summary.ratio_of_medians = summary.numerator_median / summary.denominator_median
    paired = [by_rep_n[r].rps / by_rep_d[r].rps for r in repetitions
              if r in by_rep_n and r in by_rep_d and by_rep_n[r].rps and by_rep_d[r].rps]
    if paired:
        summary.repetition_ratio_min, summary.repetition_ratio_max = min(paired), max(paired)
    top_cost = [m.server_cpu_us_per_reply for m in numerators if m.server_cpu_us_per_reply]
    bottom_cost = [m.server_cpu_us_per_reply for m in denominators if m.server_cpu_us_per_reply]
    if top_cost:
        summary.numerator_cpu_us_per_reply = statistics.median(top_cost)
    if bottom_cost:
        summary.denominator_cpu_us_per_reply = statistics.median(bottom_cost)
    if top_cost and bottom_cost:
        summary.per_cpu_ratio = summary.denominator_cpu_us_per_reply / summary.numerator_cpu_us_per_reply
    paired_cpu = [by_rep_d[r].server_cpu_us_per_reply / by_rep_n[r].server_cpu_us_per_reply for r in repetitions
                  if r in by_rep_n and r in by_rep_d and by_rep_n[r].server_cpu_us_per_reply
                  and by_rep_d[r].server_cpu_us_per_reply]
    if paired_cpu:
        summary.per_cpu_repetition_ratio_min, summary.per_cpu_repetition_ratio_max = min(paired_cpu), max(paired_cpu)
    both = numerators + denominators
    summary.generator_bound_repetitions = sum(m.generator_bound for m in both)
    summary.numerator_failures = sum(m.failures for m in numerators)
    summary.denominator_failures = sum(m.failures for m in denominators)
    others = [m.server_core_others_share for m in both if m.server_core_others_share is not None]
    if others:
        summary.others_share_median, summary.others_share_max = statistics.median(others), max(others)
    summary.errors = [f"{m.side} {m.kind} rep {m.repetition}: {m.error}" for m in both if m.error]
    return summary


@dataclass
class RunnerResult:
    """One runner's row.

    Attributes:
        goal_met: new/old req/s ratio of medians >= GOAL_RATIO (None: not measured).
        per_cpu_goal_met: the same test on replies per server CPU second (None: not measured).
    """

    runner: str
    new_over_old: RatioSummary
    tls_over_plain: RatioSummary
    goal_met: bool | None
    per_cpu_goal_met: bool | None


def summarise_runner(runner: str, measurements: list[Measurement]) -> RunnerResult:
    def pick(side: str, kind: str) -> list[Measurement]:
        return [m for m in measurements if m.runner == runner and m.side == side and m.kind == kind]

    core = summarise(pick("new", THREADED_PLAIN), pick("old", THREADED_PLAIN), ("new", "old"))
    tls = summarise(pick("new", LOOP_TLS), pick("new", LOOP_PLAIN), ("tls", "plain"))
    goal = None if core.ratio_of_medians is None else core.ratio_of_medians >= GOAL_RATIO
    per_cpu_goal = None if core.per_cpu_ratio is None else core.per_cpu_ratio >= GOAL_RATIO
    return RunnerResult(runner, core, tls, goal, per_cpu_goal)


# --- reports ----------------------------------------------------------------------------


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _cost(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}"


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def _span(low: float | None, high: float | None, formatter: Callable[[float | None], str] = _ratio) -> str:
    return "—" if low is None or high is None else f"{formatter(low)}–{formatter(high)}"


def _verdict(met: bool | None) -> str:
    return "—" if met is None else ("yes" if met else "**NO**")


def goal_verdict(results: list[RunnerResult], *, per_cpu: bool = False) -> str:
    """MET when every runner's new/old ratio (of req/s medians, or per server CPU) is at least
    GOAL_RATIO."""
    verdicts = [result.per_cpu_goal_met if per_cpu else result.goal_met for result in results]
    if any(verdict is None for verdict in verdicts):
        return "NOT MET (some runners were not measured)"
    return "MET" if all(verdicts) else "NOT MET"


def _load_text(load: list[float] | None) -> str:
    return " / ".join(f"{value:.2f}" for value in load) if load else "not recorded"


def markdown_report(results: list[RunnerResult], run: dict) -> str:
    """The tables and the verdict, for people."""
    lines = [
        f"# Serving core: new vs old, and the cost of TLS ({BENCHMARK_SERVICE})",
        "",
        f"**Goal** (new/old req/s, ratio of medians, >= {GOAL_RATIO} on every runner): **{goal_verdict(results)}**. "
        f"The same test on replies per server CPU second: **{goal_verdict(results, per_cpu=True)}**.",
        "",
        f"- old: `{run['old_commit'][:12]}` (baseline), new: `{run['new_commit'][:12]}`"
        + (" plus uncommitted changes under harness/" if run["new_dirty"] else "") + "; each server ran its own "
        "tree's code (checked: the path of the `harness` it imported).",
        f"- {run['connections']} persistent connections, {run['payload_bytes']} B echoes, warm-up {run['warmup_s']:g} s, "
        f"window {run['window_s']:g} s, {run['repeat']} repetitions; old/new (and plain/TLS) alternate and swap order "
        "every repetition; a fresh server and client process per measurement; {pinning}.".format(pinning=run["pinning"]),
        *([f"- **Server-bound**: every server tree held to {run['server_cpu_cap']}, "
           "so the rates compare the servers' work per reply, not what the client's core allowed."
           + (f" The quota did not hold in {len(run['over_cap'])} measurement(s), whose servers used more "
              f"(those rates are not server-bound): {'; '.join(run['over_cap'])}." if run.get("over_cap") else "")]
          if run.get("server_cpu") else []),
        "- **new/old**: the plain threaded client (`harness.loadgen.threaded_client`) against both cores. "
        "**TLS/plain**: the same loop (`harness.loadgen.echo_loop`) with TLS on and off against the new core, "
        "so the ratio is the cost of TLS alone, not of a different client.",
        "- Ratios are ratios of medians; the spread is the min–max of the per-repetition ratios (repetition i over "
        "repetition i), and each side's min–max req/s. **per CPU**: replies per server CPU second (median server CPU "
        "per reply of the denominator over the numerator's), the rate each side would reach with a whole core.",
        "- **others**: median (max) share of the server's core used by other processes during the row's measurements: "
        "on a shared machine, the part of the core the server did not get; where it is large, trust the per-CPU "
        "ratio more than the req/s ratio.",
        f"- Full run: {run['elapsed_s']:.0f} s wall time; load average (1, 5, 15 min) before "
        f"{_load_text(run.get('load_average_before'))}, after {_load_text(run.get('load_average_after'))} "
        f"on {run['machine']['cpus']} CPUs.",
        "",
        "## New core / old core",
        "",
        "| runner | old req/s (min–max) | new req/s (min–max) | new/old | per rep | server µs/reply old → new "
        f"| new/old per CPU (per rep) | req/s >= {GOAL_RATIO} | per CPU >= {GOAL_RATIO} | failures old/new | others |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    bounded = {name for name in one_client_at_a_time_runners()}
    for result in results:
        core = result.new_over_old
        marks = (" †" if core.generator_bound_repetitions else "") + (" ‡" if result.runner in bounded else "")
        lines.append(
            f"| {result.runner}{marks} "
            f"| {_rate(core.denominator_median)} ({_span(core.denominator_min, core.denominator_max, _rate)}) "
            f"| {_rate(core.numerator_median)} ({_span(core.numerator_min, core.numerator_max, _rate)}) "
            f"| {_ratio(core.ratio_of_medians)} | {_span(core.repetition_ratio_min, core.repetition_ratio_max)} "
            f"| {_cost(core.denominator_cpu_us_per_reply)} → {_cost(core.numerator_cpu_us_per_reply)} "
            f"| {_ratio(core.per_cpu_ratio)} ({_span(core.per_cpu_repetition_ratio_min, core.per_cpu_repetition_ratio_max)}) "
            f"| {_verdict(result.goal_met)} | {_verdict(result.per_cpu_goal_met)} "
            f"| {core.denominator_failures}/{core.numerator_failures} "
            f"| {_share(core.others_share_median)} ({_share(core.others_share_max)}) |"
        )
    lines += [
        "",
        "## TLS / plain on the new core (same loop)",
        "",
        "| runner | plain req/s (min–max) | TLS req/s (min–max) | TLS/plain | per rep | server µs/reply plain → TLS "
        "| TLS/plain per CPU (per rep) | failures plain/TLS | others |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        tls = result.tls_over_plain
        marks = (" †" if tls.generator_bound_repetitions else "") + (" ‡" if result.runner in bounded else "")
        lines.append(
            f"| {result.runner}{marks} "
            f"| {_rate(tls.denominator_median)} ({_span(tls.denominator_min, tls.denominator_max, _rate)}) "
            f"| {_rate(tls.numerator_median)} ({_span(tls.numerator_min, tls.numerator_max, _rate)}) "
            f"| {_ratio(tls.ratio_of_medians)} | {_span(tls.repetition_ratio_min, tls.repetition_ratio_max)} "
            f"| {_cost(tls.denominator_cpu_us_per_reply)} → {_cost(tls.numerator_cpu_us_per_reply)} "
            f"| {_ratio(tls.per_cpu_ratio)} ({_span(tls.per_cpu_repetition_ratio_min, tls.per_cpu_repetition_ratio_max)}) "
            f"| {tls.denominator_failures}/{tls.numerator_failures} "
            f"| {_share(tls.others_share_median)} ({_share(tls.others_share_max)}) |"
        )
    lines += [
        "",
        f"† in at least one measurement of the row the load client used >= {GENERATOR_BOUND_CPU_CORES:.0%} of its "
        "core: that rate may be the client's limit, not the server's (the per-CPU ratio is not affected).",
        "‡ serves one client at a time by design: one connection is served, the others wait in the backlog "
        "and time out (those failures are expected); the rate is one connection's round-trip rate. "
        "Failures on a pool (prefork-threads) are likewise the connections beyond its size.",
    ]
    errors = [error for result in results for error in result.new_over_old.errors + result.tls_over_plain.errors]
    if errors:
        lines += ["", "Measurements that failed:", ""] + [f"- {error}" for error in errors]
    return "\n".join(lines) + "\n"


# --- the command ------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this command's options to ``parser`` (so it can be mounted as a subcommand)."""
    parser.add_argument("--runner", action="append", default=None, metavar="NAME",
                        help="a stream runner to measure (repeatable; default: all of them)")
    parser.add_argument("--baseline", default=None, metavar="REV",
                        help=f"the previous core (default: the parent of the commit that added {CORE_MARKER_PATH})")
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT, help="repetitions per side (default 3)")
    parser.add_argument("--connections", type=int, default=DEFAULT_CONNECTIONS,
                        help="persistent connections (client threads) per measurement (default 50)")
    parser.add_argument("--warmup", type=float, default=None, metavar="SECONDS",
                        help=f"seconds before each window (default {DEFAULT_WARMUP_S:g}; --quick {QUICK_WARMUP_S:g})")
    parser.add_argument("--window", type=float, default=None, metavar="SECONDS",
                        help=f"the measurement window (default {DEFAULT_WINDOW_S:g}; --quick {QUICK_WINDOW_S:g})")
    parser.add_argument("--quick", action="store_true", help="shorter warm-up and window: a look, not a verdict")
    parser.add_argument("--payload-bytes", type=int, default=DEFAULT_PAYLOAD_BYTES)
    parser.add_argument("--request-timeout", type=float, default=DEFAULT_REQUEST_TIMEOUT_S, metavar="SECONDS")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT_DIR, metavar="DIR",
                        help=f"where core-benchmark.json and .md go (default {DEFAULT_OUT_DIR}/)")
    parser.add_argument("--server-cpu", type=float, default=None, metavar="FRACTION",
                        help="hold every server to this share of its core (a cgroup CPU quota, root only), "
                        "so that the server, not the client, limits the rate (e.g. 0.5)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m harness.core_benchmark",
        description="Measure the current serving core against the previous one (new/old req/s per "
        "runner) and the cost of TLS (TLS/plain), in one run.",
    )
    add_arguments(parser)
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    """Validate the arguments.

    Raises:
        BenchmarkError: a value out of range or an unknown runner (the message says which).
    """
    stream_runners = runners_for("stream")
    runners = args.runner or stream_runners
    for name in runners:
        if name not in stream_runners:
            raise BenchmarkError(f"unknown stream runner {name!r} (known: {', '.join(stream_runners)})")
    runners = list(dict.fromkeys(runners))
    warmup = args.warmup if args.warmup is not None else (QUICK_WARMUP_S if args.quick else DEFAULT_WARMUP_S)
    window = args.window if args.window is not None else (QUICK_WINDOW_S if args.quick else DEFAULT_WINDOW_S)
    if not 1 <= args.repeat <= 50:
        raise BenchmarkError(f"--repeat must be in 1..50, got {args.repeat}")
    if not 1 <= args.connections <= 1000:
        raise BenchmarkError(f"--connections must be in 1..1000, got {args.connections}")
    if not 0 <= warmup <= 600 or not 0 < window <= 600:
        raise BenchmarkError(f"--warmup must be in 0..600 and --window in (0, 600] seconds, got {warmup:g} and {window:g}")
    if not 1 <= args.payload_bytes <= 65536:
        raise BenchmarkError(f"--payload-bytes must be in 1..65536, got {args.payload_bytes}")
    if not 0 < args.request_timeout <= 60:
        raise BenchmarkError(f"--request-timeout must be in (0, 60] seconds, got {args.request_timeout:g}")
    pinned = (os.cpu_count() or 1) >= 2 and hasattr(os, "sched_setaffinity")
    server_cpu_cap = None
    if args.server_cpu is not None:
        if not 0.05 <= args.server_cpu <= 1:
            raise BenchmarkError(f"--server-cpu must be in [0.05, 1] (a share of one core), got {args.server_cpu:g}")
        try:
            server_cpu_cap = probe_cpu_cap(args.server_cpu)
        except CpuCapUnavailable as error:
            raise BenchmarkError(f"--server-cpu {args.server_cpu:g} needs a cgroup cpu controller: {error}") from None
    return Settings(runners, args.repeat, args.connections, warmup, window, args.payload_bytes,
                    args.request_timeout, args.out, args.baseline, pinned, args.server_cpu, server_cpu_cap)


def run_benchmark(settings: Settings, progress=print) -> dict:
    """The whole run: baseline worktree, every measurement, summaries, files written.

    Returns:
        The JSON document written to ``core-benchmark.json``.

    Raises:
        BenchmarkError: the baseline cannot be checked out or the output not written.
    """
    started = time.monotonic()
    load_before = os.getloadavg()  # beside every figure: on a shared machine it explains most noise
    new_tree = current_tree(REPO_ROOT)
    baseline = resolve_revision(settings.baseline, REPO_ROOT) if settings.baseline else default_baseline(REPO_ROOT)
    if baseline == new_tree.commit and not new_tree.dirty:
        raise BenchmarkError(f"the baseline {baseline[:12]} is the current commit: nothing to compare")
    settings.out_dir.mkdir(parents=True, exist_ok=True)
    steps = plan(settings)
    progress(f"core-benchmark: old {baseline[:12]} vs new {new_tree.commit[:12]}{' (+changes)' if new_tree.dirty else ''}; "
             f"{len(settings.runners)} runners x {settings.repeat} repetitions = {len(steps)} measurements of "
             f"~{settings.warmup_s + settings.window_s + 1:.0f} s")
    measurements: list[Measurement] = []
    with baseline_worktree(REPO_ROOT, baseline) as old_tree:
        trees = {"old": old_tree, "new": new_tree}
        for index, (repetition, runner, side, kind) in enumerate(steps, 1):
            record = measure(trees[side], runner, kind, repetition, settings)
            measurements.append(record)
            outcome = (f"ERROR {record.error}" if record.error else
                       f"{record.rps:,.0f} req/s, {record.failures} failures, client {record.client_cpu_cores or 0:.2f} cores"
                       + (f", server {record.server_cpu_us_per_reply:.0f} µs/reply" if record.server_cpu_us_per_reply else "")
                       + (f", others {record.server_core_others_share:.0%} of its core"
                          if record.server_core_others_share is not None else "")
                       + (" (generator-bound)" if record.generator_bound else ""))
            progress(f"[{time.monotonic() - started:6.1f} s] {index}/{len(steps)} rep {repetition} {runner:<17} "
                     f"{side} {kind:<22} {outcome}")
            if record.leftover_pids:
                progress(f"core-benchmark: warning: server left processes behind: {record.leftover_pids}")
    results = [summarise_runner(runner, measurements) for runner in settings.runners]
    over_cap = measurements_over_cap(measurements, settings.server_cpu)
    elapsed = time.monotonic() - started
    run = {
        "service": BENCHMARK_SERVICE,
        "old_commit": baseline,
        "new_commit": new_tree.commit,
        "new_dirty": new_tree.dirty,
        "runners": settings.runners,
        "repeat": settings.repeat,
        "connections": settings.connections,
        "warmup_s": settings.warmup_s,
        "window_s": settings.window_s,
        "payload_bytes": settings.payload_bytes,
        "request_timeout_s": settings.request_timeout_s,
        "goal_ratio": GOAL_RATIO,
        "pinning": (f"server pinned to core {SERVER_CORE}, load client to core {GENERATOR_CORE}" if settings.pinned
                    else "not pinned (fewer than two cores)"),
        "server_cpu": settings.server_cpu,
        "server_cpu_cap": settings.server_cpu_cap,
        "over_cap": over_cap,
        "elapsed_s": elapsed,
        "load_average_before": [round(value, 2) for value in load_before],
        "load_average_after": [round(value, 2) for value in os.getloadavg()],
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"python": platform.python_version(), "interpreter": sys.executable,
                    "platform": platform.platform(), "cpus": os.cpu_count()},
        "method": {
            "new_over_old": "plain threaded client (harness.loadgen.threaded_client), same client for both cores",
            "tls_over_plain": "the same loop (harness.loadgen.echo_loop) with TLS on and off, new core only",
        },
    }
    document = {
        "run": run,
        "goal_verdict": goal_verdict(results),
        "goal_verdict_per_cpu": goal_verdict(results, per_cpu=True),
        "runners": [asdict(result) for result in results],
        "measurements": [asdict(record) for record in measurements],
    }
    (settings.out_dir / "core-benchmark.json").write_text(json.dumps(document, indent=2) + "\n")
    (settings.out_dir / "core-benchmark.md").write_text(markdown_report(results, run))
    progress(f"core-benchmark: goal {goal_verdict(results)}; wrote {settings.out_dir}/core-benchmark.json and .md "
             f"in {elapsed:.0f} s")
    return document


# A server measured above its cap by more than this was not held to it (see the report).
CAP_TOLERANCE = 1.10


def measurements_over_cap(measurements: list[Measurement], server_cpu: float | None) -> list[str]:
    """The measurements whose server used more than its ``--server-cpu`` share (plus 10 %).

    The quota holds a tree's processes as they were when it was applied and those they fork
    later; a point above it was not server-bound after all, and the report says which.
    """
    if server_cpu is None:
        return []
    return [
        f"{m.runner} {m.side} {m.kind} rep {m.repetition}: {m.server_cpu_cores:.2f} cores"
        for m in measurements
        if m.server_cpu_cores is not None and m.server_cpu_cores > server_cpu * CAP_TOLERANCE
    ]


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def add_core_benchmark_command(commands: Any) -> None:
    """Add ``core-benchmark`` to the ``wirecheck`` subcommands (called from harness/cli.py)."""
    parser = commands.add_parser(
        "core-benchmark",
        help="the serving core against the previous one (new/old req/s per runner) and TLS cost",
        description=build_parser().description,
    )
    add_arguments(parser)
    parser.set_defaults(handler=lambda args: run_command(args))


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(build_parser().parse_args(argv))


def run_command(args: argparse.Namespace) -> int:
    previous_handler = signal.signal(signal.SIGTERM, _raise_interrupt)  # SIGTERM cleans up as Ctrl-C does
    try:
        settings = settings_from(args)
        run_benchmark(settings, progress=lambda line: print(line, flush=True))
    except BenchmarkError as error:
        print(f"core-benchmark: error: {error}", file=sys.stderr)
        return 2 if not isinstance(error, WrongCodeError) else 1
    except KeyboardInterrupt:
        print("core-benchmark: interrupted; servers stopped and the baseline worktree removed", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
