"""wrk, the second generator: the same servers under a C load generator, to tell apart the
points where locust, not the server, was the limit.

Locust is Python on one core; against a fast HTTP server it runs out of CPU before the server
does, and its figure is then the generator's, not the server's. wrk (Debian package ``wrk``;
C, an event loop per thread, keep-alive connections) gets several times more out of one core.
So in the same run, against every runner and every external server of an HTTP service, wrk is
run on the generator core at ``--wrk-connections`` (50 by default) for the same warm-up and
window as locust: where wrk's rate is well above locust's at the same concurrency, locust was
the limit there; where they agree, the server was.

How it is run: one ``wrk -t1 -cN -dS --timeout T`` for the warm-up (its figures dropped), then
one for the window, pinned to the generator core like locust, with a Lua ``done`` hook
(wrk_report.lua) that prints one JSON line with the request count, errors and latency
percentiles at wrk's 1 µs resolution. The server's CPU over the window is read from /proc
around the measured run. wrk does not read the pages it gets, so it checks less than locust
does: a socket error or a status outside 2xx/3xx counts as an error; the page's content is
locust's to judge. wrk is closed-loop, like locust's default.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path

from harness.compare.measure import PROCESS_DEADLINE_MARGIN_S, ServerUnderTest, run_generator
from harness.compare.records import Latency, Settings, WrkResult, WrkSample
from harness.loadgen import procstat

WRK_REPORT_SCRIPT = Path(__file__).with_name("wrk_report.lua")
REPORT_MARKER = "WIRECHECK_WRK "

# The concurrency the goals are stated at, and the default of --wrk-connections.
DEFAULT_WRK_CONNECTIONS = 50

# One wrk thread: the generator has one core.
WRK_THREADS = 1


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def wrk_command(url: str, connections: int, seconds: float, timeout_s: float, *, report: bool) -> list[str]:
    """The wrk command line of one run (whole seconds: wrk takes no fractions)."""
    command = [
        "wrk", "-t", str(WRK_THREADS), "-c", str(connections), "-d", f"{max(1, math.ceil(seconds))}s",
        "--timeout", f"{max(1, math.ceil(timeout_s))}s",
    ]
    if report:
        command += ["-s", str(WRK_REPORT_SCRIPT)]
    return command + [url]


def parse_wrk_report(output: str) -> dict:
    """The JSON line of wrk_report.lua in wrk's output.

    Raises:
        ValueError: there is none (wrk failed before its end of run).
    """
    for line in output.splitlines():
        if line.startswith(REPORT_MARKER):
            return json.loads(line[len(REPORT_MARKER):])
    raise ValueError("wrk printed no report line")


def measure_wrk(target: ServerUnderTest, settings: Settings, label: str) -> WrkSample:
    """Warm up, then one measured wrk run against a running HTTP server."""
    server = target.server
    assert settings.wrk_target is not None
    url = f"http://{server.host}:{server.port}{settings.wrk_target}"
    connections = settings.wrk_connections
    log_path = settings.html_dir / f"{label}.log"
    if settings.warmup_s > 0:
        warm = wrk_command(url, connections, settings.warmup_s, settings.request_timeout_s, report=False)
        run_generator(warm, settings.warmup_s + PROCESS_DEADLINE_MARGIN_S, settings, log_path.with_suffix(".warmup.log"))
    command = wrk_command(url, connections, settings.duration_s, settings.request_timeout_s, report=True)
    cpu_before = procstat.tree_cpu_seconds(server.pid)
    started = time.monotonic()
    status = run_generator(command, settings.duration_s + PROCESS_DEADLINE_MARGIN_S, settings, log_path)
    elapsed = time.monotonic() - started
    cpu_after = procstat.tree_cpu_seconds(server.pid)
    output = log_path.read_text(errors="replace")
    try:
        report = parse_wrk_report(output)
    except ValueError as error:
        return WrkSample(error=f"wrk exited {status}: {error}; its output ends: {output[-400:]}", command=command)
    window_s = report["duration_us"] / 1e6
    return WrkSample(
        command=command,
        connections=connections,
        window_s=window_s,
        requests=report["requests"],
        rps=report["requests"] / window_s if window_s > 0 else 0.0,
        errors=sum(report[key] for key in ("errors_connect", "errors_read", "errors_write", "errors_status", "errors_timeout")),
        latency_us=Latency(
            p50=float(report["p50_us"]), p90=float(report["p90_us"]), p99=float(report["p99_us"]),
            p99_9=float(report["p99.9_us"]), max=float(report["max_us"]),
        ),
        # Over wrk's whole run (start-up included): a slight underestimate of the window's.
        server_cpu_cores=(cpu_after - cpu_before) / elapsed if cpu_before is not None and cpu_after is not None else None,
        load_average_1min=os.getloadavg()[0],
    )


def aggregate_wrk(samples: list[WrkSample], *, runner: str, connections: int) -> WrkResult:
    """The median rate and latency over repetitions, the spread of the rate, the worst errors."""
    good = [sample for sample in samples if sample.error is None]
    if not good:
        return WrkResult(error=samples[0].error if samples else "not measured", runner=runner, connections=connections,
                         samples=samples)

    def median(values: list[float | None]) -> float | None:
        present = sorted(value for value in values if value is not None)
        return present[len(present) // 2] if present else None

    rates = [sample.rps for sample in good]
    return WrkResult(
        runner=runner,
        connections=connections,
        repeats=len(good),
        rps=median(rates),
        rps_min=min(rates),
        rps_max=max(rates),
        latency_us=Latency(
            p50=median([s.latency_us.p50 for s in good]), p90=median([s.latency_us.p90 for s in good]),
            p99=median([s.latency_us.p99 for s in good]), p99_9=median([s.latency_us.p99_9 for s in good]),
            max=max((s.latency_us.max or 0.0) for s in good),
        ),
        errors=max(sample.errors for sample in good),
        server_cpu_cores=median([sample.server_cpu_cores for sample in good]),
        samples=samples,
    )
