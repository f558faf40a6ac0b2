"""The whole comparison, step by step: ceiling, sweep, reference, goals, documents, charts.

Each step is a module of its own (references.py, sweep.py, goals.py, report.py, charts.py);
this one runs them in order, for one service read from the registry, and knows no service by
name: the locust user, the requester and the goals all come from the service's load profile.
"""

from __future__ import annotations

import contextlib
import os
import resource
import sys
from pathlib import Path
from typing import Callable, Iterator

from harness.compare.charts import write_charts
from harness.compare.formatting import Progress
from harness.compare.goals import evaluate_service_goals
from harness.compare.measure import GENERATOR_CORE, GENERATOR_CPUS, SERVER_CORE, CompareError, pin_self
from harness.compare.records import Comparison, Machine, Settings
from harness.compare.references import measure_generator_ceiling, measure_server_bound_reference, reference_steps
from harness.compare.report import write_documents
from harness.compare.sweep import run_sweep, sweep_steps
from harness.services import Service, fresh_secret_value, get_service, option_environment_variable, per_run_secret_options


def machine_description() -> Machine:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return Machine(
        cpu_model=model, cpus=os.cpu_count(), python=sys.version.split()[0], platform=sys.platform,
        kernel=os.uname().release,
    )


def raise_open_file_limit() -> tuple[int, int]:
    """Raise RLIMIT_NOFILE's soft limit to the hard one (inherited by servers and generators):
    1000 connections need 1000 descriptors on each side, past the common soft limit of 1024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


@contextlib.contextmanager
def per_run_secrets(service: Service) -> Iterator[None]:
    """Give each shared secret of ``service`` (an authenticated service's key) a fresh random
    value for this comparison, unless the caller's environment already holds one.

    The value goes only into this process's environment (``WIRECHECK_OPTION_<NAME>``), whence
    every server launched, every locust subprocess and the in-process threaded client read it:
    never onto a command line, into a result file or a log. The environment is restored after.
    """
    added = []
    for option in per_run_secret_options(service):
        variable = option_environment_variable(option)
        if variable not in os.environ:
            os.environ[variable] = fresh_secret_value()
            added.append(variable)
    try:
        yield
    finally:
        for variable in added:
            os.environ.pop(variable, None)


def run_compare(settings: Settings, write: Callable[[str], None] = print) -> Comparison:
    """:func:`compare_service` with the service's per-run secrets in the environment."""
    with per_run_secrets(get_service(settings.service)):
        return compare_service(settings, write)


def compare_service(settings: Settings, write: Callable[[str], None] = print) -> Comparison:
    """Run the whole comparison and write its outputs into ``settings.out_dir``.

    Raises:
        CompareError: the service has no load profile.

    Resource handling: every server and generator started is stopped before this returns
    (or raises); pids that outlived their server's stop are in ``leftover_processes``.
    """
    service = get_service(settings.service)
    profile = service.load_profile
    if profile is None:
        raise CompareError(f"service {service.name} has no load profile")
    kinds = service.kind.carried_by
    settings.out_dir.mkdir(parents=True, exist_ok=True)
    settings.html_dir.mkdir(parents=True, exist_ok=True)
    settings.open_files_limit = raise_open_file_limit()[0]
    settings.server_core, settings.generator_core = SERVER_CORE, GENERATOR_CORE
    load_before = os.getloadavg()
    pin_self(GENERATOR_CPUS, settings.pinned)
    progress = Progress(sweep_steps(settings) + reference_steps(settings), write)
    write(
        f"wirecheck compare {settings.service}: {len(settings.runners)} runners x users "
        f"{','.join(map(str, settings.users))} x {settings.repeat} repeat(s), warm-up {settings.warmup_s:g} s, "
        f"window {settings.duration_s:g} s; load average {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}; "
        f"server on core {SERVER_CORE}, generator on core {GENERATOR_CORE}"
        + ("" if settings.pinned else " (NOT pinned: fewer than 2 cores)")
        + (f"; every server held to {settings.server_cpu_cap}" if settings.server_cpu is not None else "")
    )
    leftovers: list[int] = []
    ceiling = measure_generator_ceiling(profile, kinds, settings, progress, leftovers)
    points, threaded, wrk = run_sweep(profile, settings, ceiling.rps, progress, write, leftovers)
    reference = measure_server_bound_reference(profile, kinds, settings, progress, leftovers)
    comparison = Comparison(
        service=settings.service,
        settings=settings,
        machine=machine_description(),
        load_average_before=list(load_before),
        load_average_after=list(os.getloadavg()),
        generator_ceiling=ceiling,
        threaded_client=threaded,
        server_bound_reference=reference,
        points=points,
        leftover_processes=leftovers,
        wall_s=progress.elapsed_s,
        wrk=wrk,
    )
    comparison.goals = evaluate_service_goals(profile, comparison)
    write_documents(comparison, settings.out_dir)
    write_charts(comparison, settings.out_dir, "connections" if service.transport == "tcp" else "sockets")
    return comparison
