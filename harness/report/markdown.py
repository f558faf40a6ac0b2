"""The report as Markdown: for a README, a pull request or an issue, where HTML cannot go.

One table per service (a row per case, a column per implementation, a verdict per cell,
FAILED and ERROR in bold), then every verdict other than OK with its expected and actual,
the hexdump excerpt kept as a code block. The tables are also what generated README
sections are made of (:func:`verdict_table`), so a README never says what the results do not.
"""

from __future__ import annotations

from typing import Callable, Sequence

from harness.report.model import CaseRow, Implementation, Report
from harness.verdicts import Verdict

# Verdicts a reader must not miss in a table.
EMPHASISED = frozenset({Verdict.FAILED.value, Verdict.ERROR.value})


def cell_text(text: str) -> str:
    """``text`` on one line, safe inside a table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def verdict_word(verdict: str) -> str:
    return f"**{verdict}**" if verdict in EMPHASISED else verdict


def verdict_table(
    rows: Sequence[CaseRow],
    implementations: Sequence[Implementation],
    *,
    heading: Callable[[Implementation], str] = lambda implementation: implementation.name,
    requirement: bool = False,
    decorate: Callable[[CaseRow, Implementation, str], str] = lambda row, implementation, word: word,
) -> list[str]:
    """A Markdown table: ``| case | level | [requirement |] implementation… |``.

    Args:
        rows: the cases, in order.
        implementations: the columns, in order.
        heading: each column's heading.
        requirement: add the requirement (quoted verbatim) as a column.
        decorate: the cell's text from its verdict word (a link, a note); default: the word.
    """
    head = ["case", "level", *(["requirement"] if requirement else []), *(cell_text(heading(i)) for i in implementations)]
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join("---" for _ in head) + " |"]
    for row in rows:
        cells = [f"`{row.id}`", row.level, *([cell_text(row.requirement)] if requirement else [])]
        for implementation in implementations:
            record = row.cells.get(implementation.name)
            if record is None:
                cells.append("—")
                continue
            level_note = f" ({record.level})" if record.level != row.level else ""
            cells.append(decorate(row, implementation, verdict_word(record.verdict)) + level_note)
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def markdown_report(report: Report, *, title: str = "wirecheck report") -> str:
    """The whole report: the implementations, a table per service, the evidence of every verdict
    other than OK."""
    lines = [
        f"# {title}",
        "",
        f"{len(report.rows)} cases × {len(report.implementations)} implementations, from "
        f"{len(report.sources)} results files.",
        "",
        "| implementation | version | target | machine | date | " + " | ".join(v for v in report.counts("")) + " |",
        "| --- | --- | --- | --- | --- | " + " | ".join("---:" for _ in report.counts("")) + " |",
    ]
    for implementation in report.implementations:
        counts = report.counts(implementation.name)
        lines.append(
            f"| {cell_text(implementation.name)} | {cell_text(implementation.version or '—')} | "
            f"{cell_text(', '.join(implementation.targets))} | {cell_text(', '.join(implementation.machines) or '—')} | "
            f"{cell_text(', '.join(implementation.dates) or '—')} | " + " | ".join(str(n) for n in counts.values()) + " |"
        )
    lines.append("")
    conflicts = report.catalogue_conflicts()
    if conflicts:
        lines += [
            f"Runs of {', '.join(conflicts)} used different case catalogues: a case may have been added, "
            "reworded or had its level changed between them.",
            "",
        ]
    for service in report.services:
        rows = report.rows_of(service)
        lines += [f"## {service}", "", *verdict_table(rows, report.implementations_of(service)), ""]
        evidence = [
            (row, name, record)
            for row in rows
            for name, record in row.cells.items()
            if record.verdict != Verdict.OK.value
        ]
        if evidence:
            lines += ["Verdicts other than OK:", ""]
        for row, name, record in evidence:
            lines += [
                f"- `{row.id}` on {cell_text(name)}: {verdict_word(record.verdict)} ({record.level})",
                f"  - expected: {cell_text(record.expected)}",
                *_actual_lines(record.actual),
            ]
        if evidence:
            lines.append("")
    return "\n".join(lines)


def _actual_lines(actual: str) -> list[str]:
    first, *rest = actual.splitlines() or [""]
    lines = [f"  - actual: {cell_text(first)}"]
    if rest:
        lines += ["", "    ```", *(f"    {line}" for line in rest), "    ```"]
    return lines
