"""The TCP echo service's goals under load, judged on a finished comparison.

1. The generator is fit to measure: locust's echo user gets at least
   :data:`LOCUST_OVER_THREADED_MIN` of a plain threaded client's rate from a server-bound
   target. Judged on the CPU-capped reference (harness/compare/references.py), where the
   server is the limit by construction; every runner's uncapped ratio at the same concurrency
   is listed beside it, marked server-bound where the generator clearly had slack, so that no
   target is picked to suit the verdict.
2. An epoll loop by hand is no slower than asyncio: ``selectors`` >= 1.0 x ``asyncio`` at
   :data:`EVENT_LOOP_USERS` users. Judged where the servers are the limit (both capped alike
   in the reference); the uncapped ratios, usually generator-bound, are reported beside it.
3. The concurrent runners of :data:`HOLDING_RUNNERS` hold :data:`MANY_USERS` connections with
   no failure and no stall.
4. The runners that serve one client at a time (their registry trait,
   ``harness.runners.one_client_at_a_time_runners``) starve concurrent clients, and the stall
   count shows it: at least users - 1 stalled connections at every point above one user.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.compare.aggregation import is_server_bound
from harness.compare.formatting import percent
from harness.compare.records import Comparison, Goal, JsonRecord, Point, ServerBoundReference
from harness.runners import RUNNERS, one_client_at_a_time_runners

LOCUST_OVER_THREADED_MIN = 0.9
EVENT_LOOP_USERS = 50
EVENT_LOOP_RUNNER, EVENT_LOOP_BASELINE = "selectors", "asyncio"
MANY_USERS = 1000
HOLDING_RUNNERS = ("threading", "selectors", "asyncio", "prefork-processes")


@dataclass
class RunnerRatio(JsonRecord):
    """Locust over the threaded client on one uncapped runner (goal 1's context)."""

    runner: str
    locust_rps: float
    threaded_rps: float
    ratio: float
    server_bound: bool
    server_cpu_cores: float | None


@dataclass
class HeldConnections(JsonRecord):
    """One runner at :data:`MANY_USERS` users (goal 3)."""

    runner: str
    measured: bool
    passed: bool
    failures: int | None = None
    stalled_connections: int | None = None
    timed_out_connections: int | None = None


@dataclass
class StarvedPoint(JsonRecord):
    """A one-client-at-a-time runner at more than one user (goal 4)."""

    runner: str
    users: int
    stalled_connections: int
    starved_connections: int
    passed: bool


def evaluate_goals(comparison: Comparison) -> list[Goal]:
    """The four goals above, each with its figures and verdict."""
    return [
        generator_fitness_goal(comparison),
        event_loop_goal(comparison),
        holding_goal(comparison),
        starvation_goal(comparison),
    ]


def _reference_line(reference: ServerBoundReference) -> str:
    locust, threaded = reference.locust, reference.threaded
    assert locust is not None and threaded is not None and reference.ratio is not None
    return (
        f"server-bound target ({reference.runner} capped at {reference.cap}), {reference.users} users: "
        f"locust/threaded **{reference.ratio:.2f}** (per repetition {reference.ratio_min:.2f}-{reference.ratio_max:.2f}); "
        f"locust {locust.rps:,.0f} req/s with server CPU {percent(locust.server_cpu_cores)} and "
        f"generator CPU {percent(locust.generator_cpu_cores)}; threaded {threaded.rps:,.0f} req/s "
        f"with server CPU {percent(threaded.server_cpu_cores)} and client CPU {percent(threaded.cpu_cores)}"
    )


def generator_fitness_goal(comparison: Comparison) -> Goal:
    users = comparison.settings.threaded_client_users
    ceiling_rps = comparison.generator_ceiling.rps
    candidates = []
    for point in comparison.points:
        threaded = comparison.threaded_client.get(point.runner)
        if point.users != users or not point.measured or threaded is None or not threaded.measured:
            continue
        assert point.rps is not None and threaded.rps
        candidates.append(
            RunnerRatio(
                runner=point.runner, locust_rps=point.rps, threaded_rps=threaded.rps,
                ratio=point.rps / threaded.rps, server_bound=is_server_bound(point, ceiling_rps),
                server_cpu_cores=point.server_cpu_cores,
            )
        )
    goal = Goal(
        goal=f"locust echo user rate >= {LOCUST_OVER_THREADED_MIN} x plain threaded client on a server-bound target",
        passed=False,
        figures={"users": users, "candidates": candidates},
    )
    reference = comparison.server_bound_reference
    if reference.ratio is not None:
        goal.passed = reference.ratio >= LOCUST_OVER_THREADED_MIN
        goal.details.append(_reference_line(reference))
        goal.figures.update(
            reference_runner=reference.runner, cap=reference.cap, reference_ratio=reference.ratio,
            reference_ratio_min=reference.ratio_min, reference_ratio_max=reference.ratio_max,
        )
    else:
        goal.note = "no server-bound measurement: " + (reference.error or "the reference run failed")
    if candidates:
        goal.details.append(
            "uncapped, every runner, locust/threaded (for context; most are generator-bound): "
            + ", ".join(
                f"{c.runner} {c.ratio:.2f}{' (server-bound)' if c.server_bound else ''}" for c in candidates
            )
        )
    return goal


def event_loop_goal(comparison: Comparison) -> Goal:
    goal = Goal(
        goal=f"{EVENT_LOOP_RUNNER} runner >= 1.0 x {EVENT_LOOP_BASELINE} runner at {EVENT_LOOP_USERS} users",
        passed=False,
    )
    reference = comparison.server_bound_reference
    capped, capped_baseline = reference.locust, reference.peers_locust.get(EVENT_LOOP_BASELINE)
    if (
        reference.runner == EVENT_LOOP_RUNNER and reference.users == EVENT_LOOP_USERS
        and capped is not None and capped.rps and capped_baseline is not None and capped_baseline.rps
    ):
        capped_ratio = capped.rps / capped_baseline.rps
        goal.passed = capped_ratio >= 1.0
        goal.figures.update(capped_ratio=capped_ratio, cap=reference.cap)
        goal.details.append(
            f"both capped at {reference.cap}, locust at {EVENT_LOOP_USERS} users: "
            f"{EVENT_LOOP_RUNNER}/{EVENT_LOOP_BASELINE} **{capped_ratio:.2f}** "
            f"({capped.rps:,.0f} vs {capped_baseline.rps:,.0f} req/s)"
        )
    point = comparison.point(EVENT_LOOP_RUNNER, EVENT_LOOP_USERS)
    baseline = comparison.point(EVENT_LOOP_BASELINE, EVENT_LOOP_USERS)
    if point is None or baseline is None:
        if "capped_ratio" not in goal.figures:
            goal.note = f"{EVENT_LOOP_RUNNER} or {EVENT_LOOP_BASELINE} at {EVENT_LOOP_USERS} users missing from the sweep"
        return goal
    assert point.rps is not None and baseline.rps is not None
    ratio = point.rps / baseline.rps if baseline.rps else None
    goal.figures["locust_ratio"] = ratio
    if "capped_ratio" not in goal.figures:
        goal.passed = ratio is not None and ratio >= 1.0
    text = f"uncapped, {EVENT_LOOP_RUNNER}/{EVENT_LOOP_BASELINE} (locust): {ratio:.2f}" if ratio is not None else ""
    threaded, threaded_baseline = (
        comparison.threaded_client.get(EVENT_LOOP_RUNNER), comparison.threaded_client.get(EVENT_LOOP_BASELINE)
    )
    if (
        comparison.settings.threaded_client_users == EVENT_LOOP_USERS
        and threaded is not None and threaded.measured and threaded_baseline is not None and threaded_baseline.measured
    ):
        assert threaded.rps and threaded_baseline.rps
        threaded_ratio = threaded.rps / threaded_baseline.rps
        goal.figures["threaded_client_ratio"] = threaded_ratio
        text += (
            f"; uncapped, {EVENT_LOOP_RUNNER}/{EVENT_LOOP_BASELINE} (threaded client, "
            f"{EVENT_LOOP_USERS} threads): {threaded_ratio:.2f}"
        )
    if text:
        goal.details.append(text)
    if point.generator_bound or baseline.generator_bound:
        both = point.generator_bound and baseline.generator_bound
        goal.note = (
            ("both" if both else "one of the")
            + " uncapped locust points were generator-bound, so the uncapped locust ratio mostly "
            "compares the generator with itself"
            + ("; the verdict is the capped ratio" if "capped_ratio" in goal.figures else " (inconclusive either way)")
        )
    return goal


def holding_goal(comparison: Comparison) -> Goal:
    held: list[HeldConnections] = []
    details = []
    for runner in HOLDING_RUNNERS:
        point = comparison.point(runner, MANY_USERS)
        if point is None:
            held.append(HeldConnections(runner=runner, measured=False, passed=False))
            details.append(f"{runner}: not measured at {MANY_USERS} users")
            continue
        held.append(
            HeldConnections(
                runner=runner, measured=True, passed=point.failures == 0 and point.stalled_connections == 0,
                failures=point.failures, stalled_connections=point.stalled_connections,
                timed_out_connections=point.timed_out_connections,
            )
        )
        details.append(
            f"{runner}: {point.failures} failures, {point.stalled_connections} stalled, "
            f"{point.timed_out_connections} timed-out connections"
        )
    return Goal(
        goal=f"{', '.join(HOLDING_RUNNERS)} hold {MANY_USERS} connections, 0 failures, 0 stalls",
        passed=all(entry.passed for entry in held),
        details=details,
        figures={"runners": held},
    )


def _starving(point: Point) -> bool:
    # One connection is served; the others should all stall.
    return point.stalled_connections >= point.users - 1


def starvation_goal(comparison: Comparison) -> Goal:
    serial = [name for name in RUNNERS if name in one_client_at_a_time_runners()]
    points = [
        point for runner in serial for point in comparison.points
        if point.runner == runner and point.users > 1 and point.measured
    ]
    return Goal(
        goal=f"{' and '.join(serial)} starve concurrent clients (stalled connections >= users - 1)",
        passed=bool(points) and all(_starving(point) for point in points),
        details=[
            f"{point.runner} at {point.users} users: {point.stalled_connections} stalled, "
            f"{point.starved_connections} got no reply in the window"
            for point in points
        ],
        figures={
            "points": [
                StarvedPoint(
                    runner=point.runner, users=point.users, stalled_connections=point.stalled_connections,
                    starved_connections=point.starved_connections, passed=_starving(point),
                )
                for point in points
            ]
        },
    )
