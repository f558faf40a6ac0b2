"""The REST service's goals under load, judged on a finished comparison.

1. Our HTTP/1.1 gateway is worth hosting the application on: on its best runner it serves at
   least :data:`REQUIRED_RATIO` x the requests per second of the best of the third-party
   servers in :data:`THIRD_PARTY_YARDSTICKS`, with a p99 latency no worse than that server's.

Judged on wrk's figures at :data:`WRK_CONNECTIONS` connections, not locust's: locust on one
core is the limit against most HTTP servers (harness/compare/wrk.py), so its rates would
compare the generator with itself. Every target's server is pinned to the same single core
and measured in the same run, so the verdict is a ratio of figures taken under the same load
on the machine; a target whose wrk run had errors is not a candidate for "best". With one
short repetition (``--quick``) the verdict is indicative, and compare.md says so.
"""

from __future__ import annotations

from harness.compare.formatting import microseconds
from harness.compare.records import Comparison, Goal, WrkResult
from harness.runners import RUNNERS

REQUIRED_RATIO = 1.0
THIRD_PARTY_YARDSTICKS = ("gunicorn-gthread", "waitress")
WRK_CONNECTIONS = 50


def evaluate_goals(comparison: Comparison) -> list[Goal]:
    return [gateway_goal(comparison)]


def _best(results: dict[str, WrkResult]) -> tuple[str, WrkResult] | None:
    candidates = [(name, result) for name, result in results.items() if result.measured and result.errors == 0]
    return max(candidates, key=lambda item: item[1].rps or 0.0) if candidates else None


def _line(name: str, result: WrkResult) -> str:
    return (
        f"{name}: {result.rps:,.0f} req/s ({result.rps_min:,.0f}-{result.rps_max:,.0f}), p99 "
        f"{microseconds(result.latency_us.p99)}, p50 {microseconds(result.latency_us.p50)}, "
        f"errors {result.errors}"
    )


def gateway_goal(comparison: Comparison) -> Goal:
    """Goal 1 (see the module docstring)."""
    goal = Goal(
        goal=(
            f"the gateway on its best runner serves >= {REQUIRED_RATIO:g}x the req/s of the best of "
            f"{' and '.join(THIRD_PARTY_YARDSTICKS)}, with p99 no worse (wrk, {WRK_CONNECTIONS} connections)"
        ),
        passed=False,
    )
    external = comparison.settings.external_targets
    at_goal_concurrency = {name: result for name, result in comparison.wrk.items() if result.connections == WRK_CONNECTIONS}
    # The gateway is what the stream runners carry; wsgiref is the stdlib's own WSGI server.
    ours = _best({
        name: result for name, result in at_goal_concurrency.items()
        if name not in external and name in RUNNERS and "stream" in RUNNERS[name].kinds
    })
    theirs = _best({name: at_goal_concurrency[name] for name in THIRD_PARTY_YARDSTICKS if name in at_goal_concurrency})
    if ours is None or theirs is None:
        missing = "our runners" if ours is None else "the third-party servers"
        goal.note = (
            f"not judged: no error-free wrk run at {WRK_CONNECTIONS} connections against {missing} "
            "(is wrk installed, and were the external targets included?)"
        )
        return goal
    (our_name, our_result), (their_name, their_result) = ours, theirs
    assert our_result.rps and their_result.rps
    ratio = our_result.rps / their_result.rps
    p99_ratio = (our_result.latency_us.p99 or 0.0) / (their_result.latency_us.p99 or float("inf"))
    goal.passed = ratio >= REQUIRED_RATIO and p99_ratio <= 1.0
    goal.details = [
        f"the gateway's best runner: {_line(our_name, our_result)}",
        f"best of {', '.join(THIRD_PARTY_YARDSTICKS)}: {_line(their_name, their_result)}",
        f"req/s ratio **{ratio:.2f}** (required >= {REQUIRED_RATIO:g}); p99 ratio **{p99_ratio:.2f}** (required <= 1)",
    ] + [
        _line(name, result) for name, result in at_goal_concurrency.items()
        if name not in (our_name, their_name) and result.measured
        and (name in external or "stream" not in RUNNERS[name].kinds)  # the other servers, for context
    ]
    goal.figures = {
        "our_best": our_name, "their_best": their_name, "rps_ratio": ratio, "p99_ratio": p99_ratio,
        "our_rps": our_result.rps, "their_rps": their_result.rps,
        "our_p99_us": our_result.latency_us.p99, "their_p99_us": their_result.latency_us.p99,
    }
    return goal
