"""``prefork-processes``: N worker processes forked before accepting, one listening socket.

The parent binds, forks N workers and then only supervises; each worker runs the
``selectors`` event loop on the inherited listening socket, so every worker serves many
connections at once and the kernel spreads new connections over whichever workers are
waiting (nginx's structure; Apache's prefork differs in serving one connection per worker).
This uses every core, which no single-process Python model can.

Supervision: a worker that dies unexpectedly is replaced (and logged), so one crash does
not shrink the pool for good. A stop SIGTERMs every worker by pid, waits up to
``STOP_GRACE_S``, SIGKILLs any left, and reaps them all.

Known limits: all workers wake on each new connection and race for it (the thundering herd;
EPOLLEXCLUSIVE is not reachable through ``selectors``); a worker that loses the race gets
EAGAIN and waits again, costing a wake-up, not correctness. Workers share nothing, so a
service that keeps server-wide state (none of the stream services do) would see N copies.
"""

from __future__ import annotations

import os
import signal
import threading
import time

from harness.runners.base import (
    STOP_GRACE_S,
    STOP_SIGNALS,
    Runner,
    log,
    stop_signals_blocked,
    unblock_stop_signals,
)
from harness.runners.event_loops import ListenerHandler, SelectorLoop

# How often the parent checks for dead workers while waiting for a stop.
SUPERVISE_INTERVAL_S = 1.0


class PreforkProcessesRunner(Runner):
    """N forked workers, each an epoll loop on the shared listening socket."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._stop_requested = threading.Event()
        self._workers: set[int] = set()

    def serve(self) -> None:
        count = self.options.workers or os.cpu_count() or 2
        try:
            for _ in range(count):
                self._spawn_worker()
            while not self._stop_requested.wait(SUPERVISE_INTERVAL_S):
                self._replace_dead_workers()
        finally:
            self._stop_workers()
            self.listener.close()

    def request_stop(self) -> None:
        self._stop_requested.set()

    def _spawn_worker(self) -> None:
        with stop_signals_blocked():
            pid = os.fork()
            if pid == 0:
                self._become_worker()
        self._workers.add(pid)

    def _become_worker(self) -> None:
        """The worker's whole life, ending in ``os._exit``: it never returns into the parent's
        code (whose ``finally`` blocks would stop "its" workers and close the listener)."""
        status = 1
        try:
            self._run_worker()
            status = 0
        except BaseException:  # the worker's one error boundary: log, exit non-zero
            log.exception("worker %d crashed", os.getpid())
        finally:
            os._exit(status)

    def _run_worker(self) -> None:
        loop = SelectorLoop(self.options.idle_timeout)
        for signum in STOP_SIGNALS:
            signal.signal(signum, lambda _signum, _frame: loop.stop())
        unblock_stop_signals()  # blocked across the fork; a stop sent meanwhile lands now
        loop.add(ListenerHandler(self.listener, loop, self.protocol_factory, self.traits))
        loop.run()

    def _replace_dead_workers(self) -> None:
        for pid in list(self._workers):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                self._workers.discard(pid)
                log.warning("worker %d exited (status %#x); starting another", pid, status)
                if not self._stop_requested.is_set():
                    self._spawn_worker()

    def _stop_workers(self) -> None:
        for pid in self._workers:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + STOP_GRACE_S
        while self._workers and time.monotonic() < deadline:
            for pid in list(self._workers):
                if os.waitpid(pid, os.WNOHANG)[0]:
                    self._workers.discard(pid)
            if self._workers:
                time.sleep(0.01)  # polling waitpid: there is no fd to wait on for a child
        for pid in self._workers:
            log.warning("worker %d ignored SIGTERM; killing it", pid)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        self._workers.clear()
