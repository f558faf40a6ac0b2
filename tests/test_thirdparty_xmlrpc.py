"""The xmlrpc-validator1 suite judges real XML-RPC servers, and their verdicts are the measured ones.

Four third-party servers (fixtures.thirdparty.XMLRPC_SERVERS): twisted.web.xmlrpc, PHP's
xmlrpc extension under ``php -S``, the ``xmlrpc`` package from npm on Node.js, and the validatee
example xmlrpc-c ships. Each is judged twice, each time on a fresh server: the hostile cases
(entity bomb, external entity, 100 MiB body, 100,000-deep nesting) apart from all the others,
because two of these servers die on a hostile request, and every case after it would
otherwise read "unreachable" instead of saying what the server does with it.

The assertion is case by case: every case's verdict is the one measured and explained in the
README's "Findings: XML-RPC servers" (:data:`MEASURED_VERDICTS`), so a change in a server, in a
checker or in the harness shows up here as a named case. Where a verdict depends on timing
on a loaded machine the entry lists both verdicts seen, and says why. No case may be ERROR
(that would blame the harness). A missing program or package is a failure (the recipe exits
2 with what to install: .ci/run installs them), never a skip.

Runs in parallel under pytest-xdist: every run launches its own server on its own port.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.suite_run import EXIT_ALL_MUST_CASES_PASSED, EXIT_SOME_CASE_FAILED, JUDGE_EVERY_CASE, run_suite_against_command
from fixtures.thirdparty import XMLRPC_SERVERS, XMLRPC_SUITE_PARTS, ThirdPartyServer
from harness.verdicts import Verdict

pytestmark = pytest.mark.slow

SERVICE = "xmlrpc-validator1"

# The hostile cases apart from the others, each part on a fresh server.
PARTS = XMLRPC_SUITE_PARTS

OK, FAILED, INFO = Verdict.OK.value, Verdict.FAILED.value, Verdict.INFORMATIONAL.value

# Timing-dependent on a loaded machine: a server that reads a 100 MiB body (or parses a
# 1 MiB string) slowly may not answer within the suite's 5 s stall limit.
OK_OR_TIMEOUT = frozenset({OK, FAILED})


def _verdicts(failed: str = "", timing: str = "", info: str = "protocol/6 protocol/7 protocol/10 types/10") -> dict[str, str | frozenset[str]]:
    """Every case of the suite: OK unless named FAILED, timing-dependent or INFO."""
    cases = (
        [f"validator1/{number}" for number in range(1, 9)]
        + [f"types/{number}" for number in range(1, 11)]
        + [f"protocol/{number}" for number in range(1, 11)]
        + [f"hostile/{number}" for number in range(1, 5)]
    )
    verdicts: dict[str, str | frozenset[str]] = {case: OK for case in cases}
    verdicts.update({case: FAILED for case in failed.split()})
    verdicts.update({case: OK_OR_TIMEOUT for case in timing.split()})
    verdicts.update({case: INFO for case in info.split()})
    return verdicts


# As measured (README, "Findings: XML-RPC servers", says what each server does and why).
MEASURED_VERDICTS: dict[str, dict[str, str | frozenset[str]]] = {
    # No system.multicall in Twisted.
    "twisted_xmlrpc": _verdicts(failed="protocol/8"),
    "php_xmlrpc": _verdicts(
        failed="protocol/2 protocol/3 protocol/8 types/2 types/4 types/5 types/8 validator1/4 validator1/5 "
        "validator1/6 hostile/4",
        timing="hostile/3",
    ),
    "node_xmlrpc": _verdicts(
        failed="protocol/1 protocol/2 protocol/3 protocol/4 protocol/5 protocol/8 types/5 validator1/4 validator1/5 "
        "hostile/1 hostile/4",
        timing="protocol/9 hostile/3",  # the 100 MiB body: answered in time on a quiet machine
    ),
    "xmlrpc_c_validatee": _verdicts(
        failed="protocol/9 types/4 types/5 validator1/2 validator1/4 validator1/5 validator1/6 hostile/1",
    ),
}


def _part_of(case_suffix: str) -> str:
    return "hostile" if case_suffix.startswith("hostile/") else "others"


@pytest.mark.parametrize("part", sorted(PARTS))
@pytest.mark.parametrize("third_party", XMLRPC_SERVERS, ids=lambda third_party: third_party.name)
def test_xmlrpc_server_verdicts_are_as_measured(third_party: ThirdPartyServer, part: str, tmp_path: Path) -> None:
    run = run_suite_against_command(
        third_party.command(), SERVICE, tmp_path / "results.json", extra_arguments=[*PARTS[part], *JUDGE_EVERY_CASE]
    )
    print(f"{SERVICE} suite ({part}) against {third_party.name}: exit {run.exit_status}, {run.wall_time_s:.1f} s")
    for case_id in sorted(run.cases):
        print(f"  {run.describe(case_id)[:300]}")
    assert run.exit_status in (EXIT_ALL_MUST_CASES_PASSED, EXIT_SOME_CASE_FAILED), run.output[-4000:]

    measured = {case: verdict for case, verdict in MEASURED_VERDICTS[third_party.name].items() if _part_of(case) == part}
    got = {case_id.removeprefix(f"{SERVICE}/"): record["verdict"] for case_id, record in run.cases.items()}
    assert set(got) == set(measured), (
        f"cases run {sorted(set(got) - set(measured))} not measured; measured {sorted(set(measured) - set(got))} not run"
    )
    differences = [
        run.describe(f"{SERVICE}/{case}")[:400]
        for case, verdict in sorted(got.items())
        if verdict not in (measured[case] if isinstance(measured[case], frozenset) else {measured[case]})
    ]
    assert not differences, (
        f"{third_party.name}: verdicts that differ from the measured ones (README, Findings: XML-RPC servers):\n"
        + "\n".join(differences)
    )
