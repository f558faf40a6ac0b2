"""``wirecheck report``: results files merged into columns of implementations, written as HTML,
Markdown and JUnit XML; a bad input file is one line of error, never a traceback.

The inputs are real results documents (:func:`harness.verdicts.results_document`, the writer
the pytest plugin uses), with records made here: what the report does with each verdict is
the point, not which server produced it. The browser test (tests/test_report_browser.py)
clicks through the page made from the committed results.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree
from html import escape
from pathlib import Path

import pytest

from harness.cli import main
from harness.report.html import html_page
from harness.report.junit import junit_xml
from harness.report.markdown import markdown_report
from harness.report.model import merge
from harness.verdicts import CaseRecord, describe_data, results_document

SERVICE = "svc"  # no real service: the report must not care which


def record(case: str, verdict: str, target: str, *, level: str = "MUST", actual: str = "as expected") -> CaseRecord:
    return CaseRecord(
        id=f"{SERVICE}/1/{case}",
        service=SERVICE,
        target=target,
        level=level,
        verdict=verdict,
        requirement=f'"requirement {case}"',
        expected=f"expectation {case}",
        actual=actual,
        duration_s=0.25,
    )


def write_results(
    path: Path,
    records: list[CaseRecord],
    label: str | None = None,
    version: str | None = None,
    suite: dict | None = None,
) -> Path:
    document = results_document(
        records,
        started="2026-01-01T00:00:00Z",
        finished="2026-01-01T00:01:00Z",
        strict=False,
        exit_status=1,
        provenance={
            "implementation": {"label": label, "version": version},
            "suite": suite or {"wirecheck_version": "0.1.0", "catalogue_sha256": "ab" * 32, "case_count": 3},
            "machine": {"hostname": "testhost"},
            "date": "2026-01-01T00:00:00Z",
        },
    )
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


HEXDUMP_ACTUAL = describe_data(b"hello\r\n", b"hellO\r\n")


@pytest.fixture
def three_files(tmp_path: Path) -> list[Path]:
    """A labelled file with two targets (two columns), a labelled one-target file, an unlabelled one."""
    return [
        write_results(
            tmp_path / "fleet.json",
            [
                record("1", "OK", "runner:a"),
                record("2", "FAILED", "runner:a", actual=HEXDUMP_ACTUAL),
                record("1", "OK", "runner:b"),
                record("2", "NON-STRICT", "runner:b", level="SHOULD", actual="orderly close (EOF after 0 of 7 bytes)"),
            ],
            label="ours",
            version="9.9",
        ),
        write_results(
            tmp_path / "theirs.json",
            [record("1", "ERROR", "127.0.0.1:7001", actual="harness error during setup: <script>alert(1)</script>")],
            label="theirs",
        ),
        write_results(tmp_path / "bare.json", [record("3", "INFORMATIONAL", "127.0.0.1:7002", level="INFO")]),
    ]


def test_columns_are_labels_label_and_target_or_target(three_files: list[Path]) -> None:
    report = merge(three_files)
    assert [implementation.name for implementation in report.implementations] == [
        "ours runner:a", "ours runner:b", "theirs", "127.0.0.1:7002"
    ]  # fmt: skip
    assert report.implementations[0].version == "9.9" and report.implementations[0].machines == ["testhost"]
    assert [row.id for row in report.rows] == [f"{SERVICE}/1/1", f"{SERVICE}/1/2", f"{SERVICE}/1/3"]
    assert report.rows[1].cells["ours runner:a"].actual == HEXDUMP_ACTUAL
    assert report.counts("ours runner:b") == {"OK": 1, "INFORMATIONAL": 0, "NON-STRICT": 1, "FAILED": 0, "ERROR": 0}


def test_runs_of_one_label_accumulate_and_a_second_verdict_is_never_dropped(tmp_path: Path) -> None:
    first = write_results(tmp_path / "part1.json", [record("1", "OK", "127.0.0.1:1")], label="server")
    second = write_results(tmp_path / "part2.json", [record("2", "FAILED", "127.0.0.1:2")], label="server")
    again = write_results(tmp_path / "again.json", [record("1", "FAILED", "127.0.0.1:3")], label="server")
    report = merge([first, second, again])
    assert [implementation.name for implementation in report.implementations] == ["server", "server (again.json)"]
    assert {row.id: sorted((name, cell.verdict) for name, cell in row.cells.items()) for row in report.rows} == {
        f"{SERVICE}/1/1": [("server", "OK"), ("server (again.json)", "FAILED")],
        f"{SERVICE}/1/2": [("server", "FAILED")],
    }
    assert report.implementations[0].sources == [str(first), str(second)]


def other_service_record(case: str, target: str) -> CaseRecord:
    return CaseRecord(**{**record(case, "OK", target).__dict__, "id": f"other/1/{case}", "service": "other"})


def test_catalogues_are_compared_service_by_service(tmp_path: Path) -> None:
    """A case added to one service leaves the other's merged runs unflagged; a service whose
    own cases differ between two runs is named; a file without per-service digests is judged
    by its whole catalogue."""

    def suite(whole: str, **by_service: str) -> dict:
        return {"catalogue_sha256": whole * 64, "service_catalogues": {k.replace("_", "-"): v * 64 for k, v in by_service.items()}}

    ours = write_results(tmp_path / "ours.json", [record("1", "OK", "a")], "ours", suite=suite("1", svc="a", other="b"))
    # Recorded after a case was added to `other` only: svc's digest unchanged, the whole one not.
    theirs = write_results(tmp_path / "theirs.json", [record("1", "OK", "b")], "theirs", suite=suite("2", svc="a", other="c"))
    later = write_results(tmp_path / "later.json", [other_service_record("1", "c")], "later", suite=suite("2", svc="a", other="c"))
    report = merge([ours, theirs, later])
    assert report.catalogue_conflicts() == []
    assert "different case catalogues" not in html_page(report) + markdown_report(report)

    changed = write_results(tmp_path / "changed.json", [record("1", "OK", "d")], "changed", suite=suite("3", svc="d"))
    report = merge([ours, theirs, changed])
    assert report.catalogue_conflicts() == ["svc"]
    assert "Runs of svc used different case catalogues" in html_page(report)
    assert "Runs of svc used different case catalogues" in markdown_report(report)

    old = write_results(tmp_path / "old.json", [record("1", "OK", "e")], "old", suite={"catalogue_sha256": "f" * 64})
    assert merge([ours, old]).catalogue_conflicts() == ["svc"]


def test_junit_fails_only_failed_and_errs_only_error(three_files: list[Path]) -> None:
    root = ElementTree.fromstring(junit_xml(merge(three_files)))
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("6", "1", "1")
    cases = {
        (suite.get("name"), case.get("name")): case for suite in root.iter("testsuite") for case in suite.iter("testcase")
    }
    assert len(cases) == 6
    failed = cases[("ours runner:a", f"{SERVICE}/1/2")]
    assert failed.find("failure") is not None and HEXDUMP_ACTUAL in failed.find("failure").text
    assert cases[("theirs", f"{SERVICE}/1/1")].find("error") is not None
    for lenient in (("ours runner:b", f"{SERVICE}/1/2"), ("127.0.0.1:7002", f"{SERVICE}/1/3")):
        assert cases[lenient].find("failure") is None and cases[lenient].find("error") is None
    properties = {p.get("name"): p.get("value") for p in cases[("ours runner:b", f"{SERVICE}/1/2")].iter("property")}
    assert properties == {"verdict": "NON-STRICT", "level": "SHOULD", "target": "runner:b"}


def test_html_page_is_self_contained_and_escapes_what_it_quotes(three_files: list[Path]) -> None:
    page = html_page(merge(three_files))
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    for external in ("http://", "https://", "<link", " src="):
        assert external not in page
    assert page.count('class="cell v-') == 6 and page.count('class="cell absent"') == 6
    assert 'data-verdict="FAILED"' in page
    # The hexdump excerpt is kept line for line in a <pre>.
    assert f'<pre class="actual">{escape(HEXDUMP_ACTUAL)}</pre>' in page


def test_markdown_tables_and_evidence(three_files: list[Path]) -> None:
    text = markdown_report(merge(three_files))
    assert f"| `{SERVICE}/1/2` | MUST | **FAILED** | NON-STRICT (SHOULD) | — | — |" in text
    assert f"- `{SERVICE}/1/2` on ours runner:a: **FAILED** (MUST)" in text
    for line in HEXDUMP_ACTUAL.splitlines()[1:]:
        assert f"    {line}" in text  # inside the code block


def test_command_writes_every_format(three_files: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outputs = {suffix: tmp_path / f"out.{suffix}" for suffix in ("html", "md", "xml")}
    status = main(
        ["report", *map(str, three_files), "--html", str(outputs["html"]), "--markdown", str(outputs["md"]),
         "--junit", str(outputs["xml"])]
    )  # fmt: skip
    assert status == 0
    assert outputs["html"].read_text().startswith("<!DOCTYPE html>")
    assert outputs["md"].read_text().startswith("# wirecheck report")
    ElementTree.fromstring(outputs["xml"].read_text().encode())
    assert main(["report", *map(str, three_files)]) == 0
    assert "# wirecheck report" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("{not json", "not valid JSON (line 1, column 2"),
        ('{"summary": {}}', 'not a wirecheck results file (no "cases" list)'),
        ('{"cases": [{"id": "x"}]}', "case 0 lacks service, target"),
    ],
    ids=["missing", "invalid-json", "no-cases", "incomplete-record"],
)
def test_a_bad_results_file_is_one_line_of_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str
) -> None:
    path = tmp_path / "input.json"
    if content is not None:
        path.write_text(content)
    assert main(["report", str(path)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and message in error and "Traceback" not in error
