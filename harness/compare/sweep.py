"""The sweep: every runner at every number of users under locust, and the threaded client.

For each runner, each user count of the sweep is measured ``repeat`` times, each time on a
fresh server (pinned, and held to the ``--server-cpu`` budget when one is given), and reduced
to a :class:`~harness.compare.records.Point` flagged generator-bound where the generator, not
the server, may have set the rate. Then the plain threaded client runs against the same runner
at ``settings.threaded_client_users`` threads, as many times, for the yardstick.
"""

from __future__ import annotations

from typing import Callable

from harness.compare.aggregation import aggregate, aggregate_threaded, flag_generator_bound
from harness.compare.formatting import Progress, microseconds, percent
from harness.compare.measure import SERVER_FAILURES, measure_locust, measure_threaded, server_under_test
from harness.compare.records import LocustSample, Point, Settings, ThreadedResult, ThreadedSample
from harness.loadgen.profile import LoadProfile


def sweep_steps(settings: Settings) -> int:
    """How many progress steps :func:`run_sweep` takes."""
    return len(settings.runners) * (len(settings.users) * settings.repeat + 1)


def run_sweep(
    profile: LoadProfile,
    settings: Settings,
    ceiling_rps: float | None,
    progress: Progress,
    write: Callable[[str], None],
    leftovers: list[int],
) -> tuple[list[Point], dict[str, ThreadedResult]]:
    """Measure every point and the threaded client on every runner.

    Returns:
        The points (runner by runner, users ascending as given) and the threaded client's
        result per runner.
    """
    points: list[Point] = []
    threaded: dict[str, ThreadedResult] = {}
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
    return points, threaded


def measure_threaded_client(settings: Settings, runner: str, leftovers: list[int]) -> ThreadedResult:
    """The threaded client's repetitions against ``runner`` (fresh server each)."""
    samples = []
    for repetition in range(1, settings.repeat + 1):
        try:
            with server_under_test(
                settings.service, runner, settings, leftovers, cpu_share=settings.server_cpu
            ) as target:
                sample = measure_threaded(
                    settings.service, target, settings.threaded_client_users, settings,
                    f"threaded-{settings.service}-{runner}-r{repetition}",
                )
        except SERVER_FAILURES as error:
            sample = ThreadedSample(error=str(error))
        samples.append(sample)
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
