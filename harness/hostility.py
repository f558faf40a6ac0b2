"""The per-target hostility budget: how long a target may keep the suite waiting on failures.

Why: every wait a case makes is bounded (a stall limit, the case's ``--case-timeout``), but a
suite is dozens of cases, so a target that makes each case wait out its bound — a silent
server (one 5 s stall limit per case), a tarpit that drips a byte every 0.2 s (the whole
30 s budget per case), a server that accepts and never reads — makes a run of one service
take minutes (the echo suite against a server dripping a byte every 0.2 s: 285 s without
this budget, 34 s with it). A user judging a server expects a
verdict within a minute, and the verdict is already clear after the first few cases.

Rule: the suite keeps, per target, the time spent in the cases that target **failed** (a
:class:`~harness.verdicts.ConformanceFailure` of any level, so a wrong byte, a reset, a stall,
a drip) or **kept waiting until the case's whole budget was spent** (an INFO case that
watches a dripping line for its whole budget fails nothing, but it was kept waiting just the
same). Once that sum reaches the budget (``--hostile-budget``, default
:data:`DEFAULT_HOSTILE_BUDGET_S`), each later case of that target is not run: it fails at
once (FAILED for a MUST, NON-STRICT for a SHOULD, INFORMATIONAL for an INFO case), its
``actual`` saying so and naming the failures that spent the budget. A target that fails
quickly (wrong bytes in milliseconds) never reaches the budget, so every case still judges
it; only targets that make failing cases *slow* are cut short.

What does not count: a case that passed within its budget, however long it took (an honest
16 MiB echo through a forking server); an ERROR (the harness's fault, not the target's); and a case
ended by :class:`~harness.verdicts.TargetTooSlow` — a slow but correct target is not
hostile, its cases each run to their own budget, and each says it was slow.

Bound: at the default settings a hostile target costs at most the budget, plus the one case
that crossed it (at most ``--case-timeout``), plus the cases it passed: with a budget of 15 s
and cases of 30 s, 45 s of waiting per service, inside the promised 60 s.

The ledger lives in one pytest process. Under pytest-xdist with ``--dist loadgroup`` (the
plugin's default for ``-n``) all cases of a target run on one worker, so the budget is per
target for the whole run; with ``--dist load`` a target's cases are spread over the workers
and the budget is per target and worker (the bound multiplies by the number of workers).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.verdicts import ConformanceFailure

# 15 s: three silent cases (a 5 s stall limit each), or one dripping case, is evidence
# enough; with one more case of up to 30 s (the default --case-timeout) a hostile service
# ends within 45 s of waiting, which leaves room for pytest's start-up inside 60 s.
DEFAULT_HOSTILE_BUDGET_S = 15.0

# How many of the failures that spent the budget a not-run case's actual names (the longest).
FAILURES_NAMED = 3

# How much of each named failure's actual is quoted (its first line, cut to this length).
ACTUAL_EXCERPT_CHARS = 160


class CutShort(ConformanceFailure):
    """A case not run because its target spent its hostility budget (its level gives the
    verdict, as for any failure; it is not itself counted toward the budget)."""


@dataclass(frozen=True)
class CostlyFailure:
    """One failed case of a target, and what it cost."""

    case_id: str
    duration_s: float
    actual: str

    def describe(self) -> str:
        first_line = self.actual.splitlines()[0] if self.actual else ""
        if len(first_line) > ACTUAL_EXCERPT_CHARS:
            first_line = first_line[: ACTUAL_EXCERPT_CHARS - 1] + "…"
        return f"{self.case_id} ({self.duration_s:.1f} s: {first_line})"


@dataclass
class HostilityLedger:
    """Per target, the costly cases (failed, or kept waiting to the end of their budget) and the
    time they took; says when a target is cut short.

    Args:
        budget_s: the hostility budget, in seconds (``--hostile-budget``).
    """

    budget_s: float = DEFAULT_HOSTILE_BUDGET_S
    _failures: dict[str, list[CostlyFailure]] = field(default_factory=dict)

    def record_failure(self, target: str, case_id: str, duration_s: float, actual: str) -> None:
        """Note that ``target`` failed ``case_id``, or kept it waiting its whole budget, for
        ``duration_s`` seconds."""
        self._failures.setdefault(target, []).append(CostlyFailure(case_id, duration_s, actual))

    def spent_s(self, target: str) -> float:
        """Seconds spent so far in cases ``target`` failed."""
        return sum(failure.duration_s for failure in self._failures.get(target, []))

    def refusal(self, target: str) -> str | None:
        """The ``actual`` of a case not run because ``target`` spent its budget, or None to run it."""
        spent = self.spent_s(target)
        if spent < self.budget_s:
            return None
        failures = self._failures[target]
        costliest = sorted(failures, key=lambda failure: failure.duration_s, reverse=True)[:FAILURES_NAMED]
        more = len(failures) - len(costliest)
        named = "; ".join(failure.describe() for failure in costliest) + (f"; and {more} more" if more else "")
        return (
            f"not run: the target already kept the suite waiting {spent:.1f} s in {len(failures)} "
            f"case{'s' if len(failures) != 1 else ''} it failed or never let finish, past the hostility budget of {self.budget_s:g} s "
            f"(--hostile-budget), so its remaining cases fail at once: {named}"
        )
