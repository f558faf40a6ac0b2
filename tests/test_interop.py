"""The cross-interpreter matrix: one real pair (this interpreter with itself), and the table."""

from __future__ import annotations

import sys

from harness.cli import build_parser
from harness.interop import Interpreter, MatrixCell, matrix_markdown, probe_interpreter, run_matrix


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
