"""Concurrency models: each runner serves any protocol of its transport, and knows no protocol.

Which model suits which service, and each one's known limits (the numbers are this project's
defaults; see each module):

``raw``
    The chapter's plain ``accept()`` loop. One client at a time: a second client waits in
    the backlog until the first leaves, and an idle client blocks everyone until the idle
    timeout (120 s) closes it. Fine for a one-shot service (daytime, time); wrong for echo
    under concurrency.
``single``
    ``socketserver.TCPServer``. The same one-at-a-time limit as ``raw``, with socketserver's
    request/handler structure.
``threading``
    ``socketserver.ThreadingTCPServer``: a thread per connection. Unbounded: a flood of
    connections is a flood of threads (8 MiB of virtual stack each); the GIL serialises
    the protocol work, but blocking I/O overlaps.
``forking``
    ``socketserver.ForkingTCPServer``: a process per connection. ``max_children`` (raised
    from socketserver's 40 to 256 here) caps live children; past it the accept loop blocks
    in ``waitpid`` until a child exits, so further clients wait. Fork costs ~1 ms.
``prefork-threads``
    The chapter's pool: N threads (default 16) accepting on one listening socket. At most N
    clients are served at once; the N+1th waits until a slot frees. Bounded by design.
``prefork-processes``
    N worker processes (default: one per core) forked before accepting, all accepting on the
    one listening socket, each running the ``selectors`` event loop (nginx's structure).
``select``
    The chapter's ``EventHandler`` objects in a ``select.select()`` loop. ``select`` cannot
    watch an fd >= 1024 (FD_SETSIZE): connections past that are refused (accepted and
    closed at once). Each pass costs O(connections).
``selectors``
    The same handlers on ``selectors.DefaultSelector`` (epoll on Linux): no fd limit but
    ``ulimit -n``, O(ready) per pass. One core.
``asyncio``
    An ``asyncio.Protocol`` on the default event loop. One core; the loop's own overhead
    per callback is higher than a hand-written epoll loop's.
``uvloop``
    The same Protocol on uvloop (libuv). Optional dependency (``pip install wirecheck[all]``).

Every runner listens with a backlog of 4096 on 127.0.0.1 by default, closes a connection
silent for the idle timeout, and on SIGTERM/SIGINT stops accepting, ends live connections,
and reaps every thread and child before exiting 0.

Runner classes are imported lazily so that a missing optional dependency (uvloop) breaks
only the runner that needs it, with a clear message.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from harness.runners.base import Runner


@dataclass(frozen=True)
class RunnerEntry:
    """Where a runner lives and what it carries, known without importing it."""

    name: str
    module: str
    class_name: str
    transports: frozenset[str]
    needs: str | None = None  # the optional distribution it imports, for the error message


_TCP = frozenset({"tcp"})

RUNNERS: dict[str, RunnerEntry] = {
    entry.name: entry
    for entry in (
        RunnerEntry("raw", "harness.runners.raw", "RawRunner", _TCP),
        RunnerEntry("single", "harness.runners.single", "SingleRunner", _TCP),
        RunnerEntry("threading", "harness.runners.thread_per_connection", "ThreadingRunner", _TCP),
        RunnerEntry("forking", "harness.runners.process_per_connection", "ForkingRunner", _TCP),
        RunnerEntry("prefork-threads", "harness.runners.prefork_threads", "PreforkThreadsRunner", _TCP),
        RunnerEntry(
            "prefork-processes", "harness.runners.prefork_processes", "PreforkProcessesRunner", _TCP
        ),
        RunnerEntry("select", "harness.runners.event_loops", "SelectRunner", _TCP),
        RunnerEntry("selectors", "harness.runners.event_loops", "SelectorsRunner", _TCP),
        RunnerEntry("asyncio", "harness.runners.asyncio_loop", "AsyncioRunner", _TCP),
        RunnerEntry("uvloop", "harness.runners.asyncio_loop", "UvloopRunner", _TCP, needs="uvloop"),
    )
}


class UnknownRunnerError(LookupError):
    """The caller named a runner that is not registered, or one that cannot carry the service."""


class RunnerUnavailableError(RuntimeError):
    """The runner exists but its optional dependency is not installed."""


def runners_for(transport: str) -> list[str]:
    """Names of the runners that carry ``transport``, in registry order."""
    return [name for name, entry in RUNNERS.items() if transport in entry.transports]


def load_runner(name: str) -> type[Runner]:
    """Import and return the runner class registered as ``name``.

    Raises:
        UnknownRunnerError: no such runner (the message lists the known ones).
        RunnerUnavailableError: its optional dependency is missing (the message says
            which package to install).
    """
    try:
        entry = RUNNERS[name]
    except KeyError:
        known = ", ".join(RUNNERS)
        raise UnknownRunnerError(f"unknown runner {name!r}; known runners: {known}") from None
    try:
        module = importlib.import_module(entry.module)
    except ImportError as exc:
        if entry.needs and exc.name == entry.needs:
            raise RunnerUnavailableError(
                f"runner {name!r} needs {entry.needs}: pip install 'wirecheck[all]'"
            ) from exc
        raise
    return getattr(module, entry.class_name)
