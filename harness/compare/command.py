"""``wirecheck compare``: its options, their checks, and the entry point.

Harness/cli.py adds the command with :func:`add_compare_command`; nothing here imports the
CLI back: a mistake of the user is a :class:`~harness.usage.UsageError`, which the CLI prints
as one line with exit status 2.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from typing import Any

from harness.compare.formatting import clock
from harness.compare.records import (
    DEFAULT_DURATION_S,
    DEFAULT_REPEAT,
    DEFAULT_USERS,
    DEFAULT_WARMUP_S,
    Settings,
)
from harness.compare.report import markdown_table
from harness.compare.external import resolve_external_targets
from harness.compare.run import run_compare
from harness.compare.wrk import DEFAULT_WRK_CONNECTIONS, wrk_available
from harness.loadgen.profile import LoadProfile
from harness.loadgen.cpu_cap import CpuCapUnavailable, probe_cpu_cap
from harness.runners import runners_for
from harness.services import SERVICES
from harness.usage import UsageError

# --quick: the three points the goals need (1, 50 and 1000 users), one repetition, short
# windows; every runner of a TCP service in about three minutes on an idle 2-core machine. The warm-up
# must outlast the start-up burst: with 0.5 s, `threading` at 1000 users stalled 26-114
# connections for > 500 ms in 3 of 5 runs (likely 1000 threads made runnable at once, queueing
# for the GIL); with 1 s, none in 3; the full run's 2 s keeps it out of the window. 1.5 s
# leaves a margin and the sweep under three minutes. One short repetition is still only
# indicative: the Markdown says so above the goals.
QUICK_USERS = (1, 50, 1000)
QUICK_DURATION_S = 1.0
QUICK_WARMUP_S = 1.5
QUICK_REPEAT = 1


def loadable_services() -> list[str]:
    """The services that have a load profile, in registry order."""
    return [name for name, service in SERVICES.items() if service.load_profile is not None]


def _users_list(text: str) -> list[int]:
    try:
        users = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--users takes integers separated by commas, not {text!r}") from None
    if not users or any(not 1 <= count <= 10_000 for count in users):
        raise argparse.ArgumentTypeError("--users: each count must be in 1..10000")
    return users


def parse_server_cpu(text: str) -> float:
    """``--server-cpu``'s value: a share of a core in (0, this machine's cores].

    Raises:
        UsageError: not a number, or out of that range (one line).
    """
    cores = os.cpu_count() or 1
    try:
        fraction = float(text)
    except ValueError:
        fraction = float("nan")
    if not 0 < fraction <= cores:  # also refuses nan
        raise UsageError(f"--server-cpu takes a share of a core in (0, {cores}] (this machine's cores), not {text!r}")
    return fraction


def add_compare_command(commands: Any) -> None:
    """Add ``compare`` to the ``wirecheck`` subcommands (called from harness/cli.py)."""
    parser = commands.add_parser(
        "compare",
        help="load-test one service on every runner and compare (locust; loopback only)",
        description="Launch each runner in turn (server on core 0, locust on core 1), sweep the "
        "number of concurrent users with warm-up and repetitions, and write compare.json, "
        "compare.md, throughput.png, p99.png and locust's HTML report per point.",
    )
    parser.add_argument("--service", required=True, help=f"one of: {', '.join(loadable_services())}")
    parser.add_argument("--runners", default="", help="comma-separated runners (default: all that carry the service)")
    parser.add_argument("--users", type=_users_list, default=None,
                        help=f"comma-separated user counts (default: {','.join(map(str, DEFAULT_USERS))})")
    parser.add_argument("--duration", type=float, default=None, metavar="S", help=f"measurement window per point (default {DEFAULT_DURATION_S:g})")
    parser.add_argument("--warmup", type=float, default=None, metavar="S", help=f"warm-up per point (default {DEFAULT_WARMUP_S:g})")
    parser.add_argument("--repeat", type=int, default=None, metavar="N", help=f"repetitions per point (default {DEFAULT_REPEAT})")
    parser.add_argument("--quick", action="store_true",
                        help=f"users {','.join(map(str, QUICK_USERS))}, one repetition, short windows (< 3 min for a TCP service)")
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
    parser.add_argument("--server-cpu", default=None, metavar="FRACTION",
                        help="hold every runner's server to this share of a core (a cgroup CFS quota; needs the "
                        "cgroup cpu controller), so that every point is server-bound")
    parser.add_argument("--external", action="append", default=None, metavar="NAME[=COMMAND]",
                        help="a third-party server to measure beside the runners (repeatable): a fixtures/thirdparty/ "
                        "recipe or built-in host of that name, or any COMMAND that prints READY tcp HOST:PORT; "
                        "default: the service's own list; 'none' for no external server")
    parser.add_argument("--wrk-connections", type=int, default=None, metavar="N",
                        help=f"wrk as a second generator at N connections against every target (default "
                        f"{DEFAULT_WRK_CONNECTIONS} for an HTTP service when wrk is installed; 0: no wrk)")
    parser.set_defaults(handler=compare_command)


def settings_from_arguments(args: argparse.Namespace) -> Settings:
    """The comparison's settings from the command line.

    Raises:
        UsageError: an unknown service or runner, an impossible duration, warm-up or
            repetition count, or a --server-cpu budget this machine cannot enforce.
    """
    if args.service not in loadable_services():
        raise UsageError(f"compare knows services {', '.join(loadable_services())}, not {args.service!r}")
    available = runners_for(*SERVICES[args.service].kind.carried_by)
    runners = [name.strip() for name in args.runners.split(",") if name.strip()] or available
    unknown = [name for name in runners if name not in available]
    if unknown:
        raise UsageError(f"runner(s) {', '.join(unknown)} do not carry {args.service}; runners that do: {' '.join(available)}")
    profile = SERVICES[args.service].load_profile
    assert profile is not None
    external = resolve_external_targets(args.external or [], profile, runners)
    runners = runners + list(external)
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
        open_loop_rate=args.open_loop_rate or None,
        pinned=(os.cpu_count() or 1) >= 2 and hasattr(os, "sched_setaffinity"),
        server_cpu=None if args.server_cpu is None else parse_server_cpu(args.server_cpu),
        external_targets=external,
        wrk_connections=wrk_connections_from_arguments(args.wrk_connections, profile),
        wrk_target=profile.wrk_target,
    )
    if settings.duration_s <= 0 or settings.warmup_s < 0 or not 1 <= settings.repeat <= 50:
        raise UsageError("--duration must be > 0, --warmup >= 0, --repeat in 1..50")
    if settings.server_cpu is not None:
        settings.server_cpu_cap = describe_server_cpu_budget(settings.server_cpu)
    return settings


def wrk_connections_from_arguments(given: int | None, profile: LoadProfile) -> int:
    """wrk's connections: as given, else the default for an HTTP service when wrk is installed.

    Raises:
        UsageError: wrk asked for a service it cannot load, or not installed, or a bad count.
    """
    if given is None:
        if profile.wrk_target is None:
            return 0
        if not wrk_available():
            print("wirecheck compare: wrk is not installed (Debian package wrk): measuring with locust alone",
                  file=sys.stderr)
            return 0
        return DEFAULT_WRK_CONNECTIONS
    if given == 0:
        return 0
    if not 1 <= given <= 10_000:
        raise UsageError("--wrk-connections must be in 0..10000")
    if profile.wrk_target is None:
        raise UsageError("--wrk-connections: this service's requests are not all alike, so wrk cannot load it")
    if not wrk_available():
        raise UsageError("--wrk-connections: wrk is not installed (Debian package wrk)")
    return given


def describe_server_cpu_budget(fraction: float) -> str:
    """Make (and remove) a cgroup with this budget, to fail before the run rather than in it.

    Returns:
        The budget as the report states it (share, cgroup version, quota and period).

    Raises:
        UsageError: no cgroup cpu controller can hold a server here (one line: what is missing).
    """
    try:
        return probe_cpu_cap(fraction)
    except CpuCapUnavailable as error:
        raise UsageError(f"--server-cpu {fraction:g} needs a cgroup cpu controller: {error}") from None


def _raise_keyboard_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def compare_command(args: argparse.Namespace) -> int:
    """Run ``wirecheck compare``. Returns the exit status (130 when interrupted).

    Raises:
        UsageError: see :func:`settings_from_arguments`.
    """
    settings = settings_from_arguments(args)
    # SIGTERM unwinds like Ctrl-C, so every finally block stops its server and generator.
    previous_handler = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        comparison = run_compare(settings)
    except KeyboardInterrupt:
        print("\nwirecheck compare: interrupted; the servers and generators it started are stopped", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
    print()
    print(markdown_table(comparison))
    print(f"wrote {settings.out_dir / 'compare.json'}, compare.md, throughput.png, p99.png; "
          f"per-point reports in {settings.html_dir}; wall time {clock(comparison.wall_s)}")
    if comparison.leftover_processes:
        print(f"warning: server processes left after stop: {comparison.leftover_processes}", file=sys.stderr)
    return 0
