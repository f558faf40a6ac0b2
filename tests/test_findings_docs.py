"""The README's findings tables and docs/findings.md are what the committed results files say.

Both are generated (``python -m fixtures.thirdparty.ledger``) from results/thirdparty/,
results/reference/ and results/matrix/ plus the annotations kept by hand; these tests regenerate them and compare,
so neither can drift from the files, and check that the committed files cover every server and
service the project judges. No network: the files are read, nothing is run (well under a second).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fixtures.thirdparty.ledger import (
    ARRAY_EXPLANATIONS,
    LISTENER_EXPLANATIONS,
    EXPLANATIONS,
    NOT_DEFECTS,
    REFERENCE_RESULTS,
    RISKS,
    SAME_CAUSE_AS,
    THIRD_PARTY_RESULTS,
    XMLRPC_EXPLANATIONS,
    ReadmeMarkerError,
    findings,
    generated_documents,
    judged_servers,
    ledger_markdown,
    reproduce_command,
    updated_readme,
)
from harness.report.model import merge
from harness.services import SERVICES
from harness.verdicts import CaseRecord, results_document

REPOSITORY = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", ["docs/findings.md", "README.md"])
def test_generated_document_is_current(name: str) -> None:
    path = REPOSITORY / name
    expected = generated_documents()[path]
    assert path.read_text(encoding="utf-8") == expected, (
        f"{name} is not what the committed results say: run python -m fixtures.thirdparty.ledger"
    )


def test_every_judged_server_has_a_labelled_committed_results_file() -> None:
    labels = {}
    for path in sorted(THIRD_PARTY_RESULTS.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        labels[document["implementation"]["label"]] = document["implementation"]["version"]
        assert document["cases"], f"{path} holds no case"
    for server in judged_servers():
        assert server.name in labels, f"no committed results for {server.name}: findings.py --record"
        assert labels[server.name], f"{server.name}'s results name no version"


def test_every_service_has_committed_reference_results() -> None:
    for service in SERVICES:
        path = REFERENCE_RESULTS / f"{service}.json"
        assert path.is_file(), f"no {path.relative_to(REPOSITORY)}"
        document = json.loads(path.read_text(encoding="utf-8"))
        assert {record["service"] for record in document["cases"]} == {service}
        assert len({record["target"] for record in document["cases"]}) > 1  # every reference runner


def test_annotations_name_only_judged_servers() -> None:
    # A server judged elsewhere (its results committed, its recipe on another branch) may be annotated.
    recorded = {json.loads(path.read_text())["implementation"]["label"] for path in THIRD_PARTY_RESULTS.glob("*.json")}
    names = {server.name for server in judged_servers()} | recorded
    for table in (EXPLANATIONS, XMLRPC_EXPLANATIONS, ARRAY_EXPLANATIONS, LISTENER_EXPLANATIONS, RISKS, SAME_CAUSE_AS, NOT_DEFECTS):
        strangers = sorted({server for server, _ in table} - names)
        assert not strangers, f"annotations for servers that are not judged: {strangers}"


def _results(path: Path, label: str, verdicts: dict[str, str]) -> Path:
    records = [
        CaseRecord(case, case.split("/")[0], "127.0.0.1:9", "MUST", verdict, "req", "exp", f"seen on {case}", 0.1)
        for case, verdict in verdicts.items()
    ]
    document = results_document(
        records, started="s", finished="f", strict=False, exit_status=1,
        provenance={"implementation": {"label": label, "version": "1.0"}},
    )  # fmt: skip
    path.write_text(json.dumps(document))
    return path


def test_ledger_groups_one_cause_and_sets_apart_what_is_no_defect(tmp_path: Path) -> None:
    report = merge(
        [
            _results(
                tmp_path / "udp.json",
                "socat_echo_udp",
                {"echo-udp/862/1": "OK", "echo-udp/862/2": "FAILED", "echo-udp/862/3": "FAILED", "echo-udp/loss/1": "INFORMATIONAL"},
            ),
            _results(tmp_path / "tls.json", "stunnel_echo", {"echo-tcp/862/9": "FAILED"}),
            _results(tmp_path / "other.json", "waitress", {"rest-http/9110/3": "FAILED", "rest-http/9110/4": "ERROR"}),
        ]
    )
    defects, not_defects = findings(report)
    assert [(f.server, f.row.id, [row.id for row in f.also]) for f in defects] == [
        ("socat_echo_udp", "echo-udp/862/2", ["echo-udp/862/3"]),
        ("waitress", "rest-http/9110/3", []),
    ]
    assert [(server, row.id) for server, row, _ in not_defects] == [("stunnel_echo", "echo-tcp/862/9")]
    text = ledger_markdown(report)
    assert "**2 findings** in 2 servers" in text
    assert reproduce_command("socat_echo_udp", "echo-udp/862/2") in text
    assert "seen on echo-udp/862/3" in text  # the grouped case's evidence is kept


def test_a_readme_without_a_groups_table_is_refused(tmp_path: Path) -> None:
    report = merge([_results(tmp_path / "one.json", "waitress", {"rest-http/9110/3": "FAILED"})])
    with pytest.raises(ReadmeMarkerError, match="groups without a table"):
        updated_readme("no markers here\n", report, None)
