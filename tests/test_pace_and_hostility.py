"""Unit tests of the two rules that make runs end: the pace verdict and the hostility budget.

No network: :mod:`harness.checks.pace` is fed exchanges as the conversation loop records
them, and :class:`harness.hostility.HostilityLedger` is fed failures as the plugin records
them. The end-to-end proof (every service, every hostile shape, a slow-but-correct server) is
tests/test_hostile_targets.py.
"""

from __future__ import annotations

import pytest

from harness.checks.pace import (
    DRIP_FLOOR_BYTES_PER_S,
    Exchange,
    PaceLog,
    advised_case_timeout,
    spent_budget_failure,
)
from harness.hostility import HostilityLedger
from harness.verdicts import ConformanceFailure, Level, TargetTooSlow, Verdict, verdict_for

EXPECTED = "the 52 bytes sent, echoed back byte-exact"
TIMED_OUT = "timeout (after 30 s, with 0 of 52 bytes received; the case's budget of 30 s (--case-timeout) was spent)"


def slow_log(replies: int, seconds_apart: float, planned: int | None = None) -> PaceLog:
    """Each reply whole in one arrival, ``seconds_apart`` after the previous: an inetd under load."""
    log = PaceLog()
    if planned is not None:
        log.plan(planned)
    for number in range(replies):
        started = number * seconds_apart
        log.record(Exchange(started, [(started + seconds_apart, 52)], complete=True))
    log.record(Exchange(replies * seconds_apart, [], complete=False))  # the one in flight
    return log


def drip_log(seconds: float, interval_s: float = 0.2) -> PaceLog:
    """One reply arriving a byte every ``interval_s``: a tarpit."""
    arrivals = [(index * interval_s, 1) for index in range(int(seconds / interval_s))]
    log = PaceLog()
    log.record(Exchange(0.0, arrivals, complete=False))
    return log


def test_correct_replies_at_a_slow_pace_are_slow_not_failed() -> None:
    failure = spent_budget_failure(EXPECTED, TIMED_OUT, 30.0, 30.0, slow_log(27, 1.1, planned=200))
    assert isinstance(failure, TargetTooSlow)
    assert failure.actual.startswith("slow, not wrong: 27 complete replies of the 200 the case needs")
    assert "one per 1.11 s" in failure.actual
    # 200 x 1.11 s x 1.5, rounded up to 10 s
    assert "--case-timeout 340 would let it finish" in failure.actual
    assert verdict_for(Level.MUST, failure) is Verdict.ERROR
    assert verdict_for(Level.SHOULD, failure) is Verdict.ERROR


def test_slow_without_a_plan_advises_a_larger_budget() -> None:
    failure = spent_budget_failure(EXPECTED, TIMED_OUT, 30.0, 30.0, slow_log(3, 9.0))
    assert isinstance(failure, TargetTooSlow)
    assert "a larger --case-timeout (e.g. 60) may let it finish" in failure.actual


def test_a_drip_is_failed_with_its_rate() -> None:
    failure = spent_budget_failure(EXPECTED, TIMED_OUT, 30.0, 30.0, drip_log(30.0))
    assert not isinstance(failure, TargetTooSlow)
    assert verdict_for(Level.MUST, failure) is Verdict.FAILED
    assert "the replies dripped: 149 bytes in 29.8 s of delivery (5 B/s" in failure.actual


def test_a_drip_that_completed_small_replies_is_still_a_drip() -> None:
    log = drip_log(10.0)
    log.exchanges[0].complete = True  # a 50-byte reply, dripped in 10 s, did complete
    log.record(Exchange(10.0, [(10.0 + index * 0.2, 1) for index in range(100)], complete=False))
    failure = spent_budget_failure(EXPECTED, TIMED_OUT, 30.0, 30.0, log)
    assert not isinstance(failure, TargetTooSlow)
    assert "dripped" in failure.actual


def test_fast_delivery_after_a_late_start_is_not_a_drip() -> None:
    log = PaceLog()
    # 1 MiB in 2 s of delivery after a late first byte: 512 KiB/s
    log.record(Exchange(0.0, [(20.0, 1024)] + [(20.0 + index / 512, 2048) for index in range(1, 513)], complete=True))
    failure = spent_budget_failure(EXPECTED, TIMED_OUT, 30.0, 30.0, log)
    assert isinstance(failure, TargetTooSlow)
    assert log.delivery_rate() is not None and log.delivery_rate()[0] > DRIP_FLOOR_BYTES_PER_S


def test_no_correct_reply_in_the_budget_stays_a_timeout() -> None:
    failure = spent_budget_failure(EXPECTED, TIMED_OUT, 30.0, 30.0, PaceLog())
    assert type(failure) is ConformanceFailure
    assert failure.actual == TIMED_OUT


def test_with_context_keeps_the_slow_type() -> None:
    failure = TargetTooSlow(EXPECTED, "slow, not wrong: …").with_context("(failing example 3)")
    assert isinstance(failure, TargetTooSlow) and failure.actual.endswith("(failing example 3)")


@pytest.mark.parametrize(("seconds_per_exchange", "planned", "advised"), [(1.1, 200, 340), (0.01, 10, 10), (2.0, 20, 60)])
def test_advised_case_timeout(seconds_per_exchange: float, planned: int, advised: float) -> None:
    assert advised_case_timeout(seconds_per_exchange, planned) == advised


def test_the_ledger_refuses_only_after_the_budget_is_spent() -> None:
    ledger = HostilityLedger(15.0)
    ledger.record_failure("a", "svc/1/1", 5.1, "timeout (after 5 s, …)")
    ledger.record_failure("a", "svc/1/2", 5.0, "timeout (after 5 s, …)")
    assert ledger.refusal("a") is None
    ledger.record_failure("a", "svc/1/3", 6.5, "timeout (after 5 s, …)\n(failing example 2)")
    refusal = ledger.refusal("a")
    assert refusal is not None and refusal.startswith("not run: the target already kept the suite waiting 16.6 s in 3 cases it failed or never let finish")
    assert "svc/1/3 (6.5 s: timeout (after 5 s, …))" in refusal  # the costliest first, first line only
    assert ledger.refusal("b") is None  # per target


def test_the_ledger_names_only_the_costliest_failures() -> None:
    ledger = HostilityLedger(1.0)
    for number in range(6):
        ledger.record_failure("a", f"svc/1/{number}", 0.5 + number, "reset (after 0 bytes received)")
    refusal = ledger.refusal("a")
    assert refusal is not None
    assert "svc/1/5" in refusal and "svc/1/4" in refusal and "svc/1/3" in refusal and "svc/1/2" not in refusal
    assert refusal.endswith("and 3 more")
