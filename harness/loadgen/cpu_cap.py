"""Cap a server's CPU with the kernel's CFS bandwidth control, to make a server-bound target.

Why: to judge a load generator's own efficiency ("does locust get as much out of a server as
a plain client does?") the server, not the client, must be the limit. On loopback every
server in this project outruns one locust process, so none is server-bound by nature. A CPU
quota makes one honestly: the server runs its normal code but may use only a fraction of its
core (``cpu.cfs_quota_us / cpu.cfs_period_us`` in cgroup v1, ``cpu.max`` in cgroup v2), and
whatever client drives it, the server's CPU is the bottleneck. The kernel enforces it; no
sleep or busy loop is added to the protocol code.

Written by hand because no maintained Python library creates a throw-away cgroup for
a running process tree in both cgroup versions; it is a few file writes.

The period is short (:data:`PERIOD_US`, 10 ms) so the throttling is fine-grained: a 10 % cap
runs the server 1 ms in every 10, which adds at most ~9 ms to a reply, far below the stall
threshold, instead of 90 ms with the kernel's default 100 ms period.

Requires root (or a delegated cgroup) and the cpu controller; :class:`CpuCapUnavailable` says
what is missing, and callers report the measurement as not made rather than failing.
"""

from __future__ import annotations

import os
from pathlib import Path

from harness.loadgen import procstat

# CFS bandwidth period: short, so that throttling is fine-grained (see the module docstring).
PERIOD_US = 10_000

CGROUP_ROOT = Path("/sys/fs/cgroup")


class CpuCapUnavailable(RuntimeError):
    """No usable cpu cgroup controller here (not root, no controller, read-only cgroupfs)."""


def _v2_root() -> Path | None:
    """A cgroup v2 hierarchy whose root offers the cpu controller, if any."""
    for candidate in (CGROUP_ROOT, CGROUP_ROOT / "unified"):
        controllers = candidate / "cgroup.controllers"
        try:
            if "cpu" in controllers.read_text().split():
                return candidate
        except OSError:
            continue
    return None


def _v1_root() -> Path | None:
    for candidate in (CGROUP_ROOT / "cpu", CGROUP_ROOT / "cpu,cpuacct"):
        if (candidate / "cpu.cfs_quota_us").exists():
            return candidate
    return None


class CpuCap:
    """A cgroup that holds a process tree to ``fraction`` of one core; removed on :meth:`close`.

    Args:
        fraction: the share of one core the tree may use, in (0, cores] (above 1 a
            multi-process server may use more than one core's worth in all).
        name: the cgroup's directory name (made unique with our pid).

    Raises:
        CpuCapUnavailable: no writable cpu controller.

    Resource handling: owns a cgroup directory; :meth:`close` (or the context manager) moves
    any remaining processes back to the root group and removes it.
    """

    def __init__(self, fraction: float, name: str = "wirecheck-cap") -> None:
        cores = os.cpu_count() or 1
        if not 0 < fraction <= cores:
            raise ValueError(f"a CPU cap is a share of a core in (0, {cores}], not {fraction}")
        self.fraction = fraction
        quota_us = max(1000, round(PERIOD_US * fraction))  # the kernel's minimum quota is 1 ms
        v2_root = _v2_root()
        v1_root = _v1_root() if v2_root is None else None
        if v2_root is None and v1_root is None:
            raise CpuCapUnavailable("no cgroup cpu controller under /sys/fs/cgroup")
        self.root = v2_root or v1_root
        assert self.root is not None
        self.version = 2 if v2_root is not None else 1
        self.path = self.root / f"{name}-{os.getpid()}"
        try:
            if self.version == 2:
                subtree = self.root / "cgroup.subtree_control"
                if "cpu" not in subtree.read_text().split():
                    subtree.write_text("+cpu")
            self.path.mkdir(exist_ok=True)
            if self.version == 2:
                (self.path / "cpu.max").write_text(f"{quota_us} {PERIOD_US}")
            else:
                (self.path / "cpu.cfs_period_us").write_text(str(PERIOD_US))
                (self.path / "cpu.cfs_quota_us").write_text(str(quota_us))
        except OSError as error:
            self._remove_directory()
            raise CpuCapUnavailable(f"cannot set up a cpu cgroup at {self.path}: {error}") from error
        self.quota_us = quota_us

    def describe(self) -> str:
        return f"{self.quota_us / PERIOD_US:.0%} of one core (cgroup v{self.version} CFS quota {self.quota_us} µs per {PERIOD_US} µs)"

    def add_tree(self, root_pid: int) -> list[int]:
        """Move ``root_pid`` and its descendants (with all their threads) into the cap.

        Processes it forks later are born inside it. Returns the pids moved.

        Raises:
            CpuCapUnavailable: the kernel refused the move.
        """
        moved = []
        for pid in procstat.process_tree(root_pid):
            try:
                (self.path / "cgroup.procs").write_text(str(pid))
            except ProcessLookupError:
                continue  # it exited meanwhile
            except OSError as error:
                raise CpuCapUnavailable(f"cannot move pid {pid} into {self.path}: {error}") from error
            moved.append(pid)
        return moved

    def throttled_periods(self) -> int | None:
        """How many periods the kernel throttled the group (proof the cap was the limit)."""
        try:
            for line in (self.path / "cpu.stat").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "nr_throttled":
                    return int(value)
        except (OSError, ValueError):
            return None
        return None

    def close(self) -> None:
        """Move what is left back to the root group and remove the cgroup."""
        try:
            remaining = (self.path / "cgroup.procs").read_text().split()
        except OSError:
            remaining = []
        for pid in remaining:
            try:
                (self.root / "cgroup.procs").write_text(pid)
            except OSError:
                pass
        self._remove_directory()

    def _remove_directory(self) -> None:
        try:
            self.path.rmdir()
        except OSError:
            pass

    def __enter__(self) -> "CpuCap":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# The cgroup made only to see whether a budget can be enforced here.
PROBE_NAME = "wirecheck-cap-probe"


def probe_cpu_cap(fraction: float) -> str:
    """Make and remove a cap of ``fraction``, so that a run fails before it starts, not in it.

    Returns:
        The cap as a report states it (:meth:`CpuCap.describe`).

    Raises:
        CpuCapUnavailable: no cgroup cpu controller can hold a server here.
    """
    with CpuCap(fraction, name=PROBE_NAME) as cap:
        return cap.describe()
