"""Every stream suite passes over TLS on every reference runner (echo-tcp, time-tcp, rest-http,
wsgi, mpconn-echo, auth-echo-tcp; array-tcp and rpc-mpconn under pickle in runs of their own).

TLS is a protocol layer (harness/protocols/tls.py), so every runner serves TLS with no TLS code
of its own, and the checkers speak TLS through ``Endpoint.connect``; this test holds that
claim to account the way a user would: ``pytest suites/ --tls --service echo-tcp --service
time-tcp -n 2 --results FILE`` in a subprocess (fixtures/suite_run.py), every reference
runner launched with ``--tls`` and a certificate from the run's own throw-away authority.
It asserts: exit status 0, no case FAILED or ERROR, every runner's target named ``+tls``,
the TLS section (``echo-tcp/tls/*``) judged on every runner, and no datagram service selected.

echo-tcp exercises the most (large payloads, half-close, 200 connections, the TLS section),
time-tcp a server that speaks first and closes, rest-http a WSGI application through the HTTP
gateway, wsgi the PEP 3333 probe (whose ``wsgi.url_scheme`` must be ``https`` there: the one
case that reads the connection's scheme), mpconn-echo and auth-echo-tcp the authenticated
handshakes (mpconn-echo's 64 MiB messages through TLS on both ends); line-echo and daytime
add little over TLS. array-tcp
runs alone, on one runner per driver (its 1 GiB frames are most of its time, and a case
timeout of their own): the TLS layer decrypts straight into the relay's ring there. The wall time is printed; it is not
asserted (DESIGN.md: no wall-clock assertions).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.suite_run import EXIT_ALL_MUST_CASES_PASSED, run_pytest_suites
from harness.runners import RUNNERS, STREAM, runners_for
from harness.verdicts import Verdict

pytestmark = pytest.mark.slow

# rest-http and wsgi too: a WSGI application over TLS rides the HTTP gateway on every stream
# runner; mpconn-echo and auth-echo-tcp: their handshakes and frames through the TLS layer.
SERVICES = ("echo-tcp", "time-tcp", "rest-http", "wsgi", "mpconn-echo", "auth-echo-tcp")

# Every runner, both services, one worker per core: measured at about 90 s on 2 cores.
# array-tcp over TLS moves two 1 GiB frames per runner through TLS on both sides.
TLS_SUITE_TIMEOUT_S = 1200.0

# A 1 GiB frame through TLS in Python on both ends, on a loaded 2-core machine.
ARRAY_CASE_TIMEOUT_S = 300.0
ONE_GIB_CASE = "array-tcp/stream/2"

# One runner per driver, so per way of filling a lent buffer: recv_into on a blocking thread
# (threading), recv_into from a selector loop (selectors), asyncio's buffered transport (uvloop).
ONE_RUNNER_PER_DRIVER = ("threading", "selectors", "uvloop")


def reference_tls_targets() -> set[str]:
    return {f"runner:{runner}+tls" for runner in runners_for(STREAM) if RUNNERS[runner].reference}


def run_suites_over_tls(
    services: tuple[str, ...], tmp_path: Path, *extra: str, runners: tuple[str, ...] = ()
) -> list[dict]:
    """``pytest suites/ --tls --service ... [--runner ...]`` in a subprocess; the records, once
    it passed (every reference runner unless ``runners`` names some)."""
    results = tmp_path / "results.json"
    arguments = [
        "--tls", *(f"--service={service}" for service in services), *(f"--runner={runner}" for runner in runners),
        *extra, "-n", "2", "--results", str(results), "-q",
    ]  # fmt: skip
    run = run_pytest_suites(arguments, results, suite_timeout=TLS_SUITE_TIMEOUT_S, what="every reference runner over TLS")
    print(f"TLS suites of {', '.join(services)} on every runner: exit {run.exit_status}, {run.wall_time_s:.1f} s")

    bad = [
        f"{record['verdict']} {record['id']} @ {record['target']}: {record['actual'][:300]}"
        for record in run.records
        if record["verdict"] in (Verdict.FAILED.value, Verdict.ERROR.value)
    ]
    assert not bad, "cases that failed over TLS:\n" + "\n".join(bad)
    assert run.exit_status == EXIT_ALL_MUST_CASES_PASSED, run.output[-4000:]
    expected_targets = {f"runner:{runner}+tls" for runner in runners} if runners else reference_tls_targets()
    for service in services:
        seen_targets = {record["target"] for record in run.records if record["service"] == service}
        assert seen_targets == expected_targets, f"{service}: targets {sorted(seen_targets)}"
    assert {record["service"] for record in run.records} == set(services)
    return run.records


def test_stream_suites_pass_over_tls_on_every_reference_runner(tmp_path: Path) -> None:
    records = run_suites_over_tls(SERVICES, tmp_path)
    tls_section = {record["target"] for record in records if record["id"].startswith("echo-tcp/tls/")}
    assert tls_section == reference_tls_targets()
    # The probe saw the TLS connection: wsgi.url_scheme judged (as "https") on every runner.
    url_scheme = {record["target"] for record in records if record["id"] == "wsgi/environ/15" and record["verdict"] == "OK"}
    assert url_scheme == reference_tls_targets()


def test_array_suite_passes_over_tls_on_each_input_path(tmp_path: Path) -> None:
    """The relay's frames decrypted into its ring by the TLS layer, 1 GiB frames included, on one
    runner of each driver (:data:`ONE_RUNNER_PER_DRIVER`). TLS is a protocol layer: what differs
    between runners under it is only how the driver fills the buffer it lends, so three runners
    cover every path; every runner would cost CI about ten minutes of 1 GiB frames through
    Python TLS on both ends, for no path the three do not take."""
    records = run_suites_over_tls(
        ("array-tcp",), tmp_path, f"--case-timeout={ARRAY_CASE_TIMEOUT_S:g}", runners=ONE_RUNNER_PER_DRIVER
    )
    one_gib = {record["target"] for record in records if record["id"] == ONE_GIB_CASE and record["verdict"] == Verdict.OK.value}
    assert one_gib == {f"runner:{runner}+tls" for runner in ONE_RUNNER_PER_DRIVER}


def test_rpc_suite_passes_over_tls_under_the_pickle_codec_on_every_reference_runner(tmp_path: Path) -> None:
    """rpc-mpconn over TLS with ``--codec pickle``: the reference servers are launched with the
    codec the suite is told, and the pickle codec's SHOULD (plain data only) is met everywhere.
    The JSON codec in plaintext is judged by the plain suite run on every runner."""
    results = tmp_path / "results.json"
    arguments = ["--tls", "--service=rpc-mpconn", "--codec", "pickle", "--strict", "-n", "2", "--results", str(results), "-q"]
    run = run_pytest_suites(arguments, results, suite_timeout=TLS_SUITE_TIMEOUT_S, what="rpc-mpconn over TLS, pickle codec")
    print(f"rpc-mpconn over TLS under pickle on every runner: exit {run.exit_status}, {run.wall_time_s:.1f} s")

    not_ok = [f"{record['verdict']} {record['id']} @ {record['target']}: {record['actual'][:300]}" for record in run.records if record["verdict"] != Verdict.OK.value]
    assert not not_ok, "cases not OK over TLS under pickle:\n" + "\n".join(not_ok)
    assert run.exit_status == EXIT_ALL_MUST_CASES_PASSED, run.output[-4000:]
    expected_targets = {f"runner:{runner}+tls" for runner in runners_for(STREAM) if RUNNERS[runner].reference}
    assert {record["target"] for record in run.records} == expected_targets
    judged = {record["id"] for record in run.records}
    assert "rpc-mpconn/codec/2" in judged and "rpc-mpconn/codec/1" not in judged, sorted(judged)
