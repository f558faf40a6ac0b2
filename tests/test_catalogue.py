"""The case catalogue: every case has a requirement and a well-formed ID, and docs/cases.md is current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from harness.cases import validate_case_id
from harness.catalogue import cases_by_file, id_problems, load_cases, markdown
from harness.suite_files import suites_directory
from harness.verdicts import Level

REPO = Path(__file__).resolve().parent.parent


def test_every_case_has_a_quoted_requirement_and_a_valid_id() -> None:
    cases = load_cases()
    assert len(cases) > 100
    for case in cases:
        validate_case_id(case.case_id)  # <known service>/<section>/<n>
        assert case.requirement.strip(), f"{case.case_id} has no requirement"
        if case.level is not Level.INFO:  # a judged case quotes the text that binds it
            assert '"' in case.requirement, f"{case.case_id}'s requirement quotes nothing: {case.requirement!r}"
        assert case.expected.strip(), f"{case.case_id} does not say what passing looks like"


def test_every_case_id_matches_its_suite_and_section() -> None:
    assert id_problems(cases_by_file(suites_directory())) == []


def test_an_id_that_does_not_match_its_suite_or_section_is_named(tmp_path: Path) -> None:
    echo_suite = tmp_path / "echo_tcp"
    echo_suite.mkdir()
    (echo_suite / "test_echo_tcp_862.py").write_text(
        "from harness.cases import case\n"
        "from harness.verdicts import MUST\n"
        "@case('echo-tcp/862/1', level=MUST, requirement='RFC 862: \"send it back\"', expected='echoed')\n"
        "def test_fine(endpoint): pass\n"
        "@case('echo-tcp/862/2', level=MUST, requirement='RFC 867: \"a daytime\"', expected='x')\n"
        "def test_wrong_rfc(endpoint): pass\n"
        "@case('time-tcp/868/1', level=MUST, requirement='RFC 868: \"a time\"', expected='x')\n"
        "def test_copied_from_another_suite(endpoint): pass\n",
        encoding="utf-8",
    )
    (echo_suite / "test_echo_tcp_more.py").write_text(
        "from harness.cases import case\n"
        "from harness.verdicts import MUST\n"
        "@case('echo-tcp/862/3', level=MUST, requirement='SPEC.md §862: \"MUST echo\"', expected='x')\n"
        "def test_same_section_elsewhere(endpoint): pass\n",
        encoding="utf-8",
    )
    problems = id_problems(cases_by_file(tmp_path))
    assert problems == [
        "echo-tcp/862/2: section 862 but its requirement quotes no RFC 862",
        "time-tcp/868/1: declared in echo_tcp/, the suite of echo-tcp",
        "echo-tcp/862/*: one section declared in several modules (test_echo_tcp_862.py, test_echo_tcp_more.py)",
    ], problems


def test_case_numbers_within_a_section_have_no_duplicates() -> None:
    ids = [case.case_id for case in load_cases()]
    assert len(ids) == len(set(ids))


def test_docs_cases_md_is_generated_from_the_suites() -> None:
    committed = (REPO / "docs" / "cases.md").read_text(encoding="utf-8")
    assert committed == markdown(load_cases()), "docs/cases.md is stale: run `wirecheck cases --markdown > docs/cases.md`"


def test_wirecheck_cases_lists_every_case_one_per_line() -> None:
    result = subprocess.run([sys.executable, "-m", "harness", "cases"], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert result.returncode == 0, result.stderr
    listed = [line.split()[0] for line in result.stdout.splitlines()]
    assert listed == [case.case_id for case in load_cases()]
