"""Where a results file came from: the implementation judged, the suite that judged it, the machine, the date.

Results accumulate: ``wirecheck report`` merges files written by different people, on different
machines, months apart. A verdict means little without knowing what was judged (the
implementation's label and version: ``pytest suites/ --label NAME --label-version VERSION``),
by which cases (the suite's version, and a digest of the case catalogue, which changes
whenever a case is added, removed, or has its level, requirement or expectation reworded,
even between two releases), on what (the machine: a slow 2-core VM explains a timeout
that a workstation never shows) and when. This module computes those four blocks; the
pytest plugin adds them to every results file beside the contract's keys.

What is deliberately not recorded: the command line and the service options, which can
hold a secret (a shared key given with ``--authkey``); a results file is for publishing.
"""

from __future__ import annotations

import hashlib
import os
import platform
import socket
from typing import Any, Iterable

import harness
from harness.cases import CaseSpec

# The keys this module adds to a results document (the contract's keys are untouched).
PROVENANCE_KEYS = ("implementation", "suite", "machine", "date")


class LabelError(ValueError):
    """A ``--label`` or ``--label-version`` that cannot name a column of a report."""


def check_label(text: str | None, option: str) -> str | None:
    """``text`` stripped, or None when not given.

    Raises:
        LabelError: empty, or more than one line (a label is a column heading).
    """
    if text is None:
        return None
    stripped = text.strip()
    if not stripped or "\n" in stripped or "\r" in stripped:
        raise LabelError(f"{option} must be one non-empty line, got {text!r}")
    return stripped


def catalogue_digest(cases: Iterable[CaseSpec]) -> str:
    """A SHA-256 over every case's ID, level (and per-runner levels), requirement and expectation.

    Two results files with the same digest were judged by the same cases, worded the same way.
    """
    digest = hashlib.sha256()
    for spec in sorted(cases, key=lambda spec: spec.case_id):
        overrides = ",".join(f"{runner}={level.value}" for runner, level in sorted(spec.level_for_runner.items()))
        for field in (spec.case_id, spec.level.value, overrides, spec.requirement, spec.expected):
            digest.update(field.encode("utf-8"))
            digest.update(b"\x1f")  # unit separator: fields cannot run into each other
        digest.update(b"\x1e")
    return digest.hexdigest()


def service_catalogues(cases: Iterable[CaseSpec]) -> dict[str, str]:
    """``{service: catalogue_digest of that service's cases}``.

    A results file judges one service (or a few); a case added to another service says
    nothing about its verdicts. ``wirecheck report`` compares these, service by service,
    when it merges files recorded months apart.
    """
    by_service: dict[str, list[CaseSpec]] = {}
    for spec in cases:
        by_service.setdefault(spec.service, []).append(spec)
    return {service: catalogue_digest(specs) for service, specs in sorted(by_service.items())}


def suite_description() -> dict[str, Any]:
    """``{"wirecheck_version", "catalogue_sha256", "case_count", "service_catalogues"}``; the
    digests are None when the catalogue cannot be loaded (the results are still written)."""
    from harness.catalogue import CatalogueError, load_cases  # imports every suite module: only when asked

    try:
        cases = load_cases()
    except CatalogueError:
        return {
            "wirecheck_version": harness.__version__,
            "catalogue_sha256": None,
            "case_count": None,
            "service_catalogues": None,
        }
    return {
        "wirecheck_version": harness.__version__,
        "catalogue_sha256": catalogue_digest(cases),
        "case_count": len(cases),
        "service_catalogues": service_catalogues(cases),
    }


def machine_description() -> dict[str, Any]:
    """The host name, platform, CPU count and Python that ran the suite."""
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
    }


def provenance(label: str | None, version: str | None, *, date: str) -> dict[str, Any]:
    """The four blocks a results file carries beside the contract's keys.

    Args:
        label: the implementation's name (``--label``), or None: a report then names the
            column by the target alone.
        version: the implementation's version (``--label-version``), or None when unknown.
        date: when the run started (ISO 8601 UTC).
    """
    return {
        "implementation": {"label": label, "version": version},
        "suite": suite_description(),
        "machine": machine_description(),
        "date": date,
    }
