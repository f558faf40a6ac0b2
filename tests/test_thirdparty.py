"""The suites judge real, third-party servers: xinetd's internal services, socat, ncat.

The suites promise to judge "any implementation, ours or a third party's, at HOST:PORT"
(DESIGN.md). This runs each recipe's service suite against it — for each entry of
``fixtures.thirdparty.THIRD_PARTY_SERVERS``: xinetd's echo (TCP and UDP), daytime and time
(TCP and UDP), socat's TCP and UDP echo, ncat's TCP echo, and echo over TLS from stunnel4,
socat's ``OPENSSL-LISTEN`` and ``ncat --ssl`` — through ``--target`` and asserts
that the verdicts are real: every case of that service is in the results with a verdict that
judges the server (OK, NON-STRICT, INFORMATIONAL or FAILED) and none is ERROR, which would
mean the harness, not the server, broke; and the service's most basic case (a small echo,
the time or daytime to a first request) is OK, so the recipe really reached the program.
What each server gets beyond that is a finding, not a pass/fail criterion: it is printed
here, and ``python -m fixtures.thirdparty.findings`` writes it as tables for the README.

A missing program is a failure, not a skip: the recipe exits 2 with what to install, the
launch raises LaunchError, and the test fails with that message (CI installs the packages).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.suite_run import EXIT_ALL_MUST_CASES_PASSED, EXIT_SOME_CASE_FAILED
from fixtures.thirdparty import THIRD_PARTY_SERVERS, ThirdPartyServer, run_third_party_suite
from harness.verdicts import Verdict

pytestmark = pytest.mark.slow

# Each service's case IDs (a contract: stable, never positional). A third party's results
# must hold at least these; a case added later is checked by the verdict loop below.
CASE_IDS_BY_SERVICE = {
    "echo-tcp": frozenset(
        [f"echo-tcp/862/{number}" for number in range(1, 11)]
        + ["echo-tcp/concurrency/1", "echo-tcp/concurrency/2"]
    ),
    "echo-udp": frozenset(
        [f"echo-udp/862/{number}" for number in range(1, 6)] + ["echo-udp/concurrency/1", "echo-udp/loss/1"]
    ),
    "daytime-tcp": frozenset([f"daytime-tcp/867/{number}" for number in range(1, 6)] + ["daytime-tcp/concurrency/1"]),
    "daytime-udp": frozenset([f"daytime-udp/867/{number}" for number in range(1, 6)] + ["daytime-udp/concurrency/1"]),
    "time-tcp": frozenset([f"time-tcp/868/{number}" for number in range(1, 4)] + ["time-tcp/concurrency/1"]),
    "time-udp": frozenset(
        [f"time-udp/868/{number}" for number in range(1, 6)] + ["time-udp/concurrency/1", "time-udp/loss/1"]
    ),
}

# The cases a TLS target adds to its service's: the TLS section (echo-tcp/tls/1..5).
TLS_CASE_IDS_BY_SERVICE = {"echo-tcp": frozenset(f"echo-tcp/tls/{number}" for number in range(1, 6))}

# A TLS target's most basic TLS case: the handshake completes (and its certificate verifies).
BASIC_TLS_CASE_IDS_BY_SERVICE = {"echo-tcp": ("echo-tcp/tls/1", "echo-tcp/tls/2")}

# Each service's most basic case: if it is not OK, the recipe did not reach the program.
BASIC_CASE_ID_BY_SERVICE = {
    "echo-tcp": "echo-tcp/862/1",  # a small payload echoed
    "echo-udp": "echo-udp/862/1",  # b"hello\r\n" echoed
    "daytime-tcp": "daytime-tcp/867/1",  # the daytime sent on connect
    "daytime-udp": "daytime-udp/867/1",  # a datagram answered with the daytime
    "time-tcp": "time-tcp/868/1",  # 4 bytes sent on connect
    "time-udp": "time-udp/868/1",  # a datagram answered with 4 bytes
}

# The verdicts that judge the target; ERROR judges the harness.
JUDGING_VERDICTS = frozenset(
    verdict.value for verdict in (Verdict.OK, Verdict.NON_STRICT, Verdict.INFORMATIONAL, Verdict.FAILED)
)


@pytest.mark.parametrize("third_party", THIRD_PARTY_SERVERS, ids=lambda third_party: third_party.name)
def test_suite_gives_real_verdicts_to_third_party_server(
    third_party: ThirdPartyServer, tmp_path: Path
) -> None:
    # A program that is not installed raises LaunchError here: the test fails, with the
    # recipe's "apt-get install ..." message.
    run = run_third_party_suite(third_party, tmp_path / "results.json")

    print(f"{third_party.service} suite against {third_party.name}: exit {run.exit_status}, {run.wall_time_s:.1f} s")
    for case_id in sorted(run.cases):
        print(f"  {run.describe(case_id)[:200]}")

    assert run.exit_status in (EXIT_ALL_MUST_CASES_PASSED, EXIT_SOME_CASE_FAILED), run.output[-4000:]
    expected_case_ids = CASE_IDS_BY_SERVICE[third_party.service]
    if third_party.tls:
        expected_case_ids |= TLS_CASE_IDS_BY_SERVICE[third_party.service]
    missing = expected_case_ids - set(run.cases)
    assert not missing, f"{third_party.service} cases missing from the results of {third_party.name}: {sorted(missing)}"
    unjudged = [
        run.describe(case_id) for case_id in run.cases if run.verdict_of(case_id) not in JUDGING_VERDICTS
    ]
    assert not unjudged, f"cases that did not judge {third_party.name}:\n" + "\n".join(unjudged)
    basic_case_ids = [BASIC_CASE_ID_BY_SERVICE[third_party.service]]
    if third_party.tls:
        basic_case_ids += BASIC_TLS_CASE_IDS_BY_SERVICE[third_party.service]
    for basic_case_id in basic_case_ids:
        assert run.verdict_of(basic_case_id) == Verdict.OK.value, run.describe(basic_case_id)
