"""Results files merged into one matrix: cases x implementations, a cell per verdict.

Theory of operation. Each results file (``pytest suites/ --results FILE.json``) holds records
``(case, target, verdict, expected, actual ...)`` and, since ``--label``, the name and version of
the implementation it judged (:mod:`harness.provenance`). An **implementation** is a column of
the report: the label, or the target's name when there is no label; when one file holds
several targets of one service (every reference runner, every host of a network) each target
is a column of its own, named ``LABEL TARGET``. Files with the same label and disjoint cases
(one server judged in two parts, on two days) fill one column: results accumulate. A file
that would put a second verdict into a cell already filled gets columns of its own, suffixed
with its file name, so no verdict is ever silently dropped.

Nothing here names a service: services, cases and targets come from the files.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from harness.verdicts import VERDICT_ORDER, CaseRecord, case_id_sort_key


class ReportInputError(ValueError):
    """A results file that cannot be read or is not a results file (the message is one line)."""


@dataclass
class Implementation:
    """A column: one implementation judged, with where its verdicts came from.

    Attributes:
        name: the column heading (label, label and target, or target).
        label: the ``--label`` it was judged under, or None.
        version: the ``--label-version``, or None when unknown.
        targets: the targets its verdicts were recorded against.
        sources: the results files its verdicts came from.
        machines: the host names that ran them.
        dates: when each run started.
        suites: each run's ``wirecheck_version`` and short catalogue digest.
    """

    name: str
    label: str | None
    version: str | None
    targets: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    machines: list[str] = field(default_factory=list)
    dates: list[str] = field(default_factory=list)
    suites: list[str] = field(default_factory=list)

    def note_run(self, target: str, source: str, document: Mapping[str, Any]) -> None:
        """Record where one of its verdicts came from (each value once, in the order seen)."""
        machine = (document.get("machine") or {}).get("hostname")
        suite = document.get("suite") or {}
        digest = suite.get("catalogue_sha256")
        suite_text = f"wirecheck {document.get('wirecheck_version', '?')}" + (f" (cases {digest[:12]})" if digest else "")
        for values, value in (
            (self.targets, target),
            (self.sources, source),
            (self.machines, machine),
            (self.dates, document.get("date") or document.get("started")),
            (self.suites, suite_text),
        ):
            if value and value not in values:
                values.append(value)


@dataclass
class CaseRow:
    """A row: one case, with the cells of every implementation that ran it.

    Attributes:
        id: the case ID.
        service: the case's service.
        requirement: the requirement, quoted verbatim.
        cells: implementation name -> that implementation's record of this case.
    """

    id: str
    service: str
    requirement: str
    cells: dict[str, CaseRecord] = field(default_factory=dict)

    @property
    def level(self) -> str:
        """The level most of its cells had (a runner may lower a case's level for itself)."""
        return Counter(record.level for record in self.cells.values()).most_common(1)[0][0]

    @property
    def levels(self) -> list[str]:
        """Every level its cells had, most common first."""
        return [level for level, _ in Counter(record.level for record in self.cells.values()).most_common()]


@dataclass
class Report:
    """The merged matrix.

    Attributes:
        implementations: the columns, in the order first seen.
        rows: the cases, in natural ID order.
        sources: the results files read, in order.
        catalogues_by_service: service -> the digests of that service's cases in the files that
            judged it (a file written before per-service digests: its whole catalogue's).
    """

    implementations: list[Implementation]
    rows: list[CaseRow]
    sources: list[str]
    catalogues_by_service: dict[str, set[str]] = field(default_factory=dict)

    @property
    def services(self) -> list[str]:
        """The services, in the order their first case sorts."""
        return list(dict.fromkeys(row.service for row in self.rows))

    def rows_of(self, service: str) -> list[CaseRow]:
        return [row for row in self.rows if row.service == service]

    def implementations_of(self, service: str) -> list[Implementation]:
        """The columns that hold a verdict of at least one of ``service``'s cases."""
        names = {name for row in self.rows_of(service) for name in row.cells}
        return [implementation for implementation in self.implementations if implementation.name in names]

    def counts(self, implementation: str) -> dict[str, int]:
        """``{verdict: count}`` over the column, every verdict present (0 when none)."""
        counter = Counter(row.cells[implementation].verdict for row in self.rows if implementation in row.cells)
        return {verdict.value: counter.get(verdict.value, 0) for verdict in VERDICT_ORDER}

    def catalogue_conflicts(self) -> list[str]:
        """The services whose merged runs were judged by different cases (read with care:
        a case may have been added, reworded or had its level changed between them)."""
        return sorted(service for service, digests in self.catalogues_by_service.items() if len(digests) > 1)


def _catalogue_of(document: Mapping[str, Any], service: str) -> str | None:
    """The digest of ``service``'s cases the document was judged by (None: not recorded)."""
    suite = document.get("suite") or {}
    by_service = suite.get("service_catalogues") or {}
    return by_service.get(service) or suite.get("catalogue_sha256")


def read_results_file(path: Path) -> dict[str, Any]:
    """A results document, checked enough to merge.

    Raises:
        ReportInputError: missing or unreadable file, invalid JSON, or no ``cases`` list of
            records with the contract's fields.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportInputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportInputError(f"{path}: cannot be read ({exc})") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportInputError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    if not isinstance(document, dict) or not isinstance(document.get("cases"), list):
        raise ReportInputError(f"{path}: not a wirecheck results file (no \"cases\" list)")
    for index, record in enumerate(document["cases"]):
        missing = [name for name in CaseRecord.__dataclass_fields__ if not isinstance(record, dict) or name not in record]
        if missing:
            raise ReportInputError(f"{path}: case {index} lacks {', '.join(missing)}")
    return document


def column_name(label: str | None, target: str, *, several_targets: bool) -> str:
    """The column of ``target``'s verdicts in a file labelled ``label``."""
    if label is None:
        return target
    return f"{label} {target}" if several_targets else label


def merge(paths: Iterable[Path]) -> Report:
    """Read every results file and merge them into one matrix (see the module docstring).

    Raises:
        ReportInputError: a file cannot be read or is not a results file; or no file was given.
    """
    implementations: dict[str, Implementation] = {}
    rows: dict[str, CaseRow] = {}
    sources: list[str] = []
    catalogues: dict[str, set[str]] = {}
    for path in paths:
        document = read_results_file(path)
        sources.append(str(path))
        label = (document.get("implementation") or {}).get("label")
        version = (document.get("implementation") or {}).get("version")
        records = [CaseRecord.from_json(record) for record in document["cases"]]
        targets_by_service: dict[str, set[str]] = {}
        for record in records:
            targets_by_service.setdefault(record.service, set()).add(record.target)
        names = {
            (record.service, record.target): column_name(
                label, record.target, several_targets=len(targets_by_service[record.service]) > 1
            )
            for record in records
        }
        if any(record.id in rows and names[(record.service, record.target)] in rows[record.id].cells for record in records):
            names = {key: f"{name} ({path.name})" for key, name in names.items()}
        for service in targets_by_service:
            digest = _catalogue_of(document, service)
            if digest:
                catalogues.setdefault(service, set()).add(digest)
        for record in records:
            name = names[(record.service, record.target)]
            implementation = implementations.setdefault(name, Implementation(name, label, version))
            implementation.note_run(record.target, str(path), document)
            row = rows.setdefault(record.id, CaseRow(record.id, record.service, record.requirement))
            row.cells[name] = record
    if not sources:
        raise ReportInputError("no results file given")
    ordered = sorted(rows.values(), key=lambda row: case_id_sort_key(row.id))
    return Report(list(implementations.values()), ordered, sources, catalogues)
