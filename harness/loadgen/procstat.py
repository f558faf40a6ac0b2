"""What a process tree costs, read from /proc, and which core it may run on.

A server here is a tree: a forking server has a child per connection, a pre-forked one a
worker per core, a threaded one many threads in one process. So its CPU time is

    sum over the live processes of the tree of (utime + stime + cutime + cstime)

from ``/proc/PID/stat`` (fields 14-17). ``utime``/``stime`` cover every thread of a process;
``cutime``/``cstime`` cover the children it has reaped, so a forking server's short-lived
children are counted once they are reaped, and a child that is still alive is counted
directly. The difference of two readings is the CPU the tree spent between them.

Peak memory is ``VmHWM`` (the resident set's high-water mark) from ``/proc/PID/status``,
summed over the live tree. Caveats, stated where the numbers are shown: the sum counts pages
shared after ``fork()`` once per process (it overstates a pre-forked server), and a child
that has exited no longer contributes (it understates a forking server's past peak).

Pinning: :func:`pin_tree` sets the affinity of every thread of every process of a tree
(``sched_setaffinity`` on a pid changes only that one thread on Linux, so a server whose
threads already exist needs each of its tids pinned).

Linux only; elsewhere every reading is None and pinning is skipped with a note.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Protocol, TypeVar

# Clock ticks per second for the /proc/PID/stat times (100 on every Linux in practice).
CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

# A process tree deeper or wider than this is not one of ours; the walk stops there so that a
# fork bomb in a broken server cannot make the measurement itself unbounded.
MAX_TREE_PROCESSES = 20_000


def _read_stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name, or None if the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat_file:
            raw = stat_file.read().decode("ascii", "replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name is in parentheses and may itself contain spaces and parentheses.
    return raw[raw.rfind(")") + 2 :].split()


def _children_by_parent() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except FileNotFoundError:
        return children
    for entry in entries:
        if not entry.isdigit():
            continue
        fields = _read_stat_fields(int(entry))
        if fields is None:
            continue
        # After the name: state (index 0), ppid (index 1).
        children.setdefault(int(fields[1]), []).append(int(entry))
    return children


def process_tree(root_pid: int) -> list[int]:
    """``root_pid`` and all its live descendants (breadth first, at most MAX_TREE_PROCESSES)."""
    children = _children_by_parent()
    tree: list[int] = []
    frontier = [root_pid]
    while frontier and len(tree) < MAX_TREE_PROCESSES:
        pid = frontier.pop(0)
        tree.append(pid)
        frontier.extend(children.get(pid, ()))
    return tree


def process_cpu_seconds(pid: int) -> float | None:
    """utime + stime + cutime + cstime of one process, in seconds, or None if it is gone."""
    fields = _read_stat_fields(pid)
    if fields is None:
        return None
    # /proc/PID/stat fields 14-17 (1-based) are at indexes 11-14 after the name and state.
    ticks = sum(int(value) for value in fields[11:15])
    return ticks / CLOCK_TICKS_PER_S


def tree_cpu_seconds(root_pid: int) -> float | None:
    """CPU seconds spent by the live tree under ``root_pid`` (see the module note)."""
    if process_cpu_seconds(root_pid) is None:
        return None
    return sum(process_cpu_seconds(pid) or 0.0 for pid in process_tree(root_pid))


def _status_kib(pid: int, key: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status", "rb") as status_file:
            for line in status_file:
                if line.startswith(key.encode() + b":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return None


def tree_peak_rss_kib(root_pid: int) -> int | None:
    """Sum of VmHWM (KiB) over the live tree under ``root_pid``, or None if it is gone."""
    if _status_kib(root_pid, "VmHWM") is None:
        return None
    return sum(_status_kib(pid, "VmHWM") or 0 for pid in process_tree(root_pid))


def thread_ids(pid: int) -> list[int]:
    try:
        return [int(tid) for tid in os.listdir(f"/proc/{pid}/task")]
    except FileNotFoundError:
        return []


def pin_tree(root_pid: int, cores: set[int]) -> int:
    """Restrict every thread of every process under ``root_pid`` to ``cores``.

    Returns:
        The number of threads pinned (threads that exit meanwhile are skipped).
    """
    pinned = 0
    for pid in process_tree(root_pid):
        for tid in thread_ids(pid):
            try:
                os.sched_setaffinity(tid, cores)
                pinned += 1
            except (ProcessLookupError, PermissionError, OSError):
                continue
    return pinned


class NotPinned(RuntimeError):
    """A thread of a server started by :func:`start_on_cores` runs outside its cores."""


class _Process(Protocol):
    @property
    def pid(self) -> int: ...

    def stop(self) -> object: ...


StartedProcess = TypeVar("StartedProcess", bound=_Process)


def start_on_cores(start: Callable[[], StartedProcess], cores: set[int]) -> StartedProcess:
    """``start()`` a server whose every process and thread, now and later, runs on ``cores``.

    The calling thread pins itself to ``cores`` while ``start`` forks the server (a child
    inherits the mask, and so does everything the server forks or starts later), then returns
    to the mask it had; every thread of the tree is then checked. Pinning the tree after the
    server's READY line instead raced with servers that fork workers after that line (seen:
    an fd-passing worker left on every core).

    Raises:
        NotPinned: a thread of the server is not on ``cores`` (the server is stopped).
        Whatever ``start`` raises.
    """
    own_cores = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cores)
    try:
        process = start()
    finally:
        os.sched_setaffinity(0, own_cores)
    affinities = tree_affinities(process.pid)
    if affinities - {frozenset(cores)}:
        process.stop()
        raise NotPinned(f"the server's threads run on {sorted(map(sorted, affinities))}, not only {sorted(cores)}")
    return process


def tree_affinities(root_pid: int) -> set[frozenset[int]]:
    """The distinct CPU sets the threads of the tree may run on (to verify pinning)."""
    found: set[frozenset[int]] = set()
    for pid in process_tree(root_pid):
        for tid in thread_ids(pid):
            try:
                found.add(frozenset(os.sched_getaffinity(tid)))
            except (ProcessLookupError, OSError):
                continue
    return found


@dataclass(frozen=True)
class TreeSample:
    """One reading of a process tree: CPU seconds so far and the summed VmHWM."""

    cpu_seconds: float | None
    peak_rss_kib: int | None


def sample_tree(root_pid: int) -> TreeSample:
    return TreeSample(tree_cpu_seconds(root_pid), tree_peak_rss_kib(root_pid))


@dataclass(frozen=True)
class MachineCpuSample:
    """Busy and stolen CPU seconds of the whole machine so far, from /proc/stat's ``cpu`` line.

    ``busy`` is user + nice + system + irq + softirq over all cores; ``steal`` is time the
    hypervisor gave to other guests. Over a window, busy minus the server's and the
    generator's own CPU is what else ran: other processes of a shared machine, plus the
    kernel's interrupt work for our own loopback traffic (not charged to any process).
    """

    busy_seconds: float
    steal_seconds: float


def machine_cpu_sample() -> MachineCpuSample | None:
    try:
        with open("/proc/stat", "rb") as stat_file:
            first = stat_file.readline().split()
    except OSError:
        return None
    if not first or first[0] != b"cpu":
        return None
    values = [int(value) for value in first[1:]]
    values += [0] * (8 - len(values))
    user, nice, system, _idle, _iowait, irq, softirq, steal = values[:8]
    return MachineCpuSample(
        busy_seconds=(user + nice + system + irq + softirq) / CLOCK_TICKS_PER_S,
        steal_seconds=steal / CLOCK_TICKS_PER_S,
    )
