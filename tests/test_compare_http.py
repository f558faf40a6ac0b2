"""``wirecheck compare`` for HTTP services: external server targets, wrk, the REST goal.

Unit tests of the pieces, plus short runs of the real things (a built-in third-party host,
wrk against a reference server) bounded in count and time. No assertion on a rate or a
latency figure: a loaded machine may be slow, never wrong.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from harness.clients.requesters import RequestOptions
from harness.clients.rest import hello_requester
from harness.compare import external
from harness.compare.external import external_target_command, resolve_external_targets
from harness.compare.measure import ServerUnderTest
from harness.compare.records import Comparison, Latency, Settings, WrkResult, WrkSample
from harness.compare.wrk import aggregate_wrk, measure_wrk, parse_wrk_report, wrk_command
from harness.goals.rest_http import evaluate_goals
from harness.launch import launch_command, launch_server
from harness.services import SERVICES
from harness.usage import UsageError

REST_PROFILE = SERVICES["rest-http"].load_profile
assert REST_PROFILE is not None


def test_a_recipe_of_the_target_s_name_is_preferred(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(external, "RECIPES", tmp_path)
    assert external_target_command("waitress", REST_PROFILE)[1:3] == ["-m", "harness.loadgen.external_hosts"]
    (tmp_path / "gunicorn_gthread.py").write_text("")
    assert external_target_command("gunicorn-gthread", REST_PROFILE) == [sys.executable, str(tmp_path / "gunicorn_gthread.py")]


def test_external_targets_by_name_by_command_or_none() -> None:
    default = resolve_external_targets([], REST_PROFILE, ["asyncio"])
    assert list(default) == list(REST_PROFILE.external_targets)
    assert resolve_external_targets(["mine=python -m my.server --port 0"], REST_PROFILE, ["asyncio"]) == {
        "mine": ["python", "-m", "my.server", "--port", "0"]
    }
    assert resolve_external_targets(["none"], REST_PROFILE, ["asyncio"]) == {}
    with pytest.raises(UsageError, match="no built-in host of that name"):
        resolve_external_targets(["nginx"], REST_PROFILE, [])
    with pytest.raises(UsageError, match="not a runner's"):
        resolve_external_targets(["asyncio=true"], REST_PROFILE, ["asyncio"])


@pytest.mark.parametrize("name", ["waitress", "gunicorn-gthread", "uwsgi"])
def test_a_built_in_host_serves_the_rest_application(name: str) -> None:
    if name.startswith("gunicorn") and shutil.which("gunicorn") is None:
        pytest.fail("gunicorn is a dependency (pyproject.toml) and is not installed")
    if name == "uwsgi" and shutil.which("uwsgi") is None:
        pytest.fail("uWSGI is installed by CI (Debian uwsgi uwsgi-plugin-python3) and is not installed here")
    with launch_command(external_target_command(name, REST_PROFILE)) as server:
        assert server.host == "127.0.0.1"
        requester = hello_requester((server.host, server.port), RequestOptions())
        try:
            assert all(requester.request() > 0 for _ in range(20))
        finally:
            requester.close()


def test_wrk_report_line_is_read_and_the_command_is_bounded() -> None:
    output = 'Running 1s test\nWIRECHECK_WRK {"requests": 10, "duration_us": 1000000, "p99_us": 250}\n'
    assert parse_wrk_report(output)["p99_us"] == 250
    with pytest.raises(ValueError):
        parse_wrk_report("unable to connect to 127.0.0.1:1 Connection refused\n")
    command = wrk_command("http://127.0.0.1:9/x", 50, 0.5, 2.0, report=True)
    assert command[:7] == ["wrk", "-t", "1", "-c", "50", "-d", "1s"] and "--timeout" in command


def test_wrk_repetitions_report_the_median_and_the_worst_errors() -> None:
    def sample(rps: float, p99: float, errors: int) -> WrkSample:
        return WrkSample(rps=rps, errors=errors, latency_us=Latency(p50=1.0, p90=2.0, p99=p99, p99_9=p99, max=p99))

    result = aggregate_wrk([sample(100.0, 30.0, 0), sample(300.0, 10.0, 2), sample(200.0, 20.0, 0)], runner="x", connections=50)
    assert (result.rps, result.rps_min, result.rps_max, result.latency_us.p99, result.errors) == (200.0, 100.0, 300.0, 20.0, 2)
    assert aggregate_wrk([WrkSample(error="no wrk")], runner="x", connections=50).error == "no wrk"


def test_wrk_measures_a_reference_server(tmp_path: Path) -> None:
    if shutil.which("wrk") is None:
        pytest.fail("wrk (Debian package wrk) is needed; .ci/run installs it")
    settings = Settings(
        service="rest-http", duration_s=1.0, warmup_s=0.0, wrk_connections=4, wrk_target="/hello?name=wrk",
        html_dir=tmp_path,
    )
    with launch_server("rest-http", "asyncio") as server:
        sample = measure_wrk(ServerUnderTest(server), settings, "wrk-test")
    assert sample.error is None, sample.error
    assert sample.requests > 0 and sample.errors == 0 and sample.latency_us.p99 is not None


def _comparison(ours: tuple[float, float], gthread: tuple[float, float], waitress: tuple[float, float]) -> Comparison:
    def result(name: str, rps: float, p99: float) -> WrkResult:
        return WrkResult(runner=name, connections=50, repeats=1, rps=rps, rps_min=rps, rps_max=rps,
                         latency_us=Latency(p50=p99 / 2, p99=p99))

    settings = Settings(service="rest-http", external_targets={"gunicorn-gthread": ["x"], "waitress": ["y"]})
    return Comparison(service="rest-http", settings=settings, wrk={
        "asyncio": result("asyncio", *ours), "gunicorn-gthread": result("gunicorn-gthread", *gthread),
        "waitress": result("waitress", *waitress),
    })


def test_the_gateway_goal_is_judged_against_the_best_third_party_server() -> None:
    (met,) = evaluate_goals(_comparison((1200.0, 900.0), (1000.0, 1000.0), (1100.0, 950.0)))
    assert met.passed and met.figures["their_best"] == "waitress"
    assert abs(met.figures["rps_ratio"] - 1200 / 1100) < 1e-9
    (slower,) = evaluate_goals(_comparison((1000.0, 900.0), (1000.0, 1000.0), (1100.0, 950.0)))
    assert not slower.passed
    (worse_p99,) = evaluate_goals(_comparison((1200.0, 990.0), (1000.0, 1000.0), (1100.0, 950.0)))
    assert not worse_p99.passed and worse_p99.figures["p99_ratio"] > 1
    stdlib_faster = _comparison((1000.0, 900.0), (1000.0, 1000.0), (1100.0, 950.0))
    stdlib_faster.wrk["wsgiref"] = WrkResult(runner="wsgiref", connections=50, repeats=1, rps=5000.0, rps_min=5000.0,
                                             rps_max=5000.0, latency_us=Latency(p50=1.0, p99=2.0))
    (not_the_gateway,) = evaluate_goals(stdlib_faster)  # wsgiref is the stdlib's server, not the gateway
    assert not not_the_gateway.passed and not_the_gateway.figures["our_best"] == "asyncio"
    unjudged = Comparison(service="rest-http", settings=Settings(service="rest-http"))
    (not_measured,) = evaluate_goals(unjudged)
    assert not not_measured.passed and "not judged" in (not_measured.note or "")
