"""``wirecheck report FILE.json... [--html OUT] [--markdown OUT] [--junit OUT]``: the command line.

Any number of results files, from any runs, machines and dates, are merged
(:func:`harness.report.model.merge`) and written in each format asked for; with no output
option the Markdown goes to stdout. A file that is missing, unreadable or not a results file
ends the command with one line on stderr (exit status 2), never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from harness.report.html import html_page
from harness.report.junit import junit_xml
from harness.report.markdown import markdown_report
from harness.report.model import ReportInputError, merge
from harness.usage import UsageError

DESCRIPTION = """\
Merge results files (pytest suites/ --results FILE.json) into one report: a matrix of cases x
implementations with each cell's verdict, expected and actual. An implementation is a file's
--label (or its target's name when it has none); a file with several targets of one service
(every reference runner, every host of a network) gives a column per target. Files with the
same label and different cases fill one column, so runs accumulate. With no output option the
Markdown is written to stdout.
"""


def add_report_command(commands: Any) -> None:
    """Add ``report`` to the ``wirecheck`` subcommands."""
    parser = commands.add_parser(
        "report",
        help="merge results files into one HTML, Markdown or JUnit XML report",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("results", nargs="+", type=Path, metavar="FILE.json", help="results files, any number")
    parser.add_argument(
        "--html", type=Path, metavar="OUT.html", help="one self-contained page (opens offline): filters, click a cell for its evidence"
    )
    parser.add_argument("--markdown", type=Path, metavar="OUT.md", help="a table per service and every verdict other than OK")
    parser.add_argument(
        "--junit", type=Path, metavar="OUT.xml", help="JUnit XML: FAILED is a failure, ERROR an error, NON-STRICT and INFORMATIONAL pass"
    )
    parser.add_argument("--title", default="wirecheck report", help="the report's title (default: %(default)s)")
    parser.set_defaults(handler=report_command)


def report_command(args: argparse.Namespace) -> int:
    try:
        report = merge(args.results)
    except ReportInputError as exc:
        raise UsageError(str(exc)) from None
    outputs = [
        (args.html, lambda: html_page(report, title=args.title)),
        (args.markdown, lambda: markdown_report(report, title=args.title)),
        (args.junit, lambda: junit_xml(report)),
    ]
    if not any(path for path, _ in outputs):
        sys.stdout.write(markdown_report(report, title=args.title) + "\n")
        return 0
    for path, render in outputs:
        if path is None:
            continue
        try:
            path.write_text(render(), encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
        print(f"wirecheck: report written to {path}", file=sys.stderr)
    return 0
