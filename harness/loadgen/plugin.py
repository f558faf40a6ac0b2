"""wirecheck's extension of locust: µs latency, stalls per connection, a measurement window.

Importing this module (every locustfile in loadtests/ does, through
:mod:`harness.loadgen.users`) registers, once per process:

- command-line options, also shown in the web UI and settable through ``WIRECHECK_*``
  environment variables: ``--payload-bytes``, ``--request-timeout``, ``--stall-ms``,
  ``--open-loop-rate``, ``--warmup``, ``--measure``, ``--latency-report``, ``--watch-pid``;
- a listener on locust's ``request`` event that feeds the process's
  :class:`~harness.loadgen.recorder.LoadRecorder` (10 µs histograms, failures by kind);
- the loopback rule: a ``--host`` (command line, web UI form, or a user class's ``host``)
  that is not 127.0.0.0/8, ::1 or localhost stops the run before any load is sent, with one
  clear line on stderr;
- the measurement window: with ``--measure S``, the window opens ``--warmup`` seconds after
  spawning completes (locust's and our statistics are reset then, like ``--reset-stats``),
  and after S seconds the window closes, the report is written and the run is stopped. So a
  run's figures never include ramp-up or warm-up, and the window is timed by the generator
  itself rather than guessed from outside;
- at the end (master or local runner), a latency table on stdout, labelled closed-loop or
  open-loop, and with ``--latency-report FILE`` a JSON report (schema in
  :func:`build_report`), which is what ``wirecheck compare`` reads;
- distributed mode (``--master``/``--worker``, and ``--processes``): each worker sends its
  histograms to the master with every stats report (``report_to_master``), as deltas, and
  its connection counts as a snapshot; the master merges them. The window is opened and
  closed on the master and both edges are announced to the workers with a custom message;
  each worker records only between the two, and tags every report with where it stood, so
  the master merges only what a worker recorded inside the window, including the final
  report a worker sends as it quits (which arrives after the master's own window closed).
  Windows are exact in a local run, and in a distributed one to within the time a message
  takes to reach a worker (milliseconds on one machine).

``--watch-pid PID`` makes the window also read the CPU time and peak RSS of that process tree
(the server under test) from /proc at the window's edges, so that server cost and generator
cost are measured over exactly the same interval.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import sys
import time
from typing import Any
from urllib.parse import urlsplit

import gevent
from locust import events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from harness.loadgen import procstat
from harness.loadgen.recorder import DEFAULT_STALL_THRESHOLD_S, WATCHDOG_INTERVAL_S, LoadRecorder
from harness.loadgen.targets import BadTargetError, NonLoopbackTargetError, is_loopback_host, parse_target

log = logging.getLogger("wirecheck.loadgen")

# 64 bytes: a small request like a typical line of a line protocol; large enough to hold the
# 8-byte sequence number every echo payload starts with.
DEFAULT_PAYLOAD_BYTES = 64

# Loopback answers in µs; a server that has not answered in 2 s is starving this connection.
# The bound also keeps every wait finite, so a run always ends on time.
DEFAULT_REQUEST_TIMEOUT_S = 2.0

# The largest payload a user will send: 16 MiB is far past any realistic request and keeps a
# typo (--payload-bytes 1e9) from eating the generator's memory.
MAX_PAYLOAD_BYTES = 16 * 1024 * 1024

# Printed once the window opens/closes, so a wrapper reading stdout can follow the run.
WINDOW_OPEN_MARKER = "WIRECHECK-WINDOW open"
WINDOW_CLOSE_MARKER = "WIRECHECK-WINDOW close"

# The custom message by which a master opens and closes the window on its workers.
WINDOW_MESSAGE = "wirecheck-window"

RECORDER = LoadRecorder()

_installed = False
_state: dict[str, Any] = {}


def options_of(environment: Environment) -> Any:
    """The parsed options, or defaults when there are none (``run_single_user`` without args)."""
    parsed = environment.parsed_options
    return parsed if parsed is not None else _DefaultOptions()


class _DefaultOptions:
    payload_bytes = DEFAULT_PAYLOAD_BYTES
    request_timeout = DEFAULT_REQUEST_TIMEOUT_S
    stall_ms = DEFAULT_STALL_THRESHOLD_S * 1000
    open_loop_rate = 0.0
    warmup = 0.0
    measure = 0.0
    latency_report = ""
    watch_pid = 0
    host = ""
    num_users = 1


def _add_arguments(parser: Any) -> None:
    # Straight on the parser, not in an argument group: locust's web UI shows (and its
    # include_in_web_ui flag applies to) only the arguments added to the parser itself.
    group = parser
    group.add_argument(
        "--payload-bytes", type=int, default=DEFAULT_PAYLOAD_BYTES, env_var="WIRECHECK_PAYLOAD_BYTES",
        help=f"bytes per echo request (default {DEFAULT_PAYLOAD_BYTES})",
    )
    group.add_argument(
        "--request-timeout", type=float, default=DEFAULT_REQUEST_TIMEOUT_S,
        env_var="WIRECHECK_REQUEST_TIMEOUT",
        help=f"seconds to wait for a reply or a connect; then the request fails (default {DEFAULT_REQUEST_TIMEOUT_S:g})",
    )
    group.add_argument(
        "--stall-ms", type=float, default=DEFAULT_STALL_THRESHOLD_S * 1000, env_var="WIRECHECK_STALL_MS",
        help="a connection waiting longer than this counts as stalled (default %(default)g)",
    )
    group.add_argument(
        "--open-loop-rate", type=float, default=0.0, env_var="WIRECHECK_OPEN_LOOP_RATE",
        help="requests/s per user on a fixed schedule, latency measured from the intended send "
        "time (0: closed loop, each user sends as soon as its reply arrives)",
    )
    group.add_argument(
        "--warmup", type=float, default=0.0, env_var="WIRECHECK_WARMUP",
        help="seconds after spawning completes before the measurement window opens",
    )
    group.add_argument(
        "--measure", type=float, default=0.0, env_var="WIRECHECK_MEASURE",
        help="length of the measurement window in seconds; the run stops when it closes (0: no window)",
    )
    group.add_argument(
        "--latency-report", default="", env_var="WIRECHECK_LATENCY_REPORT",
        help="write wirecheck's JSON report (µs histograms, stalls, CPU) to this file at the end",
    )
    group.add_argument(
        "--watch-pid", type=int, default=0, include_in_web_ui=False, env_var="WIRECHECK_WATCH_PID",
        help="read CPU and peak RSS of this process tree (the server) at the window's edges",
    )


def install() -> None:
    """Register wirecheck's options and listeners with locust (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True
    events.init_command_line_parser.add_listener(_add_arguments)
    events.init.add_listener(_on_init)
    events.request.add_listener(_on_request)
    events.test_start.add_listener(_on_test_start)
    events.spawning_complete.add_listener(_on_spawning_complete)
    events.report_to_master.add_listener(_on_report_to_master)
    events.worker_report.add_listener(_on_worker_report)
    events.quitting.add_listener(_on_quitting)
    events.test_stop.add_listener(_on_test_stop)


def refuse_non_loopback(host: str | None, *, transport: str | None = None) -> None:
    """Raise unless ``host`` (when given) is a loopback ``HOST:PORT`` or loopback HTTP URL.

    Raises:
        NonLoopbackTargetError, BadTargetError: as :func:`parse_target`.
    """
    if not host:
        return
    if host.lower().startswith(("http://", "https://")):
        hostname = urlsplit(host).hostname or ""
        if not is_loopback_host(hostname):
            raise NonLoopbackTargetError(
                f"refusing to send load to {hostname!r}: wirecheck load tests only target "
                "loopback (127.0.0.0/8, ::1 or localhost)"
            )
        return
    parse_target(host, transport=transport)


def _on_init(environment: Environment, **_: Any) -> None:
    # gevent's loop caches "now" and refreshes it once per loop iteration; the hub is made
    # when locust monkey-patches at import, and importing the locustfiles on a loaded machine
    # can take seconds before the loop first runs. locust's -t is a spawn_later on that stale
    # clock, so it fired that many seconds early (a 2 s run that ran 0.1 s). Refresh it here.
    gevent.get_hub().loop.update_now()
    options = options_of(environment)
    RECORDER.stall_threshold_s = max(0.0, float(options.stall_ms)) / 1000.0
    _state.update(environment=environment, window_scheduled=False, report_written=False)
    try:
        refuse_non_loopback(getattr(options, "host", None))
    except (NonLoopbackTargetError, BadTargetError) as error:
        # SystemExit passes through locust's event hook: the run ends before it starts.
        print(f"wirecheck: error: --host: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    if not 0 < options.payload_bytes <= MAX_PAYLOAD_BYTES and environment.parsed_options is not None:
        print(f"wirecheck: error: --payload-bytes must be in 1..{MAX_PAYLOAD_BYTES}", file=sys.stderr)
        raise SystemExit(2)
    if isinstance(environment.runner, WorkerRunner):
        environment.runner.register_message(WINDOW_MESSAGE, _on_window_message)


def _on_test_start(environment: Environment, **_: Any) -> None:
    """Check the host the web UI form may have changed, and every user class's own host."""
    hosts = [environment.host] + [getattr(user, "host", None) for user in environment.user_classes]
    for host in hosts:
        try:
            refuse_non_loopback(host)
        except (NonLoopbackTargetError, BadTargetError) as error:
            log.error("wirecheck: %s; stopping the run", error)
            print(f"wirecheck: error: {error}", file=sys.stderr)
            if environment.runner is not None:
                if environment.web_ui is not None:
                    # The web UI stays up, so the host can be corrected in the form.
                    gevent.spawn(environment.runner.stop)
                else:
                    environment.process_exit_code = 2
                    gevent.spawn(environment.runner.quit)
            return
    # explicit_window_opened: the master opened its window; heard_window_open: a worker was told.
    _state.update(
        window_scheduled=False, window_closed=False, report_written=False,
        explicit_window_opened=False, heard_window_open=False,
    )
    _start_watchdog(environment)
    # Until an explicit window opens (--warmup/--measure, or --reset-stats), the whole test
    # is the window.
    _begin_window(environment, reset_locust_stats=False)


def _start_watchdog(environment: Environment) -> None:
    """One greenlet per process that ends every wait past --request-timeout (see
    :meth:`LoadRecorder.expire_overdue`)."""
    previous = _state.get("watchdog")
    if previous is not None and not previous.dead:
        return
    timeout_s = float(options_of(environment).request_timeout)

    def sweep_until_stopped() -> None:
        # Bounded by the run: test_stop/quitting kill this greenlet.
        while True:
            gevent.sleep(WATCHDOG_INTERVAL_S)
            RECORDER.expire_overdue(timeout_s)

    _state["watchdog"] = gevent.spawn(sweep_until_stopped)


def _stop_watchdog() -> None:
    watchdog = _state.pop("watchdog", None)
    if watchdog is not None:
        watchdog.kill(block=False)


def _on_test_stop(environment: Environment, **_: Any) -> None:
    _stop_watchdog()


def _on_request(
    request_type: str, name: str, response_time: float | None, exception: BaseException | None = None,
    **_: Any,
) -> None:
    kind = type(exception).__name__ if exception is not None else ""
    RECORDER.record_request(request_type, name, response_time, exception is not None, kind)


def _on_spawning_complete(user_count: int, **_: Any) -> None:
    environment: Environment | None = _state.get("environment")
    if environment is None or isinstance(environment.runner, WorkerRunner):
        return
    options = options_of(environment)
    if _state.get("window_scheduled"):
        return
    if not (options.measure > 0 or options.warmup > 0):
        if getattr(options, "reset_stats", False):
            _reset_with_locust_stats(environment)
        return
    _state["window_scheduled"] = True
    gevent.spawn_later(max(0.0, options.warmup), _open_window, environment)


def _reset_with_locust_stats(environment: Environment) -> None:
    """--reset-stats without a window of ours: our figures restart when locust's do."""
    _begin_window(environment, reset_locust_stats=False)


def _begin_window(environment: Environment, *, reset_locust_stats: bool) -> None:
    options = options_of(environment)
    if reset_locust_stats and environment.runner is not None:
        environment.runner.stats.reset_all()
    RECORDER.open_window()
    _state["window_started_unix"] = time.time()
    _state["generator_cpu_start"] = _own_cpu_seconds()
    _state["server_start"] = procstat.sample_tree(options.watch_pid) if options.watch_pid else None
    _state["machine_start"] = procstat.machine_cpu_sample()


def _open_window(environment: Environment) -> None:
    options = options_of(environment)
    if isinstance(environment.runner, MasterRunner):
        environment.runner.send_message(WINDOW_MESSAGE, {"action": "open"})
    _begin_window(environment, reset_locust_stats=True)
    _state["explicit_window_opened"] = True
    print(WINDOW_OPEN_MARKER, flush=True)
    if options.measure > 0:
        gevent.spawn_later(options.measure, _close_window_and_stop, environment)


def _close_window_and_stop(environment: Environment) -> None:
    if isinstance(environment.runner, MasterRunner):
        environment.runner.send_message(WINDOW_MESSAGE, {"action": "close"})
    _close_window(environment)
    print(WINDOW_CLOSE_MARKER, flush=True)
    if environment.runner is not None:
        environment.runner.quit()


def _close_window(environment: Environment) -> None:
    if _state.get("window_closed"):
        return
    options = options_of(environment)
    RECORDER.close_window()
    _state["window_closed"] = True
    _state["generator_cpu_end"] = _own_cpu_seconds()
    _state["server_end"] = procstat.sample_tree(options.watch_pid) if options.watch_pid else None
    _state["machine_end"] = procstat.machine_cpu_sample()


def _on_window_message(environment: Environment, msg: Any, **_: Any) -> None:
    """A worker's side of the master's window: open (reset everything) or close (stop recording)."""
    action = msg.data.get("action") if isinstance(msg.data, dict) else "open"
    if action == "close":
        RECORDER.close_window()
        return
    RECORDER.open_window()
    _state["heard_window_open"] = True
    if environment.runner is not None:
        environment.runner.stats.reset_all()


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _on_report_to_master(client_id: str, data: dict[str, Any]) -> None:
    snapshot = RECORDER.to_json()
    snapshot["generator_cpu_seconds"] = _own_cpu_seconds()
    # Recorded since the master's window opened (and, after its close, nothing more is recorded).
    snapshot["in_window"] = _state.get("heard_window_open", False)
    data["wirecheck"] = snapshot
    # Histograms travel as deltas (the master adds them up); connection counts as snapshots.
    RECORDER.tallies.clear()
    RECORDER.failure_kinds.clear()


def _on_worker_report(client_id: str, data: dict[str, Any]) -> None:
    snapshot = data.get("wirecheck")
    if not snapshot:
        return
    if _state.get("window_scheduled"):
        # An explicit window: only what the worker recorded after it heard of the window's
        # opening, up to its close (the final report comes after the master's own close).
        if snapshot.get("in_window") and _state.get("explicit_window_opened") and not _state.get("report_written"):
            RECORDER.merge_json(snapshot)
    elif RECORDER.recording:
        RECORDER.merge_json(snapshot)
    _state.setdefault("worker_connections", {})[client_id] = snapshot.get("connections", {})
    _state.setdefault("worker_cpu", {})[client_id] = snapshot.get("generator_cpu_seconds", 0.0)


def _on_quitting(environment: Environment, **_: Any) -> None:
    _stop_watchdog()
    if isinstance(environment.runner, WorkerRunner) or _state.get("report_written"):
        return
    _state["report_written"] = True
    _close_window(environment)
    report = build_report(environment)
    print(format_summary(report), flush=True)
    path = options_of(environment).latency_report
    if path:
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        with open(path, "w", encoding="utf-8") as report_file:
            json.dump(report, report_file, indent=1)


def build_report(environment: Environment) -> dict[str, Any]:
    """The JSON report of this run.

    Schema: ``mode`` (``closed-loop``/``open-loop``), ``open_loop_rate_per_user``, ``users``,
    ``window`` (``warmup_s``, ``measured_s``, ``started_unix``), ``requests`` (one entry per
    request type and name: ``count``, ``failures``, ``rps``, µs latency summary and the
    histogram), ``failure_kinds``, ``connections`` (``connections``, ``stalled``,
    ``timed_out``, ``starved``, ``stall_threshold_ms``), ``generator`` (``cpu_seconds``,
    ``cpu_cores``: CPU seconds per second of window, of this process only; a distributed
    master adds nothing for its workers here), ``server`` (``pid``, ``cpu_seconds``,
    ``cpu_cores``, ``peak_rss_kib``) or null, ``machine`` (``busy_cores``, ``steal_cores``,
    ``other_cores``: CPU busy outside this generator process and the watched server) or null.
    """
    options = options_of(environment)
    window_s = RECORDER.window_seconds()
    requests = []
    for (request_type, name), tally in sorted(RECORDER.tallies.items()):
        count = tally.histogram.count
        requests.append(
            {
                "request_type": request_type,
                "name": name,
                "count": count,
                "failures": tally.failures,
                "rps": (count / window_s) if window_s else None,
                "latency_us": tally.histogram.summary(),
                "histogram": tally.histogram.to_json(),
            }
        )
    connections = RECORDER.connection_counts()
    for worker_counts in _state.get("worker_connections", {}).values():
        for key, value in worker_counts.items():
            connections[key] = connections.get(key, 0) + int(value)
    connections["stall_threshold_ms"] = RECORDER.stall_threshold_s * 1000.0
    generator_cpu = None
    if "generator_cpu_start" in _state and "generator_cpu_end" in _state:
        generator_cpu = _state["generator_cpu_end"] - _state["generator_cpu_start"]
    server = None
    start, end = _state.get("server_start"), _state.get("server_end")
    if start is not None and end is not None:
        server_cpu = (
            None if start.cpu_seconds is None or end.cpu_seconds is None else end.cpu_seconds - start.cpu_seconds
        )
        server = {
            "pid": options.watch_pid,
            "cpu_seconds": server_cpu,
            "cpu_cores": (server_cpu / window_s) if server_cpu is not None and window_s else None,
            "peak_rss_kib": max(filter(None, [start.peak_rss_kib, end.peak_rss_kib]), default=None),
        }
    machine = None
    machine_start, machine_end = _state.get("machine_start"), _state.get("machine_end")
    if machine_start is not None and machine_end is not None and window_s:
        busy = machine_end.busy_seconds - machine_start.busy_seconds
        own = (generator_cpu or 0.0) + ((server or {}).get("cpu_seconds") or 0.0)
        machine = {
            "busy_cores": busy / window_s,
            "steal_cores": (machine_end.steal_seconds - machine_start.steal_seconds) / window_s,
            # What else ran: other processes, and kernel interrupt work charged to no process.
            "other_cores": max(0.0, busy - own) / window_s,
        }
    rate = float(options.open_loop_rate or 0.0)
    return {
        "mode": "open-loop" if rate > 0 else "closed-loop",
        "open_loop_rate_per_user": rate or None,
        "users": getattr(environment.runner, "target_user_count", None) or getattr(options, "num_users", None),
        "window": {
            "warmup_s": float(options.warmup or 0.0),
            "measured_s": window_s,
            "started_unix": _state.get("window_started_unix"),
        },
        "requests": requests,
        "failure_kinds": dict(RECORDER.failure_kinds),
        "connections": connections,
        "generator": {
            "cpu_seconds": generator_cpu,
            "cpu_cores": (generator_cpu / window_s) if generator_cpu is not None and window_s else None,
        },
        "server": server,
        "machine": machine,
    }


def format_summary(report: dict[str, Any]) -> str:
    """The latency table printed at the end of a run (µs), labelled with the loop mode."""
    if report["mode"] == "open-loop":
        label = (
            f"open-loop, {report['open_loop_rate_per_user']:g} req/s per user; latency from the "
            "intended send time (stalls included: no coordinated omission)"
        )
    else:
        label = (
            "closed-loop; latency from the actual send. A closed loop sends less while the server "
            "stalls, so these percentiles hide stalls (coordinated omission): use --open-loop-rate"
        )
    lines = [f"wirecheck latency, µs ({label})"]
    header = f"{'Type':<12} {'Name':<22} {'# reqs':>9} {'# fails':>8} {'req/s':>9} " + " ".join(
        f"{column:>9}" for column in ("p50", "p90", "p99", "p99.9", "max")
    )
    lines.append(header)
    for entry in report["requests"]:
        latency = entry["latency_us"]
        cells = [latency.get(f"{column}_us") for column in ("p50", "p90", "p99", "p99.9", "max")]
        rps = entry["rps"]
        lines.append(
            f"{entry['request_type']:<12} {entry['name'][:22]:<22} {entry['count']:>9} {entry['failures']:>8} "
            f"{(f'{rps:.0f}' if rps is not None else '-'):>9} "
            + " ".join(f"{(f'{cell:.0f}' if cell is not None else '-'):>9}" for cell in cells)
        )
    connections = report["connections"]
    lines.append(
        f"connections: {connections['connections']} ({connections['stalled']} stalled > "
        f"{connections['stall_threshold_ms']:g} ms, {connections['timed_out']} timed out, "
        f"{connections['starved']} got no reply in the window)"
    )
    return "\n".join(lines)


install()
