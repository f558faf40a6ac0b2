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
``fd-passing``
    One process accepts and passes each connection's descriptor to one of N worker processes
    (default: one per core) over a ``multiprocessing`` pipe (``multiprocessing.reduction``'s
    ``send_handle``); each worker serves many connections in the ``selectors`` loop. The
    acceptor is one core's work per connection; a worker's share is round robin, blind to
    how busy it is.

Datagram (UDP) services run on ``raw`` (a recvfrom/sendto loop), ``single``,
``threading`` and ``forking`` (socketserver's UDPServer family: a thread or a process per
datagram), ``select``, ``selectors``, ``asyncio`` and ``uvloop``. A datagram service keeps one
protocol object for the whole server, so with ``threading`` it is called from many threads
at once: datagram protocols must be stateless or thread-safe (all of ours are stateless).
The pre-forked pools and ``fd-passing`` carry no UDP: one socket has no connections to spread.

Every TCP runner listens with a backlog of 4096 on 127.0.0.1 by default, closes a connection
silent for the idle timeout, and on SIGTERM/SIGINT stops accepting, ends live connections,
and reaps every thread and child before exiting 0.

Runner classes are imported lazily so that a missing optional dependency (uvloop) breaks
only the runner that needs it, with a clear message.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from harness.protocols.base import RunnerTraits
from harness.runners.base import Runner

# The kinds of service a runner can carry, named as harness.services.ServiceKind values.
STREAM = "stream"
DATAGRAM = "datagram"
WSGI = "web-application"
XMLRPC = "xml-rpc-application"


@dataclass(frozen=True)
class RunnerEntry:
    """Where a runner lives, what it carries and how it behaves, known without importing it.

    Attributes:
        name: the contract name.
        module: the module holding its classes.
        classes: the class for each kind of service it carries (an accept loop is not a
            recvfrom loop, so a runner may need one class per kind).
        traits: what protocols and suites may rely on (one client at a time, threads,
            processes, an event loop).
        needs: the optional distribution it imports, for the error message.
        reference: one of our reference implementations, judged by ``pytest suites/`` by
            default and expected to pass. False for a runner that is the chapter's stdlib
            server (wsgiref): it is judged like a third-party server, only when named with
            ``--runner``, and its verdicts are findings.
    """

    name: str
    module: str
    classes: dict[str, str]
    traits: RunnerTraits
    needs: str | None = None
    reference: bool = True

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset(self.classes)


def _traits(name: str, **traits: bool) -> RunnerTraits:
    return RunnerTraits(name, **traits)


RUNNERS: dict[str, RunnerEntry] = {
    entry.name: entry
    for entry in (
        RunnerEntry(
            "raw",
            "harness.runners.raw",
            {STREAM: "RawRunner", DATAGRAM: "RawDatagramRunner"},
            _traits("raw", one_client_at_a_time=True),
        ),
        RunnerEntry(
            "single",
            "harness.runners.single",
            {STREAM: "SingleRunner", DATAGRAM: "SingleDatagramRunner"},
            _traits("single", one_client_at_a_time=True),
        ),
        RunnerEntry(
            "threading",
            "harness.runners.thread_per_connection",
            {STREAM: "ThreadingRunner", DATAGRAM: "ThreadingDatagramRunner"},
            _traits("threading", multithread=True),
        ),
        RunnerEntry(
            "forking",
            "harness.runners.process_per_connection",
            {STREAM: "ForkingRunner", DATAGRAM: "ForkingDatagramRunner"},
            _traits("forking", multiprocess=True),
        ),
        RunnerEntry(
            "prefork-threads",
            "harness.runners.prefork_threads",
            {STREAM: "PreforkThreadsRunner"},
            _traits("prefork-threads", multithread=True),
        ),
        RunnerEntry(
            "prefork-processes",
            "harness.runners.prefork_processes",
            {STREAM: "PreforkProcessesRunner"},
            _traits("prefork-processes", multiprocess=True, event_loop=True),
        ),
        RunnerEntry(
            "select",
            "harness.runners.event_loops",
            {STREAM: "SelectRunner", DATAGRAM: "SelectDatagramRunner"},
            _traits("select", event_loop=True),
        ),
        RunnerEntry(
            "selectors",
            "harness.runners.event_loops",
            {STREAM: "SelectorsRunner", DATAGRAM: "SelectorsDatagramRunner"},
            _traits("selectors", event_loop=True),
        ),
        RunnerEntry(
            "asyncio",
            "harness.runners.asyncio_loop",
            {STREAM: "AsyncioRunner", DATAGRAM: "AsyncioDatagramRunner"},
            _traits("asyncio", event_loop=True),
        ),
        RunnerEntry(
            "uvloop",
            "harness.runners.asyncio_loop",
            {STREAM: "UvloopRunner", DATAGRAM: "UvloopDatagramRunner"},
            _traits("uvloop", event_loop=True),
            needs="uvloop",
        ),
        RunnerEntry(
            "fd-passing",
            "harness.runners.fd_passing",
            {STREAM: "FdPassingRunner"},
            _traits("fd-passing", multiprocess=True, event_loop=True),
        ),
        RunnerEntry(
            "wsgiref",
            "harness.runners.wsgiref_server",
            {WSGI: "WsgirefRunner"},
            _traits("wsgiref", one_client_at_a_time=True),
            reference=False,
        ),
        RunnerEntry(
            "stdlib-xmlrpc",
            "harness.runners.stdlib_xmlrpc",
            {XMLRPC: "StdlibXmlRpcRunner"},
            _traits("stdlib-xmlrpc", one_client_at_a_time=True),
        ),
    )
}


class UnknownRunnerError(LookupError):
    """The caller named a runner that is not registered, or one that cannot carry the service."""


class RunnerUnavailableError(RuntimeError):
    """The runner exists but its optional dependency is not installed."""


def runners_for(*kinds: str) -> list[str]:
    """Names of the runners that carry services of any of ``kinds`` (``stream``,
    ``datagram``, ``wsgi``: a service's ``kind.carried_by``), in registry order."""
    return [name for name, entry in RUNNERS.items() if entry.kinds.intersection(kinds)]


def one_client_at_a_time_runners() -> frozenset[str]:
    """The runners that serve one client at a time by design (derived, never listed by hand)."""
    return frozenset(name for name, entry in RUNNERS.items() if entry.traits.one_client_at_a_time)


def get_runner_entry(name: str) -> RunnerEntry:
    """The registry entry of runner ``name``.

    Raises:
        UnknownRunnerError: no such runner (the message lists the known ones).
    """
    try:
        return RUNNERS[name]
    except KeyError:
        known = ", ".join(RUNNERS)
        raise UnknownRunnerError(f"unknown runner {name!r}; known runners: {known}") from None


def kind_to_carry(name: str, kinds: tuple[str, ...]) -> str:
    """The first of ``kinds`` (a service's ``kind.carried_by``) that runner ``name`` carries.

    Raises:
        UnknownRunnerError: no such runner, or it carries none of ``kinds`` (the message
            lists the runners that do).
    """
    entry = get_runner_entry(name)
    for kind in kinds:
        if kind in entry.kinds:
            return kind
    raise UnknownRunnerError(
        f"runner {name!r} does not carry {' or '.join(kinds)} services; runners that do: "
        f"{' '.join(runners_for(*kinds))}"
    )


def load_runner(name: str, kind: str = STREAM) -> type[Runner]:
    """Import and return the class of runner ``name`` for services of ``kind``.

    Raises:
        UnknownRunnerError: no such runner (the message lists the known ones), or it does
            not carry ``kind`` (the message lists the runners that do).
        RunnerUnavailableError: its optional dependency is missing (the message says
            which package to install).
    """
    entry = get_runner_entry(name)
    if kind not in entry.classes:
        raise UnknownRunnerError(
            f"runner {name!r} does not carry {kind} services; runners that do: "
            f"{' '.join(runners_for(kind))}"
        )
    try:
        module = importlib.import_module(entry.module)
    except ImportError as exc:
        if entry.needs and exc.name == entry.needs:
            raise RunnerUnavailableError(
                f"runner {name!r} needs {entry.needs}: pip install 'wirecheck[all]'"
            ) from exc
        raise
    return getattr(module, entry.classes[kind])
