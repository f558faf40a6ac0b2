"""The comparison's documents: compare.json (every record) and compare.md (the tables).

compare.md says how the run was made (machine, pinning, warm-up, window, repetitions, the
server's CPU budget when one was set, open or closed loop), the generator's ceiling, one row
per point with the generator-bound ones marked GEN, the threaded client's yardstick, the
server-bound reference, and the service's goals with their verdicts. compare.json holds the
same records in full (each point's repetitions too); the locust command lines are left out of
the samples and one of them is kept as ``commands_example``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from harness.compare.aggregation import GENERATOR_BOUND_CEILING_FRACTION, GENERATOR_BOUND_CPU_CORES
from harness.compare.formatting import microseconds, percent
from harness.compare.goals import format_goals
from harness.compare.records import DEFAULT_REPEAT, DEFAULT_WARMUP_S, Comparison, Point, ThreadedResult


def _rate_cell(result: Point | ThreadedResult | None) -> str:
    if result is None or not result.rps or result.error is not None:
        return "error"
    return f"{result.rps:,.0f} ({result.rps_min:,.0f}-{result.rps_max:,.0f})"


def _method_lines(comparison: Comparison) -> list[str]:
    settings, machine = comparison.settings, comparison.machine
    before, after = comparison.load_average_before, comparison.load_average_after
    mode = comparison.mode
    lines = [
        f"Machine: {machine.cpus} CPUs, {machine.cpu_model}, Linux {machine.kernel}, Python {machine.python}. "
        f"Server pinned to core {settings.server_core}, locust to core {settings.generator_core}"
        + ("" if settings.pinned else " (not pinned)") + ". "
        f"Load average {before[0]:.2f} before, {after[0]:.2f} after (1-minute). `other CPU`: CPU "
        "busy in the window outside the server and the generator (of 2 cores), i.e. other processes "
        "of the shared machine plus the kernel's interrupt work for the loopback traffic; "
        "hypervisor steal is in compare.json.",
        "",
        f"Each point: warm-up {settings.warmup_s:g} s, window {settings.duration_s:g} s, "
        f"{settings.repeat} repetition(s), the median shown (spread min-max in brackets); failures "
        f"and stalled / timed-out connections are the worst repetition's; payload "
        f"{settings.payload_bytes} B; request timeout {settings.request_timeout_s:g} s; a connection "
        f"is stalled when a reply took > {settings.stall_ms:g} ms. Latency is **{mode}**"
        + (
            " (measured from the actual send: a closed loop sends less while a server stalls, so its "
            "percentiles understate stalls; the stall counts do not)."
            if mode == "closed-loop" else " (measured from the intended send time)."
        ),
    ]
    if settings.server_cpu is not None:
        lines += [
            "",
            f"Server CPU budget: every runner's server (sweep and threaded client) held to "
            f"**{settings.server_cpu_cap or f'{settings.server_cpu:g} of a core'}** (`--server-cpu "
            f"{settings.server_cpu:g}`), so that the server, not the generator, sets each rate; the "
            "generator ceiling is measured uncapped, and rows still marked GEN were generator-bound "
            "all the same."
            + (
                " The server is pinned to one core, so a budget above one core does not bind."
                if settings.pinned and settings.server_cpu > 1 else ""
            ),
        ]
    return lines + [""]


def _ceiling_lines(comparison: Comparison) -> list[str]:
    ceiling = comparison.generator_ceiling
    if not ceiling.measured:
        return [f"Generator ceiling: not measured ({ceiling.error})."]
    assert ceiling.rps is not None
    line = (
        f"Generator ceiling (locust against {ceiling.runner} at {ceiling.users} users): "
        f"**{ceiling.rps:,.0f} req/s**, generator CPU {percent(ceiling.generator_cpu_cores)}, "
        f"server CPU {percent(ceiling.server_cpu_cores)}. Rows marked GEN were generator-bound "
        f"(generator CPU >= {GENERATOR_BOUND_CPU_CORES:.0%} of its core, or rate >= "
        f"{GENERATOR_BOUND_CEILING_FRACTION:.0%} of the ceiling): there the server may be faster than shown."
    )
    fastest = max((point for point in comparison.points if point.rps), key=lambda point: point.rps or 0.0, default=None)
    if fastest is not None and fastest.rps is not None and fastest.rps > ceiling.rps:
        # The ceiling is one run against a runner chosen beforehand; say when the sweep beat it.
        line += (
            f" The sweep's fastest point ({fastest.runner} at {fastest.users} users, "
            f"{fastest.rps:,.0f} req/s) is {fastest.rps / ceiling.rps - 1:.0%} above it: "
            "the ceiling is a single measurement, as noisy as any point."
        )
    return [line]


def _point_row(point: Point) -> str:
    if not point.measured:
        return f"| {point.runner} | {point.users} | error | | | | | | | | | | | {(point.error or '')[:80]} |"
    latency = point.latency_us
    spread = f" ({point.rps_min:,.0f}-{point.rps_max:,.0f})" if point.repeats > 1 else ""
    rss = point.server_peak_rss_kib
    return (
        f"| {point.runner} | {point.users} | {point.rps:,.0f}{spread} | {microseconds(latency.p50)} | "
        f"{microseconds(latency.p90)} | {microseconds(latency.p99)} | {microseconds(latency.p99_9)} | {point.failures} | "
        f"{point.stalled_connections} / {point.timed_out_connections} | "
        f"{percent(point.server_cpu_cores)} | {'-' if rss is None else f'{rss / 1024:.0f} MiB'} | "
        f"{percent(point.generator_cpu_cores)} | {percent(point.other_cpu_cores)} | "
        f"{'GEN' if point.generator_bound else ''} |"
    )


def _threaded_lines(comparison: Comparison) -> list[str]:
    settings = comparison.settings
    lines = [
        "",
        f"Plain threaded client ({settings.threaded_client_users} threads, persistent connections, replies checked), "
        "same targets, same warm-up, window and repetitions (median, spread in brackets):",
        "",
        "| runner | req/s | failures | client CPU | server CPU |",
        "|---|---:|---:|---:|---:|",
    ]
    for runner, result in comparison.threaded_client.items():
        if result.error is not None or result.rps is None:
            lines.append(f"| {runner} | error | | | |")
            continue
        spread = f" ({result.rps_min:,.0f}-{result.rps_max:,.0f})" if result.repeats > 1 else ""
        lines.append(
            f"| {runner} | {result.rps:,.0f}{spread} | {result.failures} | {percent(result.cpu_cores)} | "
            f"{percent(result.server_cpu_cores)} |"
        )
    return lines


def _reference_lines(comparison: Comparison) -> list[str]:
    reference = comparison.server_bound_reference
    locust, threaded = reference.locust, reference.threaded
    if reference.ratio is None or locust is None or threaded is None:
        if reference.runner:
            return ["", f"Server-bound reference: not measured ({reference.error or 'failed'})."]
        return []
    lines = [
        "",
        f"Server-bound reference: {reference.runner} capped at {reference.cap}, {reference.users} concurrent "
        f"clients, fresh server per run, the two clients alternating (median of {locust.repeats}):",
        "",
        "| runner (capped) | client | req/s | server CPU | client CPU |",
        "|---|---|---:|---:|---:|",
        f"| {reference.runner} | locust | {_rate_cell(locust)} | {percent(locust.server_cpu_cores)} "
        f"| {percent(locust.generator_cpu_cores)} |",
        f"| {reference.runner} | threaded | {_rate_cell(threaded)} | {percent(threaded.server_cpu_cores)} "
        f"| {percent(threaded.cpu_cores)} |",
    ]
    for peer, result in reference.peers_locust.items():
        lines.append(
            f"| {peer} | locust | {_rate_cell(result)} | {percent(result.server_cpu_cores)} "
            f"| {percent(result.generator_cpu_cores)} |"
        )
    return lines + [
        "",
        f"locust/threaded: **{reference.ratio:.2f}** (per repetition {reference.ratio_min:.2f}-{reference.ratio_max:.2f}).",
    ]


# Where locust got less than this share of wrk's rate at the same concurrency, locust, not the
# server, set locust's figure (wrk costs several times less CPU per request).
LOCUST_LIMITED_BELOW = 0.8


def _wrk_lines(comparison: Comparison) -> list[str]:
    if not comparison.wrk:
        return []
    settings = comparison.settings
    connections = settings.wrk_connections
    lines = [
        "",
        f"wrk, the second generator (C, one thread on the generator core, {connections} keep-alive connections, "
        f"`GET {settings.wrk_target}`, same warm-up, window and repetitions; it counts socket errors and "
        "non-2xx/3xx statuses, and leaves the pages' contents to locust). `locust/wrk` compares locust at "
        f"{connections} users with wrk at {connections} connections on the same target: below "
        f"{LOCUST_LIMITED_BELOW:g}, **locust was the limit** there, not the server.",
        "",
        "| target | kind | wrk req/s | p50 | p90 | p99 | p99.9 | errors | server CPU | locust req/s | locust/wrk | note |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, result in comparison.wrk.items():
        kind = "external" if name in settings.external_targets else "runner"
        if not result.measured:
            lines.append(f"| {name} | {kind} | error | | | | | | | | | {(result.error or '')[:80]} |")
            continue
        assert result.rps is not None
        latency = result.latency_us
        spread = f" ({result.rps_min:,.0f}-{result.rps_max:,.0f})" if result.repeats > 1 else ""
        point = comparison.point(name, connections)
        share = point.rps / result.rps if point is not None and point.rps and result.rps else None
        note = "locust the limit" if share is not None and share < LOCUST_LIMITED_BELOW else ""
        lines.append(
            f"| {name} | {kind} | {result.rps:,.0f}{spread} | {microseconds(latency.p50)} | {microseconds(latency.p90)} | "
            f"{microseconds(latency.p99)} | {microseconds(latency.p99_9)} | {result.errors} | "
            f"{percent(result.server_cpu_cores)} | {'-' if point is None or point.rps is None else f'{point.rps:,.0f}'} | "
            f"{'-' if share is None else f'{share:.2f}'} | {note} |"
        )
    return lines


def _external_lines(comparison: Comparison) -> list[str]:
    external = comparison.settings.external_targets
    if not external:
        return []
    return ["", "External servers (third-party, hosting the same application, pinned to the server core like the runners):", ""] + [
        f"- {name}: `{' '.join(['python', *command[1:]] if command[0] == sys.executable else command)}`"
        for name, command in external.items()
    ]


def _goal_lines(comparison: Comparison) -> list[str]:
    if not comparison.goals:
        return []
    settings = comparison.settings
    heading = f"Goals of {comparison.service}, as measured in this run"
    # Shorter than the full run's repetitions or warm-up, a run is only indicative: say so.
    if settings.repeat < DEFAULT_REPEAT or settings.warmup_s < DEFAULT_WARMUP_S:
        heading += (
            f" ({settings.repeat} repetition(s), {settings.warmup_s:g} s warm-up, "
            f"{settings.duration_s:g} s windows: indicative; a full run judges them)"
        )
    return ["", heading + ":", ""] + format_goals(comparison.goals)


def markdown_table(comparison: Comparison) -> str:
    """The comparison as a Markdown document: method, ceiling, table, yardsticks, goals."""
    lines = [f"## {comparison.service}: concurrency models compared", ""]
    lines += _method_lines(comparison)
    lines += _ceiling_lines(comparison)
    lines += [
        "",
        "| runner | users | req/s | p50 | p90 | p99 | p99.9 | failures | stalled / timed-out conns | server CPU "
        "| server peak RSS | generator CPU | other CPU | note |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    lines += [_point_row(point) for point in comparison.points]
    lines += _external_lines(comparison)
    lines += _wrk_lines(comparison)
    lines += _threaded_lines(comparison)
    lines += _reference_lines(comparison)
    lines += _goal_lines(comparison)
    lines += [
        "",
        "Caveats: peak RSS sums VmHWM over the server's live processes (pages shared after fork are "
        "counted per process; children that already exited are not counted). Server CPU includes "
        "children reaped in the window.",
    ]
    return "\n".join(lines) + "\n"


def comparison_json(comparison: Comparison) -> dict:
    """compare.json's document: the records, without the samples' command lines (one example kept)."""
    document = comparison.to_json()
    commands = []
    for point in document["points"]:
        for sample in point.get("samples", []):
            command = sample.pop("command", None)
            if command:
                commands.append(command)
    document["commands_example"] = commands[0] if commands else None
    return document


def write_documents(comparison: Comparison, out_dir: Path) -> list[Path]:
    """Write compare.json and compare.md into ``out_dir``; return their paths."""
    json_path, markdown_path = out_dir / "compare.json", out_dir / "compare.md"
    json_path.write_text(json.dumps(comparison_json(comparison), indent=1) + "\n")
    markdown_path.write_text(markdown_table(comparison))
    return [json_path, markdown_path]
