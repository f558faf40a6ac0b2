"""The suites judge real, third-party servers: xinetd's internal services, socat, ncat, and
the WSGI servers hosting the REST interface and the PEP 3333 probe.

The suites promise to judge "any implementation, ours or a third party's, at HOST:PORT"
(DESIGN.md). This runs each recipe's service suite against it — for each entry of
``fixtures.thirdparty.THIRD_PARTY_SERVERS``: xinetd's echo (TCP and UDP), daytime and time
(TCP and UDP), socat's TCP and UDP echo, ncat's TCP echo; echo over TLS from stunnel4, socat's
``OPENSSL-LISTEN`` and ``ncat --ssl``; gunicorn (sync and gthread
workers), waitress and uWSGI hosting ``harness.apps.rest:application`` (suite rest-http) and
``harness.apps.wsgi_probe:application`` (suite wsgi) — through
``--target`` and asserts that the verdicts are real: every case of that service is in the
results with a verdict that judges the server (OK, NON-STRICT, INFORMATIONAL or FAILED) and
none is ERROR, which would mean the harness, not the server, broke; and the service's most
basic case (a small echo, the time or daytime to a first request, a greeting) is OK, so the
recipe really reached the program.

For the WSGI servers, and for the chapter's own wsgiref server (a wirecheck runner judged only
when named, ``--runner wsgiref``), every verdict is asserted too: exactly the cases of
:data:`VERDICTS_OTHER_THAN_OK` are not OK, with those verdicts, as measured (the README's
"Findings: WSGI servers hosting the REST interface" and "Findings: WSGI servers judged against
PEP 3333" say why each one is so), and what the INFO cases of :data:`OBSERVATIONS` recorded
(such as which of two colliding header names a server keeps) is asserted as measured. A server
upgrade or a suite change that moves a verdict fails here, and the README is then updated with
it. For the other services what each server gets beyond the basics is a finding,
not a pass/fail criterion (some of those verdicts depend on timing): it is printed here, and
``python -m fixtures.thirdparty.findings`` writes it as tables for the README.

A missing program is a failure, not a skip: the recipe exits 2 with what to install, the
launch raises LaunchError, and the test fails with that message (CI installs the packages).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.suite_run import EXIT_ALL_MUST_CASES_PASSED, EXIT_SOME_CASE_FAILED, SuiteRun, run_suite_on_runner
from fixtures.thirdparty import JUDGED_RUNNERS, THIRD_PARTY_SERVERS, ThirdPartyServer, run_third_party_suite
from harness.checks.pace import SLOW_ACTUAL_PREFIX
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
    "wsgi": frozenset(
        [f"wsgi/environ/{number}" for number in range(1, 17)]
        + [f"wsgi/input/{number}" for number in range(1, 10)]
        + ["wsgi/errors/1", "wsgi/close/1", "wsgi/close/2"]
        + [f"wsgi/response/{number}" for number in range(1, 8)]
    ),
    "rest-http": frozenset(
        [f"rest-http/spec/{number}" for number in range(1, 9)]
        + [f"rest-http/9110/{number}" for number in range(1, 6)]
        + [f"rest-http/9112/{number}" for number in range(1, 8)]
    ),
    # --large's cases are deselected without the option, so not expected here.
    "array-tcp": frozenset(
        [f"array-tcp/frame/{number}" for number in range(1, 7)]
        + [f"array-tcp/stream/{number}" for number in range(1, 4)]
        + ["array-tcp/header/1"]
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
    "rest-http": "rest-http/spec/1",  # GET /hello?name=Ada greeted
    "wsgi": "wsgi/environ/1",  # the probe's environ report came back, every required key in it
    "array-tcp": "array-tcp/frame/1",  # one 512 kB frame returned: any echo server is an array server
}

FAILED = Verdict.FAILED.value
NON_STRICT = Verdict.NON_STRICT.value
INFORMATIONAL = Verdict.INFORMATIONAL.value

# The verdicts other than OK, by service and server, as measured (gunicorn 27.0.1, waitress
# 3.0.2, Debian's uWSGI 2.0.21, Python 3.11's wsgiref); every other case is OK. Why each is so:
# the README's "Findings: WSGI servers hosting the REST interface" and "Findings: WSGI servers
# judged against PEP 3333" (fixtures/thirdparty/findings.py's EXPLANATIONS).
REST_HTTP_VERDICTS_OTHER_THAN_OK: dict[str, dict[str, str]] = {
    "gunicorn_sync": {
        "rest-http/9112/7": NON_STRICT,  # the sync worker closes after every response
    },
    "gunicorn_gthread": {},
    "waitress": {
        "rest-http/9110/3": FAILED,  # sends the application's HEAD body
    },
    "uwsgi": {
        "rest-http/9110/3": FAILED,  # sends the application's HEAD body
        "rest-http/9110/4": FAILED,  # no 100 Continue: waits for the content
        "rest-http/9110/5": NON_STRICT,  # a 256 KiB header block reset, not 431
        "rest-http/9112/1": FAILED,  # closes after an HTTP/1.1 response that did not say close
        "rest-http/9112/2": FAILED,  # the same, under three pipelined requests
        "rest-http/9112/3": FAILED,  # wsgi.input of a chunked request is empty
        "rest-http/9112/6": NON_STRICT,  # runs the application: "HTTP/1.1 EXTRA WORDS 200 OK"
        "rest-http/9112/7": NON_STRICT,  # no keep-alive
    },
    "wsgiref": {
        "rest-http/9110/3": FAILED,  # sends the application's HEAD body
        "rest-http/9110/4": FAILED,  # no 100 Continue: waits for the content
        "rest-http/9112/3": FAILED,  # wsgi.input of a chunked request is empty
        "rest-http/9112/6": NON_STRICT,  # answers HTTP/0.9-style, no status line
        "rest-http/9112/7": NON_STRICT,  # HTTP/1.0 responses, one per connection
        "rest-http/spec/8": INFORMATIONAL,  # one client at a time: observed, not judged
    },
}

# The wsgi suite's INFO cases, recorded on every server (their observations: OBSERVATIONS).
WSGI_INFORMATIONAL = {case_id: INFORMATIONAL for case_id in ("wsgi/environ/6", "wsgi/environ/14", "wsgi/input/9")}

WSGI_VERDICTS_OTHER_THAN_OK: dict[str, dict[str, str]] = {
    "gunicorn_sync_probe": {
        **WSGI_INFORMATIONAL,
        "wsgi/response/7": NON_STRICT,  # start_response takes Keep-Alive without an error (and drops it)
    },
    "gunicorn_gthread_probe": {
        **WSGI_INFORMATIONAL,
        "wsgi/response/7": NON_STRICT,  # the same
    },
    "waitress_probe": {
        **WSGI_INFORMATIONAL,
        "wsgi/response/4": FAILED,  # sends the probe's HEAD body
    },
    "uwsgi_probe": {
        **WSGI_INFORMATIONAL,
        "wsgi/input/7": NON_STRICT,  # readline(2) ignores its size ("TODO take hint into account")
        "wsgi/input/8": FAILED,  # wsgi.input of a chunked request is empty
        "wsgi/response/4": FAILED,  # sends the probe's HEAD body
        "wsgi/response/5": FAILED,  # adds no Date header
        "wsgi/response/7": NON_STRICT,  # start_response takes Keep-Alive without an error and sends it
    },
    "wsgiref": {
        **WSGI_INFORMATIONAL,
        "wsgi/environ/16": INFORMATIONAL,  # one client at a time: observed, not judged
        "wsgi/input/5": NON_STRICT,  # no end-of-file at CONTENT_LENGTH: read(100) waits for more
        "wsgi/input/6": NON_STRICT,  # the same for read() without a size
        "wsgi/input/8": FAILED,  # a chunked body is not decoded: read(100) waits for more
        "wsgi/response/4": FAILED,  # sends the probe's HEAD body
    },
}

VERDICTS_OTHER_THAN_OK: dict[str, dict[str, dict[str, str]]] = {
    "rest-http": REST_HTTP_VERDICTS_OTHER_THAN_OK,
    "wsgi": WSGI_VERDICTS_OTHER_THAN_OK,
}

# What a case recorded, by service, server and case: a piece of its observation (the suite's
# ``actual``). The underscore question (X-Foo and X_Foo both map to HTTP_X_FOO), the concurrency
# flags with the concurrency seen, and what became of a hop-by-hop header, as measured.
OBSERVATIONS: dict[str, dict[str, dict[str, str]]] = {
    "wsgi": {
        "gunicorn_sync_probe": {
            "wsgi/environ/14": "the underscore field was dropped",
            "wsgi/environ/16": "wsgi.multithread=False, wsgi.multiprocess=True, wsgi.run_once=False: while the first",
            "wsgi/response/7": "the header was dropped",
        },
        "gunicorn_gthread_probe": {
            "wsgi/environ/14": "the underscore field was dropped",
            # Two workers: a second request may land in either, so only the flags are pinned.
            "wsgi/environ/16": "wsgi.multithread=True, wsgi.multiprocess=True, wsgi.run_once=False",
            "wsgi/response/7": "the header was dropped",
        },
        "waitress_probe": {
            "wsgi/environ/14": "the underscore field was dropped",
            "wsgi/environ/16": "wsgi.multithread=True, wsgi.multiprocess=False, wsgi.run_once=False: two requests",
            "wsgi/response/7": "start_response refused Keep-Alive: timeout=5: AssertionError",
        },
        "uwsgi_probe": {
            "wsgi/environ/14": "'dash, underscore': merged",
            "wsgi/environ/16": "wsgi.multithread=False, wsgi.multiprocess=True, wsgi.run_once=False: while the first",
            "wsgi/response/7": "the header was passed through",
        },
        "wsgiref": {
            "wsgi/environ/14": "'dash,underscore': merged",
            "wsgi/environ/16": "wsgi.multithread=False, wsgi.multiprocess=False, wsgi.run_once=False: one request at a time",
            "wsgi/response/7": "start_response refused Keep-Alive: timeout=5: AssertionError",
        },
    },
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
    # recipe's "apt-get install ..." (or "pip install ...") message.
    run = run_third_party_suite(third_party, tmp_path / "results.json")
    assert_real_verdicts(run, third_party.name, third_party.service, tls=third_party.tls)
    if third_party.service in VERDICTS_OTHER_THAN_OK:
        assert_verdicts_other_than_ok(run, third_party.name, third_party.service)


@pytest.mark.parametrize(("service", "runner"), JUDGED_RUNNERS, ids=lambda name: name)
def test_suite_gives_measured_verdicts_to_runner_judged_when_named(service: str, runner: str, tmp_path: Path) -> None:
    run = run_suite_on_runner(service, runner, tmp_path / "results.json")
    assert_real_verdicts(run, runner, service)
    assert_verdicts_other_than_ok(run, runner, service)


def assert_real_verdicts(run: SuiteRun, server: str, service: str, *, tls: bool = False) -> None:
    """Every case of ``service`` judged ``server`` (none ERROR, none missing); the basic case is OK."""
    print(f"{service} suite against {server}: exit {run.exit_status}, {run.wall_time_s:.1f} s")
    for case_id in sorted(run.cases):
        print(f"  {run.describe(case_id)[:200]}")

    assert run.exit_status in (EXIT_ALL_MUST_CASES_PASSED, EXIT_SOME_CASE_FAILED), run.output[-4000:]
    expected_case_ids = CASE_IDS_BY_SERVICE[service]
    if tls:
        expected_case_ids |= TLS_CASE_IDS_BY_SERVICE[service]
    missing = expected_case_ids - set(run.cases)
    assert not missing, f"{service} cases missing from the results of {server}: {sorted(missing)}"
    # A slow server's case that ran out of budget is ERROR "slow, not wrong": it judges the
    # server's pace (not the harness), and the measured verdicts below still pin it down.
    unjudged = [
        run.describe(case_id)
        for case_id in run.cases
        if run.verdict_of(case_id) not in JUDGING_VERDICTS
        and not run.cases[case_id]["actual"].startswith(SLOW_ACTUAL_PREFIX)
    ]
    assert not unjudged, f"cases that did not judge {server}:\n" + "\n".join(unjudged)
    basic_case_ids = [BASIC_CASE_ID_BY_SERVICE[service]]
    if tls:
        basic_case_ids += BASIC_TLS_CASE_IDS_BY_SERVICE[service]
    for basic_case_id in basic_case_ids:
        assert run.verdict_of(basic_case_id) == Verdict.OK.value, run.describe(basic_case_id)


def assert_verdicts_other_than_ok(run: SuiteRun, server: str, service: str) -> None:
    """Exactly the measured cases of ``server`` are not OK, each with its measured verdict; the
    INFO cases of :data:`OBSERVATIONS` recorded what was measured."""
    measured_verdicts = VERDICTS_OTHER_THAN_OK[service]
    assert server in measured_verdicts, f"no measured {service} verdicts recorded for {server}: measure, then add them"
    for case_id, observed in OBSERVATIONS.get(service, {}).get(server, {}).items():
        assert observed in run.cases[case_id]["actual"], f"{server}: expected {observed!r} in {run.describe(case_id)}"
    measured = {case_id: run.verdict_of(case_id) for case_id in run.cases if run.verdict_of(case_id) != Verdict.OK.value}
    expected = measured_verdicts[server]
    differences = [
        f"{case_id}: expected {expected.get(case_id, 'OK')}, got "
        + (run.describe(case_id) if case_id in measured else "OK")
        for case_id in sorted(set(measured) | set(expected))
        if measured.get(case_id) != expected.get(case_id)
    ]
    assert not differences, f"{server}'s verdicts moved:\n" + "\n".join(differences)
