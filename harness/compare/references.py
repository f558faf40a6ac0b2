"""The yardsticks measured in the same run as the sweep: the generator's ceiling and the
server-bound reference.

**Generator ceiling.** Locust against the fastest runner that carries the service (the first
of :data:`CEILING_RUNNERS`) at :data:`CEILING_USERS` users, uncapped: the most this generator
gets out of any server on this machine. Points near it are flagged generator-bound
(harness/compare/aggregation.py).

**Server-bound reference.** "Does locust get as much out of a server as a plain client does?"
is only visible where the server is the limit. Uncapped, every runner that can use its core
outruns one locust process on loopback, so :data:`SERVER_BOUND_RUNNER` is held to
:data:`SERVER_BOUND_CPU_CAP` of its core by the kernel (harness/loadgen/cpu_cap.py) and driven
by locust and by the threaded client, alternating, a fresh server per run, so that drift on a
shared machine hits both alike. :data:`SERVER_BOUND_PEERS` are measured capped alike with
locust, so that runners can be compared where the server is the limit.
"""

from __future__ import annotations

from harness.compare.aggregation import aggregate, aggregate_threaded
from harness.compare.formatting import Progress, percent
from harness.compare.measure import SERVER_FAILURES, measure_locust, measure_threaded, server_under_test
from harness.compare.records import LocustSample, Point, ServerBoundReference, Settings, ThreadedSample
from harness.loadgen.cpu_cap import CpuCapUnavailable
from harness.loadgen.profile import LoadProfile
from harness.runners import RUNNERS

# The generator's ceiling is locust against the fastest runner at this many users (enough
# connections to keep locust's one core busy while each waits).
CEILING_USERS = 50
CEILING_RUNNERS = ("uvloop", "asyncio", "selectors")

# At a tenth of a core the capped server is the limit by a wide margin (about 12,000 echo
# req/s, the clients using ~15 % of theirs).
SERVER_BOUND_RUNNER = "selectors"
SERVER_BOUND_CPU_CAP = 0.1
# Runners measured capped alike with locust, to compare runners where the server is the limit.
SERVER_BOUND_PEERS = ("asyncio",)

LOCUST = "locust"
THREADED = "threaded"


def reference_steps(settings: Settings) -> int:
    """How many progress steps the ceiling and :func:`measure_server_bound_reference` take."""
    return 1 + (2 + len(SERVER_BOUND_PEERS)) * settings.repeat


def measure_generator_ceiling(
    profile: LoadProfile, kinds: tuple[str, ...], settings: Settings, progress: Progress, leftovers: list[int]
) -> Point:
    """Locust against the fastest runner that carries services of ``kinds``, uncapped."""
    runner = next((name for name in CEILING_RUNNERS if RUNNERS[name].kinds.intersection(kinds)), settings.runners[0])
    try:
        with server_under_test(settings.service, runner, settings, leftovers) as target:
            sample = measure_locust(profile, target, CEILING_USERS, settings, f"ceiling-{runner}-u{CEILING_USERS}")
    except SERVER_FAILURES as error:
        sample = LocustSample(error=str(error))
    ceiling = aggregate([sample], runner=runner, users=CEILING_USERS)
    progress.step(
        f"generator ceiling: locust vs {runner} at {CEILING_USERS} users: "
        + (
            f"{ceiling.rps:,.0f} req/s, generator CPU {percent(ceiling.generator_cpu_cores)}, "
            f"server CPU {percent(ceiling.server_cpu_cores)}"
            if ceiling.measured else f"ERROR {ceiling.error}"
        )
    )
    return ceiling


def measure_server_bound_reference(
    profile: LoadProfile, kinds: tuple[str, ...], settings: Settings, progress: Progress, leftovers: list[int]
) -> ServerBoundReference:
    """Locust and the threaded client against one CPU-capped server, alternating repetitions."""
    users = settings.threaded_client_users
    reference = ServerBoundReference(runner=SERVER_BOUND_RUNNER, users=users, cpu_cap=SERVER_BOUND_CPU_CAP)
    peers = [peer for peer in SERVER_BOUND_PEERS if RUNNERS[peer].kinds.intersection(kinds)]
    runs = [(SERVER_BOUND_RUNNER, LOCUST), (SERVER_BOUND_RUNNER, THREADED)] + [(peer, LOCUST) for peer in peers]
    samples: dict[tuple[str, str], list[LocustSample | ThreadedSample]] = {run: [] for run in runs}
    for repetition in range(1, settings.repeat + 1):
        for runner, client in runs:
            label = f"server-bound-{settings.service}-{runner}-{client}-r{repetition}"
            sample: LocustSample | ThreadedSample
            try:
                with server_under_test(
                    settings.service, runner, settings, leftovers, cpu_share=SERVER_BOUND_CPU_CAP
                ) as target:
                    assert target.cap is not None
                    reference.cap = target.cap.describe()
                    if client == LOCUST:
                        sample = measure_locust(profile, target, users, settings, label)
                    else:
                        sample = measure_threaded(settings.service, target, users, settings, label)
            except CpuCapUnavailable as error:
                reference.error = f"no CPU cap on this machine: {error}"
                return reference
            except SERVER_FAILURES as error:
                sample = LocustSample(error=str(error)) if client == LOCUST else ThreadedSample(error=str(error))
            samples[runner, client].append(sample)
            progress.step(
                f"server-bound reference: {runner} at {SERVER_BOUND_CPU_CAP:.0%} of a core, {client} rep {repetition}: "
                + (
                    f"{sample.rps:,.0f} req/s, server CPU {percent(sample.server_cpu_cores)}"
                    if sample.error is None else f"ERROR {sample.error[:120]}"
                )
            )
    locust_samples = [s for s in samples[SERVER_BOUND_RUNNER, LOCUST] if isinstance(s, LocustSample)]
    threaded_samples = [s for s in samples[SERVER_BOUND_RUNNER, THREADED] if isinstance(s, ThreadedSample)]
    reference.locust = aggregate(locust_samples, runner=SERVER_BOUND_RUNNER, users=users)
    reference.threaded = aggregate_threaded(threaded_samples)
    reference.peers_locust = {
        peer: aggregate([s for s in samples[peer, LOCUST] if isinstance(s, LocustSample)], runner=peer, users=users)
        for peer in peers
    }
    if reference.locust.measured and reference.threaded.measured:
        assert reference.locust.rps is not None and reference.threaded.rps
        reference.ratio = reference.locust.rps / reference.threaded.rps
        ratios = [
            locust.rps / threaded.rps
            for locust, threaded in zip(locust_samples, threaded_samples)
            if locust.error is None and threaded.error is None and threaded.rps
        ]
        reference.ratio_min, reference.ratio_max = min(ratios), max(ratios)
    return reference
