"""The mutant kill test: every deliberately broken server is caught by the case that names its defect.

DESIGN.md: "A case that cannot fail is a defect. Every MUST case is shown to fail on at least
one deliberately broken server in fixtures/ (the mutant zoo), and tests/ asserts the kill."

For each mutant in ``fixtures.mutants.MUTANTS`` the suite is run exactly as a user runs it
(``python -m pytest suites/ --target SERVICE=HOST:PORT --results FILE``, in a subprocess,
with ``--case-timeout 10`` and a 300 s bound on the run; see fixtures/suite_run.py), narrowed
with ``--case`` to the cases that name its defect (the whole suite for the hostile servers
below; the control runs judge every case of the service), and the
test asserts: exit status 1, every case the mutant is registered to fail is FAILED, nothing
is ERROR (a mutant is a bad *target*; an ERROR would mean the
harness broke on it), and once stopped the mutant has left no process behind. The silent,
resetting and slow-drip mutants also show that a hostile target makes the suite finish in
bounded time: the wall time is printed, and the only time assertion is the subprocess bound.
A kill is credited to the case that names the defect, so every other mutant's run gives the
hostility budget (``--hostile-budget``, which fails a target's remaining cases unrun once its
failed cases have taken 15 s) room to judge each named case in full
(``fixtures.suite_run.JUDGE_EVERY_CASE``); the hostile servers keep the default budget, whose bound
tests/test_hostile_targets.py asserts for every service.

Coverage: for every service with mutants (echo and line echo over TCP, echo, daytime and
time over UDP and TCP, the chapter's ctime server, the chapter's REST interface over HTTP/1.1,
WSGI, XML-RPC, the multiprocessing.connection echo, its RPC server and the HMAC echo, arrays)
the suite is also run against a reference server (the control: it must pass, so the kills are
the mutants' doing), and every MUST case ID in that run's results must be registered as
killed by some mutant — a new MUST case without a mutant fails here until one is added to
the zoo. The HTTP wire mutants share a hand-written server of their own
(fixtures/mutants/_http_mutant_server.py); it has a control too: without a defect it must
pass every rest-http case, SHOULDs included. So do the mpconn-echo and rpc-mpconn mutants'
shared Listener (fixtures/mutants/_mpconn_mutant.py), against its two suites.

TLS mutants (``Mutant.tls``) are given a throw-away authority of the test's own, issue their
certificate from it, and are judged as ``tls://`` targets with ``--tls-ca`` set to its CA; the
TLS control is the reference echo on ``threading`` served with ``--tls``, and every MUST case
of the TLS section (IDs ``<service>/tls/<n>``) must be killed by a TLS mutant. A mutant whose
defect breaks a SHOULD (``should_fall_short``) is judged with ``--strict``, so that its
NON-STRICT verdict makes the run fail as a MUST would.

Every test launches its own server on an ephemeral port and writes to its own tmp_path, so
the module runs in parallel under pytest-xdist (``-n 2``).
"""

from __future__ import annotations

import sys
import secrets
from pathlib import Path
from typing import Iterator

import pytest

from fixtures.mutants import MUTANT_ZOO_AUTHKEY, MUTANTS, MUTANTS_DIRECTORY, Mutant
from fixtures.suite_run import (
    EXIT_ALL_MUST_CASES_PASSED,
    EXIT_SOME_CASE_FAILED,
    JUDGE_EVERY_CASE,
    run_suite_against_command,
    suite_budgets,
)
from harness.launch import serve_command
from harness.services import get_service, per_run_secret_options
from harness.tls_setup import ThrowawayAuthority
from harness.verdicts import Level, Verdict

pytestmark = pytest.mark.slow

# The reference runners of the control runs, by transport. TCP: a thread per client, so that
# the concurrency cases are judged (SHOULD), not merely observed. UDP: the selectors event
# loop, the datagram runner with neither threads nor forks to hide a slow reply.
CONTROL_RUNNERS = {"tcp": "threading", "udp": "selectors"}

MUTATED_SERVICES = sorted({mutant.service for mutant in MUTANTS if not mutant.tls})
TLS_MUTATED_SERVICES = sorted({mutant.service for mutant in MUTANTS if mutant.tls})

# The section of a service's suite that judges TLS itself (``echo-tcp/tls/1``...).
TLS_SECTION = "tls"


@pytest.fixture
def authority() -> Iterator[ThrowawayAuthority]:
    """A CA of this test's own, for TLS mutants and the TLS control (removed afterwards)."""
    made = ThrowawayAuthority()
    yield made
    made.remove()


def suite_arguments(authority: ThrowawayAuthority, *, strict: bool = False) -> list[str]:
    return ["--tls-ca", str(authority.ca_path)] + (["--strict"] if strict else [])

@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda mutant: mutant.name)
def test_suite_kills_mutant(mutant: Mutant, tmp_path: Path, authority: ThrowawayAuthority) -> None:
    strict = bool(mutant.should_fall_short)  # a SHOULD fallen short counts only under --strict
    extra = suite_arguments(authority, strict=strict) if mutant.tls else (["--strict"] if strict else [])
    run = run_suite_against_command(
        mutant.command(authority),
        mutant.service,
        tmp_path / "results.json",
        extra_arguments=[
            *mutant.suite_arguments,
            *extra,
            *(() if mutant.whole_suite else JUDGE_EVERY_CASE),
            *(f"--case={case_id}" for case_id in mutant.named_cases),
        ],
        **suite_budgets(mutant.service),
    )
    print(f"suite against {mutant.name}: exit status {run.exit_status}, {run.wall_time_s:.1f} s")

    assert run.exit_status == EXIT_SOME_CASE_FAILED, (
        f"the suite passed {mutant.name} (exit status {run.exit_status}): its defect went unnoticed\n"
        + run.output[-4000:]
    )
    for case_id in mutant.must_fail:
        assert run.verdict_of(case_id) == Verdict.FAILED.value, (
            f"{mutant.name} must be FAILED by {case_id}; got {run.describe(case_id)}"
        )
        assert run.judged(case_id), f"{mutant.name}'s kill by {case_id} must be judged, not a case failed unrun: {run.describe(case_id)}"
    for case_id in mutant.should_fall_short:
        assert run.verdict_of(case_id) == Verdict.NON_STRICT.value, (
            f"{mutant.name} must fall short of {case_id} (NON-STRICT); got {run.describe(case_id)}"
        )
    errors = [run.describe(case_id) for case_id in run.cases if run.verdict_of(case_id) == Verdict.ERROR.value]
    assert not errors, f"the harness broke on {mutant.name} (never the target's fault):\n" + "\n".join(errors)


@pytest.mark.parametrize("service", MUTATED_SERVICES)
def test_every_must_case_is_killed_by_some_mutant(service: str, tmp_path: Path) -> None:
    control_runner = CONTROL_RUNNERS[get_service(service).transport]
    # A shared secret (an authenticated service's key): a fresh value for server and suite alike.
    secrets_given = {option.name: secrets.token_hex(16) for option in per_run_secret_options(get_service(service))}
    control_command = serve_command(service, control_runner, options=secrets_given)
    key_arguments = [argument for name, value in secrets_given.items() for argument in (f"--{name}", value)]
    control = run_suite_against_command(
        control_command, service, tmp_path / "results.json", extra_arguments=key_arguments, **suite_budgets(service)
    )
    print(f"suite against {service} on runner {control_runner}: {control.wall_time_s:.1f} s")
    assert control.exit_status == EXIT_ALL_MUST_CASES_PASSED, (
        f"the control run against the reference {service} server failed, so kills prove nothing\n"
        + control.output[-4000:]
    )

    must_cases = {case_id for case_id, record in control.cases.items() if record["level"] == Level.MUST.value}
    killed = {
        case_id for mutant in MUTANTS if mutant.service == service and not mutant.tls for case_id in mutant.must_fail
    }
    assert must_cases, f"the {service} suite reported no MUST case at all"
    assert not must_cases - killed, (
        f"MUST cases of {service} that no mutant in fixtures/mutants is registered to fail "
        f"(a case never shown to fail may be unable to): {sorted(must_cases - killed)}"
    )
    assert not killed - must_cases, (
        f"mutants are registered against case IDs the {service} suite has no MUST case for "
        f"(renamed? demoted?): {sorted(killed - must_cases)}"
    )


def test_http_mutants_server_without_a_defect_passes_every_case(tmp_path: Path) -> None:
    """The wire mutants' shared server, run as it is, passes every rest-http case, SHOULDs
    included: whatever a wire mutant fails is its one override's doing."""
    base_command = [sys.executable, str(MUTANTS_DIRECTORY / "_http_mutant_server.py")]
    run = run_suite_against_command(base_command, "rest-http", tmp_path / "results.json")
    print(f"suite against the HTTP mutants' server without a defect: {run.wall_time_s:.1f} s")
    not_ok = [run.describe(case_id) for case_id in run.cases if run.verdict_of(case_id) != Verdict.OK.value]
    assert run.exit_status == EXIT_ALL_MUST_CASES_PASSED and not not_ok, (
        f"the HTTP mutants' server fails on its own (exit status {run.exit_status}):\n" + "\n".join(not_ok)
    )


@pytest.mark.parametrize(("service", "listener"), [("mpconn-echo", "echo"), ("rpc-mpconn", "rpc")])
def test_mpconn_mutants_listener_without_a_defect_passes_every_case(service: str, listener: str, tmp_path: Path) -> None:
    """The mpconn and RPC mutants' shared Listener (fixtures/mutants/_mpconn_mutant.py), run as it
    is, passes every case of its service, SHOULDs included: what a mutant fails is its override's."""
    base_command = [sys.executable, str(MUTANTS_DIRECTORY / "_mpconn_mutant.py"), MUTANT_ZOO_AUTHKEY, listener]
    run = run_suite_against_command(
        base_command, service, tmp_path / "results.json", extra_arguments=["--authkey", MUTANT_ZOO_AUTHKEY]
    )
    print(f"suite against the mutants' {listener} Listener without a defect: {run.wall_time_s:.1f} s")
    not_ok = [run.describe(case_id) for case_id in run.cases if run.verdict_of(case_id) != Verdict.OK.value]
    assert run.exit_status == EXIT_ALL_MUST_CASES_PASSED and not not_ok, (
        f"the mutants' {listener} Listener fails on its own (exit status {run.exit_status}):\n" + "\n".join(not_ok)
    )


@pytest.mark.parametrize("service", TLS_MUTATED_SERVICES)
def test_every_tls_must_case_is_killed_by_some_tls_mutant(
    service: str, tmp_path: Path, authority: ThrowawayAuthority
) -> None:
    control_runner = CONTROL_RUNNERS["tcp"]
    control_command = serve_command(
        service, control_runner, tls_files=(str(authority.cert_path), str(authority.key_path))
    )
    control = run_suite_against_command(
        control_command, service, tmp_path / "results.json", extra_arguments=suite_arguments(authority, strict=True)
    )
    print(f"suite against {service} over TLS on runner {control_runner}: {control.wall_time_s:.1f} s")
    assert control.exit_status == EXIT_ALL_MUST_CASES_PASSED, (
        f"the control run against the reference {service} server over TLS failed (--strict), so kills "
        "prove nothing\n" + control.output[-4000:]
    )

    tls_cases = {case_id: record for case_id, record in control.cases.items() if case_id.split("/")[1] == TLS_SECTION}
    must_cases = {case_id for case_id, record in tls_cases.items() if record["level"] == Level.MUST.value}
    should_cases = {case_id for case_id, record in tls_cases.items() if record["level"] == Level.SHOULD.value}
    tls_mutants = [mutant for mutant in MUTANTS if mutant.service == service and mutant.tls]
    killed = {case_id for mutant in tls_mutants for case_id in mutant.must_fail}
    fallen_short = {case_id for mutant in tls_mutants for case_id in mutant.should_fall_short}
    assert must_cases, f"the {service} suite reported no MUST case in its {TLS_SECTION} section"
    assert not must_cases - killed, (
        f"TLS MUST cases of {service} that no TLS mutant is registered to fail: {sorted(must_cases - killed)}"
    )
    assert not killed - must_cases, f"TLS mutants registered against no TLS MUST case: {sorted(killed - must_cases)}"
    assert not fallen_short - should_cases, (
        f"TLS mutants registered to fall short of no TLS SHOULD case: {sorted(fallen_short - should_cases)}"
    )
