"""The sweep: every runner at every number of users under locust, the threaded client, and wrk.

For each runner, each user count of the sweep is measured ``repeat`` times, each time on a
fresh server (pinned, and held to the ``--server-cpu`` budget when one is given), and reduced
to a :class:`~harness.compare.records.Point` flagged generator-bound where the generator, not
the server, may have set the rate. Then the plain threaded client runs against the same runner
at ``settings.threaded_client_users`` threads, as many times, for the yardstick, and, for an
HTTP service, wrk at ``settings.wrk_connections`` (harness/compare/wrk.py). External targets
(third-party servers, harness/compare/external.py) are swept like runners.
"""

from __future__ import annotations

from typing import Callable, Iterator, TypeVar

from harness.compare.aggregation import aggregate, aggregate_threaded, flag_generator_bound
from harness.compare.formatting import Progress, microseconds, percent
from harness.compare.measure import SERVER_FAILURES, ServerUnderTest, measure_locust, measure_threaded, server_under_test
from harness.compare.records import LocustSample, Point, Settings, ThreadedResult, ThreadedSample, WrkResult, WrkSample
from harness.compare.wrk import aggregate_wrk, measure_wrk
from harness.loadgen.profile import LoadProfile


def sweep_steps(settings: Settings) -> int:
    """How many progress steps :func:`run_sweep` takes."""
    wrk_steps = settings.repeat if uses_wrk(settings) else 0
    return len(settings.runners) * (len(settings.users) * settings.repeat + 1 + wrk_steps)


def uses_wrk(settings: Settings) -> bool:
    return bool(settings.wrk_connections and settings.wrk_target)


def run_sweep(
    profile: LoadProfile,
    settings: Settings,
    ceiling_rps: float | None,
    progress: Progress,
    write: Callable[[str], None],
    leftovers: list[int],
) -> tuple[list[Point], dict[str, ThreadedResult], dict[str, WrkResult]]:
    """Measure every point, the threaded client and wrk on every runner and external target.

    Returns:
        The points (runner by runner, users ascending as given), the threaded client's
        result per runner, and wrk's per runner (empty when wrk is not used).
    """
    points: list[Point] = []
    threaded: dict[str, ThreadedResult] = {}
    wrk: dict[str, WrkResult] = {}
    for runner in settings.runners:
        for users in settings.users:
            samples = []
            for repetition in range(1, settings.repeat + 1):
                label = f"{settings.service}-{runner}-u{users}-r{repetition}"
                try:
                    with server_under_test(
                        settings.service, runner, settings, leftovers, cpu_share=settings.server_cpu
                    ) as target:
                        sample = measure_locust(profile, target, users, settings, label)
                except SERVER_FAILURES as error:
                    sample = LocustSample(error=f"server did not start: {error}")
                samples.append(sample)
                progress.step(sample_line(settings, runner, users, repetition, sample))
            point = flag_generator_bound(
                aggregate(samples, runner=runner, users=users, service=settings.service), ceiling_rps
            )
            points.append(point)
            write("    = " + point_line(settings.service, point))
        threaded[runner] = result = measure_threaded_client(settings, runner, leftovers)
        progress.step(
            f"{settings.service} {runner:<17} plain threaded client, {settings.threaded_client_users} threads: "
            + (
                f"{result.rps:,.0f} req/s (median of {result.repeats}), {result.failures} failures, client CPU "
                f"{percent(result.cpu_cores)}, server CPU {percent(result.server_cpu_cores)}"
                if result.error is None else f"ERROR {result.error}"
            )
        )
        if uses_wrk(settings):
            wrk[runner] = measure_wrk_repetitions(settings, runner, leftovers, progress)
    return points, threaded, wrk


Sample = TypeVar("Sample")


def on_fresh_servers(
    settings: Settings,
    runner: str,
    leftovers: list[int],
    measure: Callable[[ServerUnderTest, int], Sample],
    failed: Callable[[str], Sample],
) -> Iterator[tuple[int, Sample]]:
    """``measure(server, repetition)`` once per repetition, each on a fresh server of ``runner``
    (pinned, and held to the ``--server-cpu`` budget when one is given); a server that did not
    start gives ``failed(reason)``."""
    for repetition in range(1, settings.repeat + 1):
        try:
            with server_under_test(
                settings.service, runner, settings, leftovers, cpu_share=settings.server_cpu
            ) as target:
                sample = measure(target, repetition)
        except SERVER_FAILURES as error:
            sample = failed(str(error))
        yield repetition, sample


def measure_wrk_repetitions(settings: Settings, runner: str, leftovers: list[int], progress: Progress) -> WrkResult:
    """wrk's repetitions against ``runner`` (fresh server each), at ``settings.wrk_connections``."""
    samples = []
    for repetition, sample in on_fresh_servers(
        settings, runner, leftovers,
        lambda target, repetition: measure_wrk(
            target, settings, f"wrk-{settings.service}-{runner}-c{settings.wrk_connections}-r{repetition}"
        ),
        lambda reason: WrkSample(error=f"server did not start: {reason}"),
    ):
        samples.append(sample)
        where = f"{settings.service} {runner:<17} wrk c={settings.wrk_connections:<4} rep {repetition}/{settings.repeat}:"
        progress.step(
            f"{where} ERROR {sample.error[:100]}" if sample.error is not None else
            f"{where} {sample.rps:>9,.0f} req/s  p99 {microseconds(sample.latency_us.p99):>8}  "
            f"errors {sample.errors:<5} srv {percent(sample.server_cpu_cores)}"
        )
    return aggregate_wrk(samples, runner=runner, connections=settings.wrk_connections)


def measure_threaded_client(settings: Settings, runner: str, leftovers: list[int]) -> ThreadedResult:
    """The threaded client's repetitions against ``runner`` (fresh server each)."""
    samples = [
        sample for _, sample in on_fresh_servers(
            settings, runner, leftovers,
            lambda target, repetition: measure_threaded(
                settings.service, target, settings.threaded_client_users, settings,
                f"threaded-{settings.service}-{runner}-r{repetition}",
            ),
            lambda reason: ThreadedSample(error=reason),
        )
    ]
    return aggregate_threaded(samples)


def sample_line(settings: Settings, runner: str, users: int, repetition: int, sample: LocustSample) -> str:
    """One repetition, for the progress output."""
    where = f"{settings.service} {runner:<17} u={users:<5} rep {repetition}/{settings.repeat}:"
    if sample.error is not None:
        return f"{where} ERROR {sample.error[:100]}"
    return (
        f"{where} {sample.rps:>9,.0f} req/s  p99 {microseconds(sample.latency_us.p99):>8}  "
        f"fail {sample.failures:<5} stalled {sample.connections.stalled:<4} "
        f"gen {percent(sample.generator_cpu_cores)} srv {percent(sample.server_cpu_cores)}"
    )


def point_line(service: str, point: Point) -> str:
    """One aggregated point, for the progress output."""
    where = f"{service} {point.runner:<17} u={point.users:<5}"
    if not point.measured:
        return f"{where} ERROR {(point.error or '')[:120]}"
    flag = "  GEN-BOUND" if point.generator_bound else ""
    return (
        f"{where} {point.rps:>9,.0f} req/s  p99 {microseconds(point.latency_us.p99):>8}  "
        f"fail {point.failures:<5} stalled {point.stalled_connections:<4} "
        f"gen {percent(point.generator_cpu_cores)} srv {percent(point.server_cpu_cores)}{flag}"
    )
