"""The report as one self-contained HTML page: the matrix, its filters, every cell's evidence.

Autobahn's one page that shows every case against every implementation is the model. The page
must open offline, from a file attached to a bug report or a CI artefact, years later: so
no CDN, no web font, no framework and no template engine, only this module's CSS and a few
lines of plain JavaScript in the page itself, and every piece of text from the results files
written through :func:`html.escape`.

What it shows: a table of the implementations (label, version, targets, machine, date,
suite, verdict counts); then the matrix, a row per case (its ID, level and requirement,
grouped by service) and a column per implementation, each cell coloured by its verdict.
Clicking a cell (or Enter on it) shows that cell's record beside the matrix: verdict, level,
target, the requirement, expected and actual in full, hexdump excerpt included, preformatted
as the suite wrote it. Filters by service, level and verdict hide rows client-side; a row is
kept by the verdict filter when any of its cells has a chosen verdict.
"""

from __future__ import annotations

from html import escape

from harness.report.model import CaseRow, Implementation, Report
from harness.verdicts import VERDICT_ORDER, Level

# The matrix's columns before the first implementation: case, level, requirement.
FIXED_COLUMNS = 3

# Verdict colours: green for OK, blue for recorded-not-judged, amber for a SHOULD not met,
# red for a MUST not met, purple for the harness's own failure (never the target's fault).
VERDICT_COLOURS = {
    "OK": ("#d8f3dc", "#1b4332"),
    "INFORMATIONAL": ("#dbeafe", "#1e3a8a"),
    "NON-STRICT": ("#fff3bf", "#7c5800"),
    "FAILED": ("#ffc9c9", "#8a1111"),
    "ERROR": ("#e5dbff", "#4b1d8f"),
}

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1em; color: #111; }
h1 { font-size: 1.4em; margin: 0 0 .3em; }
.meta { color: #444; margin: 0 0 .8em; }
.warning { background: #fff3bf; padding: .4em .6em; border-left: 4px solid #c08a00; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 2px 6px; vertical-align: top; }
#implementations td, #implementations th { font-size: 12px; }
#filters { margin: .8em 0; display: flex; gap: 1.2em; flex-wrap: wrap; align-items: center; }
#filters label { white-space: nowrap; }
#layout { display: flex; gap: 1em; align-items: flex-start; }
#matrix-wrap { overflow: auto; max-height: 88vh; flex: 1 1 auto; }
#matrix thead th { position: sticky; top: 0; background: #f4f4f4; z-index: 1; font-size: 12px; max-width: 9em; }
#matrix .service-heading th { background: #333; color: #fff; text-align: left; }
#matrix .service-heading span { position: sticky; left: 6px; }
#matrix td.id { white-space: nowrap; font-family: ui-monospace, monospace; font-size: 12px;
                position: sticky; left: 0; background: #fff; z-index: 1; }
#matrix thead th:first-child { left: 0; z-index: 2; }
#matrix td.requirement { min-width: 16em; max-width: 28em; font-size: 12px; color: #333; }
#matrix td.requirement div { max-height: 2.8em; overflow: hidden; }
td.cell { text-align: center; font-size: 12px; font-weight: 600; cursor: pointer; white-space: nowrap; }
td.cell:focus, td.cell.selected { outline: 3px solid #111; outline-offset: -3px; }
td.absent { color: #999; background: #fafafa; cursor: default; font-weight: normal; }
#detail { position: sticky; top: 0; flex: 0 0 40%; max-height: 88vh; overflow: auto;
          border: 1px solid #bbb; padding: .6em .8em; background: #fcfcfc; }
#detail h2 { font-size: 1.05em; margin: 0 0 .4em; font-family: ui-monospace, monospace; }
#detail dt { font-weight: 600; margin-top: .4em; }
#detail dd { margin: 0 0 0 .8em; }
#detail pre { white-space: pre-wrap; background: #f1f1f1; padding: .4em; margin: .2em 0; font-size: 11px; }
#detail pre.actual, #detail pre.expected { white-space: pre; overflow-x: auto; }  /* hexdump rows stay whole */
.badge { display: inline-block; padding: 0 .4em; border-radius: 3px; font-weight: 600; }
""" + "".join(
    f"td.v-{verdict}, .badge.v-{verdict} {{ background: {background}; color: {foreground}; }}\n"
    for verdict, (background, foreground) in VERDICT_COLOURS.items()
)

# The page's behaviour: show a cell's record, and filter rows. No library: it must run offline.
SCRIPT = """
(function () {
  var matrix = document.getElementById('matrix');
  var panel = document.getElementById('detail');
  var selected = null;
  function show(cell) {
    var source = document.getElementById(cell.getAttribute('data-cell'));
    if (!source) { return; }
    var copy = source.cloneNode(true);
    copy.removeAttribute('id');
    copy.hidden = false;
    panel.replaceChildren(copy);
    if (selected) { selected.classList.remove('selected'); }
    selected = cell;
    cell.classList.add('selected');
  }
  matrix.addEventListener('click', function (event) {
    var cell = event.target.closest('td.cell[data-cell]');
    if (cell) { show(cell); }
  });
  matrix.addEventListener('keydown', function (event) {
    var cell = event.target.closest('td.cell[data-cell]');
    if (cell && (event.key === 'Enter' || event.key === ' ')) { event.preventDefault(); show(cell); }
  });
  var service = document.getElementById('filter-service');
  var level = document.getElementById('filter-level');
  var verdicts = Array.prototype.slice.call(document.querySelectorAll('#filters input[name=verdict]'));
  function apply() {
    var chosen = verdicts.filter(function (box) { return box.checked; }).map(function (box) { return box.value; });
    var shownPerService = {};
    Array.prototype.forEach.call(matrix.querySelectorAll('tr.case'), function (row) {
      var keep = (!service.value || row.getAttribute('data-service') === service.value)
        && (!level.value || row.getAttribute('data-levels').split(' ').indexOf(level.value) >= 0)
        && Array.prototype.some.call(row.querySelectorAll('td.cell[data-verdict]'), function (cell) {
             return chosen.indexOf(cell.getAttribute('data-verdict')) >= 0; });
      row.hidden = !keep;
      if (keep) { shownPerService[row.getAttribute('data-service')] = true; }
    });
    Array.prototype.forEach.call(matrix.querySelectorAll('tr.service-heading'), function (row) {
      row.hidden = !shownPerService[row.getAttribute('data-service')];
    });
    // An implementation with no verdict in the rows shown is a column of dashes: hide it.
    var heads = matrix.querySelectorAll('thead th');
    var rows = Array.prototype.filter.call(matrix.querySelectorAll('tr.case'), function (row) { return !row.hidden; });
    for (var column = FIXED_COLUMNS; column < heads.length; column++) {
      var used = rows.some(function (row) { return !row.cells[column].classList.contains('absent'); });
      heads[column].hidden = !used;
      Array.prototype.forEach.call(matrix.querySelectorAll('tr.case'), function (row) { row.cells[column].hidden = !used; });
    }
  }
  [service, level].concat(verdicts).forEach(function (control) { control.addEventListener('change', apply); });
  apply();
})();
"""


def _text(value: object) -> str:
    return escape(str(value), quote=True)


def _implementations_table(report: Report) -> list[str]:
    lines = [
        f'<details id="implementations-list"><summary>{len(report.implementations)} implementations: version, '
        "target, machine, date, suite and verdict counts of each</summary>",
        '<table id="implementations"><thead><tr><th>implementation</th><th>version</th><th>target</th>'
        "<th>machine</th><th>date</th><th>suite</th><th>verdicts</th></tr></thead><tbody>",
    ]
    for implementation in report.implementations:
        counts = report.counts(implementation.name)
        badges = " ".join(
            f'<span class="badge v-{_text(verdict)}">{counts[verdict]} {_text(verdict)}</span>'
            for verdict in counts
            if counts[verdict]
        )
        lines.append(
            f"<tr><th>{_text(implementation.name)}</th><td>{_text(implementation.version or '—')}</td>"
            f"<td>{_text(', '.join(implementation.targets))}</td><td>{_text(', '.join(implementation.machines) or '—')}</td>"
            f"<td>{_text(', '.join(implementation.dates) or '—')}</td><td>{_text('; '.join(implementation.suites))}</td>"
            f"<td>{badges}</td></tr>"
        )
    lines.append("</tbody></table></details>")
    return lines


def _filters(report: Report) -> list[str]:
    services = "".join(f'<option value="{_text(service)}">{_text(service)}</option>' for service in report.services)
    levels = "".join(f'<option value="{level.value}">{level.value}</option>' for level in Level)
    verdicts = "".join(
        f'<label><input type="checkbox" name="verdict" value="{verdict.value}" checked> '
        f'<span class="badge v-{verdict.value}">{verdict.value}</span></label>'
        for verdict in VERDICT_ORDER
    )
    return [
        '<form id="filters" onsubmit="return false">',
        f'<label>service <select id="filter-service"><option value="">every service</option>{services}</select></label>',
        f'<label>level <select id="filter-level"><option value="">every level</option>{levels}</select></label>',
        f"<span>verdict {verdicts}</span>",
        "</form>",
    ]


def _detail(cell_id: str, row: CaseRow, implementation: Implementation) -> str:
    record = row.cells[implementation.name]
    version = f" {implementation.version}" if implementation.version else ""
    return (
        f'<div id="{cell_id}" class="cell-detail" hidden>'
        f"<h2>{_text(row.id)}</h2>"
        f"<dl><dt>implementation</dt><dd>{_text(implementation.name + version)} at {_text(record.target)}</dd>"
        f'<dt>verdict</dt><dd><span class="badge v-{_text(record.verdict)}">{_text(record.verdict)}</span>'
        f" ({_text(record.level)}, {record.duration_s:.3g} s)</dd>"
        f"<dt>requirement</dt><dd>{_text(record.requirement)}</dd>"
        f'<dt>expected</dt><dd><pre class="expected">{_text(record.expected)}</pre></dd>'
        f'<dt>actual</dt><dd><pre class="actual">{_text(record.actual)}</pre></dd></dl></div>'
    )


def html_page(report: Report, *, title: str = "wirecheck report") -> str:
    """The whole page (see the module docstring)."""
    rows_html: list[str] = []
    details: list[str] = []
    columns = report.implementations
    for service in report.services:
        rows_html.append(
            f'<tr class="service-heading" data-service="{_text(service)}"><th colspan="{FIXED_COLUMNS + len(columns)}">'
            f"<span>{_text(service)}</span></th></tr>"
        )
        for row in report.rows_of(service):
            cells = []
            for implementation in columns:
                record = row.cells.get(implementation.name)
                if record is None:
                    cells.append('<td class="cell absent" title="not run">—</td>')
                    continue
                cell_id = f"cell-{len(details)}"
                details.append(_detail(cell_id, row, implementation))
                level_note = f" ({record.level})" if record.level != row.level else ""
                cells.append(
                    f'<td class="cell v-{_text(record.verdict)}" data-verdict="{_text(record.verdict)}" '
                    f'data-cell="{cell_id}" tabindex="0" role="button" '
                    f'title="{_text(implementation.name)}: {_text(record.verdict)}">'
                    f"{_text(record.verdict)}{_text(level_note)}</td>"
                )
            rows_html.append(
                f'<tr class="case" data-service="{_text(service)}" data-levels="{_text(" ".join(row.levels))}" '
                f'data-case="{_text(row.id)}"><td class="id">{_text(row.id)}</td><td>{_text(row.level)}</td>'
                f'<td class="requirement" title="{_text(row.requirement)}"><div>{_text(row.requirement)}</div></td>'
                + "".join(cells)
                + "</tr>"
            )
    heading = "".join(f"<th>{_text(implementation.name)}</th>" for implementation in columns)
    conflicts = report.catalogue_conflicts()
    warning = (
        f'<p class="warning">Runs of {_text(", ".join(conflicts))} used different case catalogues (see the '
        "suite column): a case may have been added, reworded or had its level changed between them.</p>"
        if conflicts
        else ""
    )
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_text(title)}</title><style>{STYLE}</style></head><body>",
            f"<h1>{_text(title)}</h1>",
            f'<p class="meta">{len(report.rows)} cases × {len(columns)} implementations, from '
            f"{len(report.sources)} results files. Click a cell for its expected and actual.</p>",
            warning,
            *_implementations_table(report),
            *_filters(report),
            '<div id="layout"><div id="matrix-wrap"><table id="matrix"><thead><tr><th>case</th><th>level</th>'
            f"<th>requirement</th>{heading}</tr></thead><tbody>",
            *rows_html,
            "</tbody></table></div>",
            '<aside id="detail" aria-live="polite"><p>Click a cell to see what was expected and what was observed.</p></aside>',
            "</div>",
            '<div id="cell-details" hidden>',
            *details,
            "</div>",
            f"<script>var FIXED_COLUMNS = {FIXED_COLUMNS};{SCRIPT}</script>",
            "</body></html>",
            "",
        ]
    )
