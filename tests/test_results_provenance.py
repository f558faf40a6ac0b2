"""A results file says what was judged, by which suite, on what machine and when (--label).

The contract's keys stay as they were; the provenance blocks come beside them. Run end to
end through a pytest subprocess (the plugin as a user meets it) against a fake echo server.
"""

from __future__ import annotations

import json
import secrets
import socket
from dataclasses import replace
from pathlib import Path

import pytest

from fixtures.suite_run import run_suite
from harness.cases import CaseSpec
from harness.catalogue import load_cases
from harness.launch import launch_server
from harness.provenance import PROVENANCE_KEYS, catalogue_digest, service_catalogues
from harness.verdicts import INFO, MUST, SHOULD
from tests.test_verdicts import FakeServer, echo_but_never_close, run_pytest

CONTRACT_KEYS = {"cases", "summary", "started", "finished", "wirecheck_version", "strict", "exit_status", "targets"}


def test_results_file_names_implementation_suite_machine_and_date(tmp_path: Path) -> None:
    with FakeServer(echo_but_never_close) as server:
        results = tmp_path / "results.json"
        completed = run_pytest(
            tmp_path,
            f"--target=echo-tcp=127.0.0.1:{server.port}",
            f"--results={results}",
            "--label=fake echo",
            "--label-version=1.2.3",
            "-k",
            "small",
        )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    document = json.loads(results.read_text())
    assert set(document) == CONTRACT_KEYS | set(PROVENANCE_KEYS)
    assert document["implementation"] == {"label": "fake echo", "version": "1.2.3"}
    assert document["suite"]["wirecheck_version"] == document["wirecheck_version"]
    assert len(document["suite"]["catalogue_sha256"]) == 64 and document["suite"]["case_count"] > 0
    echo_cases = [spec for spec in load_cases() if spec.service == "echo-tcp"]
    assert document["suite"]["service_catalogues"]["echo-tcp"] == catalogue_digest(echo_cases)
    assert document["machine"]["hostname"] == socket.gethostname()
    assert document["machine"]["cpu_count"] >= 1 and document["machine"]["python"]
    assert document["date"] == document["started"]
    (record,) = document["cases"]
    assert record["target"] == f"127.0.0.1:{server.port}" and record["verdict"] == "OK"


def test_without_label_the_implementation_is_unnamed(tmp_path: Path) -> None:
    with FakeServer(echo_but_never_close) as server:
        results = tmp_path / "results.json"
        completed = run_pytest(tmp_path, f"--target=echo-tcp=127.0.0.1:{server.port}", f"--results={results}", "-k", "small")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert json.loads(results.read_text())["implementation"] == {"label": None, "version": None}


def test_a_label_of_several_lines_is_a_one_line_usage_error(tmp_path: Path) -> None:
    completed = run_pytest(tmp_path, "--target=echo-tcp=127.0.0.1:9", "--label=two\nlines", "-k", "small")
    assert completed.returncode == 4  # pytest's usage error
    assert "--label must be one non-empty line" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_catalogue_digest_changes_with_any_wording_or_level() -> None:
    spec = CaseSpec("echo-tcp/862/1", MUST, 'RFC 862: "sent back"', "echo")
    other = CaseSpec("echo-tcp/862/2", SHOULD, '"q"', "close")
    digest = catalogue_digest([spec, other])
    assert catalogue_digest([other, spec]) == digest  # order of declaration does not matter
    for changed in (
        replace(spec, requirement='RFC 862: "sent back."'),
        replace(spec, level=SHOULD),
        replace(spec, expected="an echo"),
        replace(spec, level_for_runner={"raw": INFO}),
    ):
        assert catalogue_digest([changed, other]) != digest
    assert catalogue_digest([spec]) != digest


@pytest.mark.slow  # a whole suite against a real server
def test_a_shared_secret_given_to_the_suite_never_reaches_the_results_file(tmp_path: Path) -> None:
    # A real authenticated service, judged with the key it was started with: every case runs
    # with the secret in hand, and the results file (what people publish) must not hold it.
    secret = "wirecheck-test-" + secrets.token_hex(16)
    server = launch_server("auth-echo-tcp", "threading", options={"authkey": secret}, secret_options=("authkey",))
    try:
        run = run_suite(
            "auth-echo-tcp",
            server.address,
            tmp_path / "results.json",
            extra_arguments=["--authkey", secret, "--label", "auth", "--label-version", "1"],
        )
    finally:
        server.stop()
    assert run.exit_status == 0, run.output[-3000:]
    assert run.cases and all(record["verdict"] != "ERROR" for record in run.cases.values())
    assert secret not in (tmp_path / "results.json").read_text()
    assert secret not in run.output


REPO_ROOT = Path(__file__).resolve().parent.parent


def _committed_results() -> list[Path]:
    return sorted((REPO_ROOT / "results").glob("**/*.json"))


def test_committed_results_were_recorded_against_todays_cases_of_each_service_they_judge() -> None:
    """The README's tables, the findings ledger and the report's screenshot are generated from
    the committed results: a case added, reworded or re-levelled without re-recording would
    leave them describing a catalogue that no longer exists (the report would warn)."""
    current = service_catalogues(load_cases())
    stale = []
    checked = 0
    for path in _committed_results():
        document = json.loads(path.read_text())
        if "cases" not in document:  # not a results file (the interpreter matrix)
            continue
        recorded = document["suite"]["service_catalogues"]
        for service in sorted({record["service"] for record in document["cases"]}):
            checked += 1
            if recorded.get(service) != current.get(service):
                stale.append(f"{path.relative_to(REPO_ROOT)}: {service}")
    assert checked > 0
    assert not stale, "re-record these results (their service's cases changed): " + "; ".join(stale)
