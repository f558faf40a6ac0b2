"""The cross-interpreter matrix: one real pair (this interpreter with itself), the table, and
the committed results file the README's matrix is generated from.

The full N x N run (``wirecheck matrix``, every interpreter on the machine) is not run here;
its committed file is checked: a whole matrix, every cell with a verdict, the Markdown beside
it and the README's section made from it.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from fixtures.thirdparty.ledger import (
    MATRIX_MARKER,
    MATRIX_RESULTS,
    MATRIX_TABLE,
    README,
    matrix_section,
    third_party_report,
    updated_readme,
)
from harness.cli import build_parser
from harness.interop import (
    CELL_VERDICTS,
    Interpreter,
    MatrixCell,
    MatrixFileError,
    matrix_document,
    matrix_markdown,
    probe_interpreter,
    read_matrix,
    run_matrix,
)


def test_this_interpreter_talks_to_itself_bytes_and_objects() -> None:
    interpreter = probe_interpreter(sys.executable)
    assert interpreter is not None and interpreter.version == "%d.%d.%d" % sys.version_info[:3]
    (cell,) = run_matrix([interpreter])
    assert cell.raw and cell.objects, cell
    assert cell.client_protocol == cell.listener_protocol is not None


def test_a_missing_interpreter_is_not_probed_into_the_matrix() -> None:
    assert probe_interpreter("/nonexistent/python") is None


def test_markdown_has_a_row_per_listener_and_a_column_per_client() -> None:
    old, new = Interpreter("/old", "2.7.18", 2), Interpreter("/new", "3.13.0", 5)
    cells = [
        MatrixCell("2.7.18", "2.7.18", True, True, 2, 2, None),
        MatrixCell("2.7.18", "3.13.0", True, False, 4, None, "Listener: ValueError: unsupported pickle protocol: 4"),
        MatrixCell("3.13.0", "2.7.18", True, False, 2, 4, "Client: ValueError: unsupported pickle protocol: 4"),
        MatrixCell("3.13.0", "3.13.0", False, False, None, None, "Client: no answer within 30 s"),
    ]
    table = matrix_markdown([old, new], cells).splitlines()
    assert table[0] == "| Listener \\ Client | 2.7.18 | 3.13.0 |"
    assert table[2].startswith("| 2.7.18 | OK (pickle 2->2) | bytes only: Listener: ValueError")
    assert table[3].endswith("| FAILED: Client: no answer within 30 s |")


def test_the_matrix_command_is_registered() -> None:
    args = build_parser().parse_args(["matrix", "--interpreter", "/x/python", "--json", "m.json"])
    assert args.interpreter == ["/x/python"] and args.json == "m.json" and args.markdown == "interpreter-matrix.md"


# --- the committed matrix ---------------------------------------------------------------------


def test_committed_matrix_is_a_whole_n_by_n_matrix_with_a_verdict_in_every_cell() -> None:
    matrix = read_matrix(MATRIX_RESULTS)  # raises MatrixFileError if a pair is missing or twice
    versions = [interpreter.version for interpreter in matrix.interpreters]
    assert len(versions) >= 2, "a matrix of one interpreter says nothing across versions"
    assert sorted((cell.listener, cell.client) for cell in matrix.cells) == sorted(
        (listener, client) for listener in versions for client in versions
    )
    for cell in matrix.cells:
        assert cell.verdict in CELL_VERDICTS, cell
        if cell.verdict == "OK":
            assert cell.client_protocol is not None and cell.listener_protocol is not None, cell
        else:
            assert cell.error, f"{cell.listener} x {cell.client}: {cell.verdict} without the error met"
    assert sum(matrix.counts().values()) == len(versions) ** 2
    assert matrix.date and matrix.machine.get("hostname") and matrix.duration_s > 0
    assert MATRIX_TABLE.read_text(encoding="utf-8") == matrix.markdown(), (
        f"{MATRIX_TABLE.name} is not the table of {MATRIX_RESULTS.name}: both come from one wirecheck matrix run"
    )


def test_readme_matrix_section_is_generated_from_the_committed_file() -> None:
    matrix = read_matrix(MATRIX_RESULTS)
    match = MATRIX_MARKER.search(README.read_text(encoding="utf-8"))
    assert match, "README has no <!-- interpreter matrix --> section"
    section = match.group(0)[len(match.group(1)) : -len(match.group(2))]
    assert section == "\n".join(matrix_section(matrix)) + "\n", "run python -m fixtures.thirdparty.ledger"
    assert matrix.markdown() in section
    counts = matrix.counts()
    assert f"**{counts['OK']} OK**, **{counts['bytes only']} bytes only**" in section


def small_matrix(path: Path, cells: list[MatrixCell]) -> Path:
    interpreters = [Interpreter("/old", "2.7.18", 2), Interpreter("/new", "3.13.0", 5)]
    path.write_text(json.dumps(matrix_document(interpreters, cells, started=0.0, finished=12.0)))
    return path


WHOLE_SMALL_MATRIX = [
    MatrixCell("2.7.18", "2.7.18", True, True, 2, 2, None),
    MatrixCell("2.7.18", "3.13.0", True, False, 4, None, "Listener: ValueError: unsupported pickle protocol: 4"),
    MatrixCell("3.13.0", "2.7.18", True, False, 2, 4, "Client: ValueError: unsupported pickle protocol: 4"),
    MatrixCell("3.13.0", "3.13.0", True, True, 4, 4, None),
]


def test_a_matrix_file_reads_back_as_written(tmp_path: Path) -> None:
    matrix = read_matrix(small_matrix(tmp_path / "m.json", WHOLE_SMALL_MATRIX))
    assert list(matrix.cells) == WHOLE_SMALL_MATRIX
    assert matrix.counts() == {"OK": 2, "bytes only": 2, "FAILED": 0}
    assert (matrix.date, matrix.finished, matrix.duration_s) == ("1970-01-01T00:00:00Z", "1970-01-01T00:00:12Z", 12.0)


@pytest.mark.parametrize(
    "cells, complaint",
    [
        (WHOLE_SMALL_MATRIX[:3], r"missing \[\('3.13.0', '3.13.0'\)\]"),
        (WHOLE_SMALL_MATRIX + WHOLE_SMALL_MATRIX[:1], r"twice \[\('2.7.18', '2.7.18'\)\]"),
        (WHOLE_SMALL_MATRIX[:3] + [MatrixCell("3.13.0", "3.14.0", True, True, 4, 4, None)], r"unknown \[\('3.13.0', '3.14.0'\)\]"),
        (WHOLE_SMALL_MATRIX[:3] + [MatrixCell("3.13.0", "3.13.0", False, True, 4, 4, None)], "has no verdict"),
    ],
    ids=["a-pair-missing", "a-pair-twice", "an-unknown-interpreter", "objects-without-bytes"],
)
def test_a_matrix_file_that_is_not_whole_is_refused(tmp_path: Path, cells: list[MatrixCell], complaint: str) -> None:
    with pytest.raises(MatrixFileError, match=complaint):
        read_matrix(small_matrix(tmp_path / "m.json", cells))


def test_a_matrix_file_without_its_cells_is_refused(tmp_path: Path) -> None:
    path = small_matrix(tmp_path / "m.json", WHOLE_SMALL_MATRIX)
    document = json.loads(path.read_text())
    del document["cells"]
    path.write_text(json.dumps(document))
    with pytest.raises(MatrixFileError, match="not a matrix results file"):
        read_matrix(path)


def test_the_readme_section_follows_the_file_it_is_given(tmp_path: Path) -> None:
    matrix = read_matrix(small_matrix(tmp_path / "m.json", WHOLE_SMALL_MATRIX))
    text = updated_readme(README.read_text(encoding="utf-8"), third_party_report(), None, matrix)
    section = MATRIX_MARKER.search(text).group(0)
    assert matrix_markdown(matrix.interpreters, matrix.cells) in section
    assert "Of the 4 pairs: **2 OK**, **2 bytes only**, **0 FAILED**" in section
    assert re.search(r"2 interpreters, 4 pairs in 12 s", section)
    assert "3.6.15" not in section  # the committed matrix's table is gone, not kept beside it
