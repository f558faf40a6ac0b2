"""The pytest side of the reachability probe: a target where nothing listens is ONE ERROR.

:mod:`harness.reachability` says whether anything listens at a ``--target``; this plugin
(registered by :mod:`harness.pytest_plugin`) acts on it, before any case runs:

- *When.* The targets are probed once, in ``pytest_configure`` of the process that
  reports (the only process, or the pytest-xdist controller, which hands the answer to its
  workers through ``workerinput``: every worker must collect the same items, so none of
  them probes for itself). Reference runners are not probed: they are launched by the
  suite, which waits for their READY line.
- *What a user sees.* The session header names each absent target; its cases are
  deselected ("not asked for" is no outcome, and "not run because nothing is there" is not
  a verdict on the target), and one item, ``reachability[<service>/reachability/0@<target>]``,
  is put first and reports ERROR with the reason: ``connection refused at 127.0.0.1:1 (3
  attempts over 0.5 s): nothing listens there, so none of its 12 cases was run``. In the
  results file it is one record with the case ID ``<service>/reachability/0``: a number no
  declared case can have (case numbers start at 1), so it can never be mistaken for one.
  The exit status is then 1, as for any ERROR (../shared/DESIGN.md: "0 iff no MUST-level
  case FAILED and nothing ERRORed").
- *Fleets.* Each host of ``--target SERVICE=NETWORK:PORT`` is a target of its own, probed
  on its own: an absent host is one ERROR and the other hosts are judged.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest

from harness.cases import Target
from harness.reachability import ProbeTarget, find_absent
from harness.services import SERVICES
from harness.verdicts import CaseRecord, HarnessError, Level, Verdict

# The section and number of the record an absent target gets. Declared cases are numbered
# from 1 (harness.cases.CASE_ID_PATTERN), so number 0 is never a case's.
REACHABILITY_SECTION = "reachability"
REACHABILITY_NUMBER = 0

# The workerinput key that carries the controller's findings to pytest-xdist workers.
WORKERINPUT_KEY = "wirecheck_absent_targets"

REQUIREMENT = (
    "wirecheck's precondition, not the protocol's: a server listens at the target's address "
    "(nothing can be judged where nothing listens)"
)


def reachability_case_id(service: str) -> str:
    """``<service>/reachability/0``: the ID of an absent target's one ERROR record."""
    return f"{service}/{REACHABILITY_SECTION}/{REACHABILITY_NUMBER}"


class AbsentTargetItem(pytest.Item):
    """The one item that stands for an absent target's cases, and reports ERROR.

    Args (besides pytest's own ``name`` and ``parent``):
        target: the target where nothing listens.
        reason: the probe's finding, one line.
    """

    def __init__(self, *, target: Target, reason: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target = target
        self.reason = reason
        self.case_count = 0

    @property
    def message(self) -> str:
        return f"{self.reason}: nothing listens there, so none of its {self.case_count} cases was run"

    def runtest(self) -> None:
        raise HarnessError(self.message)

    def reportinfo(self) -> tuple[str, int | None, str]:
        return "wirecheck", None, f"{reachability_case_id(self.target.service)} @ {self.target.name}"


class TargetReachability:
    """Probes the run's ``--target`` servers and turns each absent one into one ERROR.

    Args:
        config: the pytest config (its ``workerinput`` on an xdist worker).
        targets: the run's targets by service (:func:`harness.cases.select_targets`).
        target_of: the target a collected item runs against, or None for an item that is
            not a case (the plugin's parametrization knows how to read it).
    """

    def __init__(
        self,
        config: pytest.Config,
        targets: dict[str, list[Target]],
        target_of: Callable[[pytest.Item], Target | None],
    ) -> None:
        self._target_of = target_of
        running = [target for service_targets in targets.values() for target in service_targets if target.runner is None]
        worker_input = getattr(config, "workerinput", None)
        if worker_input is not None:
            found = {(service, name): reason for service, name, reason in worker_input.get(WORKERINPUT_KEY, [])}
        else:
            probes = {target: ProbeTarget(target.host or "", target.port or 0, SERVICES[target.service].transport) for target in running}
            absent = find_absent(probes.values())
            found = {(target.service, target.name): absent[probe] for target, probe in probes.items() if probe in absent}
        self.absent: dict[Target, str] = {
            target: found[(target.service, target.name)] for target in running if (target.service, target.name) in found
        }

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[WORKERINPUT_KEY] = [[target.service, target.name, reason] for target, reason in self.absent.items()]

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        return [
            f"wirecheck: {target.service} at {target.name}: {reason}; one ERROR stands for its cases"
            for target, reason in self.absent.items()
        ]

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
        # trylast: after --case and --service have narrowed the items (an absent target none of
        # whose cases was asked for gets no ERROR) and after any reordering plugin.
        if not self.absent:
            return
        standing_in: dict[Target, AbsentTargetItem] = {}
        keep, drop = [], []
        for item in items:
            target = self._target_of(item)
            if target is None or target not in self.absent:
                keep.append(item)
                continue
            drop.append(item)
            if target not in standing_in:
                name = f"{REACHABILITY_SECTION}[{reachability_case_id(target.service)}@{target.test_id}]"
                standing_in[target] = AbsentTargetItem.from_parent(
                    session,
                    name=name,
                    nodeid=name,  # not "::name": it belongs to no file
                    target=target,
                    reason=self.absent[target],
                )
            standing_in[target].case_count += 1
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = [*standing_in.values(), *keep]

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
        report: pytest.TestReport = yield
        if not isinstance(item, AbsentTargetItem) or call.when != "call":
            return report
        address = item.target.name
        record = CaseRecord(
            id=reachability_case_id(item.target.service),
            service=item.target.service,
            target=item.target.name,
            level=Level.MUST.value,
            verdict=Verdict.ERROR.value,
            requirement=REQUIREMENT,
            expected=f"a server listening at {address}",
            actual=item.message,
            duration_s=round(call.duration, 3),
        )
        report.wirecheck = record.to_json()  # type: ignore[attr-defined]
        report.outcome = "failed"
        report.longrepr = f"{record.id} against {address}: ERROR: {item.message}"
        return report

