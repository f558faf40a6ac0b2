"""Statistics over repetitions, and which points the generator rather than the server limited.

Repetitions are reduced to the median (robust to one disturbed run on a shared machine) with
the spread shown as min and max; counts that mean something went wrong (failures, stalled
connections) take the worst repetition, since a stall that happened once is a stall.

Generator-bound points: a point is flagged when the generator used at least
:data:`GENERATOR_BOUND_CPU_CORES` of its core, or reached
:data:`GENERATOR_BOUND_CEILING_FRACTION` of the generator ceiling measured in the same run. On
a flagged point the server may be faster than reported. A point counts as clearly
*server-bound* only with slack to spare (:func:`is_server_bound`); points between the two are
judged neither way.
"""

from __future__ import annotations

import statistics
from typing import Sequence

from harness.compare.records import Latency, LocustSample, Point, ThreadedResult, ThreadedSample

# A point is generator-bound when the generator used this much of its core...
GENERATOR_BOUND_CPU_CORES = 0.9
# ...or reached this fraction of the generator's measured ceiling.
GENERATOR_BOUND_CEILING_FRACTION = 0.9

# A point counts as server-bound only with clear slack in the generator: at least a fifth of
# its core idle and its rate at least a fifth below its ceiling.
SERVER_BOUND_MAX_GENERATOR_CPU_CORES = 0.8
SERVER_BOUND_MAX_CEILING_FRACTION = 0.8


def median(values: Sequence[float | None]) -> float | None:
    """The median of the values present, or None when there are none."""
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


def _errors(samples: Sequence[LocustSample | ThreadedSample], width: int) -> str:
    return "; ".join((sample.error or "")[:width] for sample in samples) or "not run"


def aggregate(samples: list[LocustSample], *, runner: str = "", users: int = 0, service: str | None = None) -> Point:
    """Median over locust repetitions (spread: min and max); failure-like counts take the worst."""
    good = [sample for sample in samples if sample.error is None]
    if not good:
        return Point(error=_errors(samples, 300), service=service, runner=runner, users=users, samples=samples)
    rates = [sample.rps for sample in good]
    p99s = [sample.latency_us.p99 for sample in good if sample.latency_us.p99 is not None]
    return Point(
        service=service,
        runner=runner,
        users=users,
        repeats=len(good),
        mode=good[0].mode,
        rps=median(rates),
        rps_min=min(rates),
        rps_max=max(rates),
        latency_us=Latency(
            p50=median([sample.latency_us.p50 for sample in good]),
            p90=median([sample.latency_us.p90 for sample in good]),
            p99=median([sample.latency_us.p99 for sample in good]),
            p99_9=median([sample.latency_us.p99_9 for sample in good]),
        ),
        p99_min_us=min(p99s) if p99s else None,
        p99_max_us=max(p99s) if p99s else None,
        failures=max(sample.failures for sample in good),
        timeouts=max(sample.timeouts for sample in good),
        stalled_connections=max(sample.connections.stalled for sample in good),
        timed_out_connections=max(sample.connections.timed_out for sample in good),
        starved_connections=max(sample.connections.starved for sample in good),
        stall_threshold_ms=good[0].connections.stall_threshold_ms,
        server_cpu_cores=median([sample.server_cpu_cores for sample in good]),
        server_peak_rss_kib=max((sample.server_peak_rss_kib or 0) for sample in good) or None,
        generator_cpu_cores=median([sample.generator_cpu_cores for sample in good]),
        failed_repeats=len(samples) - len(good),
        load_average_1min_max=max((sample.load_average_1min or 0.0) for sample in good),
        other_cpu_cores=median([sample.other_cpu_cores for sample in good]),
        steal_cpu_cores=median([sample.steal_cpu_cores for sample in good]),
        samples=samples,
    )


def aggregate_threaded(samples: list[ThreadedSample]) -> ThreadedResult:
    """The threaded client's repetitions: median rate (and spread), worst failures."""
    good = [sample for sample in samples if sample.error is None]
    if not good:
        return ThreadedResult(error=_errors(samples, 200))
    rates = [sample.rps for sample in good]
    return ThreadedResult(
        threads=good[0].threads,
        repeats=len(good),
        rps=statistics.median(rates),
        rps_min=min(rates),
        rps_max=max(rates),
        failures=max(sample.failures for sample in good),
        cpu_cores=median([sample.cpu_cores for sample in good]),
        server_cpu_cores=median([sample.server_cpu_cores for sample in good]),
        samples=good,
    )


def generator_bound_reasons(point: Point, ceiling_rps: float | None) -> list[str]:
    """Why the generator, not the server, may have set this point's rate (empty: it did not)."""
    reasons = []
    cpu = point.generator_cpu_cores
    if cpu is not None and cpu >= GENERATOR_BOUND_CPU_CORES:
        reasons.append(f"generator CPU {cpu:.0%} of its core")
    rate = point.rps
    if ceiling_rps and rate is not None and rate >= GENERATOR_BOUND_CEILING_FRACTION * ceiling_rps:
        reasons.append(f"rate {rate / ceiling_rps:.0%} of the generator ceiling")
    return reasons


def flag_generator_bound(point: Point, ceiling_rps: float | None) -> Point:
    """Set the point's generator-bound flag and reasons (a failed point is left alone)."""
    if point.measured:
        point.generator_bound_reasons = generator_bound_reasons(point, ceiling_rps)
        point.generator_bound = bool(point.generator_bound_reasons)
    return point


def is_server_bound(point: Point, ceiling_rps: float | None) -> bool:
    """True when the generator clearly had slack at this point, so the server set the rate."""
    cpu, rate = point.generator_cpu_cores, point.rps
    if cpu is None or rate is None or not ceiling_rps:
        return False
    return cpu < SERVER_BOUND_MAX_GENERATOR_CPU_CORES and rate < SERVER_BOUND_MAX_CEILING_FRACTION * ceiling_rps
