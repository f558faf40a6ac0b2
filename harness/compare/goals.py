"""A service's goals, judged on a finished comparison, and their Markdown.

What a service must achieve under load is particular to the service, so it lives with the
service: its load profile names a goals function (``LoadProfile.goals``, a dotted path, e.g.
into harness/goals/), which takes the :class:`~harness.compare.records.Comparison` and returns
:class:`~harness.compare.records.Goal` records, each with its verdict and the lines of figures
behind it. This module only calls that function and formats what it returns.
"""

from __future__ import annotations

from typing import Callable

from harness.compare.records import Comparison, Goal
from harness.loadgen.profile import LoadProfile, resolve

GoalsFunction = Callable[[Comparison], list[Goal]]


def evaluate_service_goals(profile: LoadProfile, comparison: Comparison) -> list[Goal]:
    """The service's own goals on ``comparison`` (none when its profile names no goals)."""
    if profile.goals is None:
        return []
    evaluate: GoalsFunction = resolve(profile.goals)
    return evaluate(comparison)


def format_goals(goals: list[Goal]) -> list[str]:
    """A Markdown list: each goal's verdict and statement, then its figures and note."""
    lines = []
    for goal in goals:
        lines.append(f"- **{'MET' if goal.passed else 'NOT MET'}**: {goal.goal}")
        lines += [f"  - {detail}" for detail in goal.details]
        if goal.note:
            lines.append(f"  - note: {goal.note}")
    return lines
