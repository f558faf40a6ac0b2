"""``prefork-threads``: the chapter's pool, N threads accepting on one listening socket.

The chapter builds its pool as ``for n in range(nworkers): Thread(target=serv.serve_forever)``
on one plain TCPServer. That shape has two bugs we do not copy: ``serve_forever`` resets the
shared shutdown flag in its ``finally``, so ``shutdown()`` stops only one of the N loops; and
after a select() wake-up every loop races to a blocking ``accept()``, the losers staying
blocked where no flag can reach them. Here each pool thread runs a plain blocking accept
loop on the shared socket (the kernel hands each connection to exactly one waiting thread),
and a stop shuts the listener down, which wakes every blocked ``accept()`` at once.

Known limit, by design: at most N clients are served at once (``DEFAULT_WORKERS``); the
N+1th waits in the backlog until a thread is free. That bound is the point of a pool.
"""

from __future__ import annotations

import socket
import threading

from harness.runners.accept_loop import StoppableListener
from harness.runners.base import STOP_GRACE_S, Runner, log, stop_signals_blocked
from harness.runners.blocking import ConnectionTracker

# The chapter's nworkers = 16.
DEFAULT_WORKERS = 16


class PreforkThreadsRunner(Runner):
    """A fixed pool of threads, each accepting and serving one connection at a time."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._accepting = StoppableListener(self.listener)
        self._connections = ConnectionTracker()
        self._stop_requested = threading.Event()

    def _serve_one(self, conn: socket.socket) -> None:
        self._connections.serve(conn, self.protocol_factory(), self.options.idle_timeout, self.traits)

    def serve(self) -> None:
        workers = self.options.workers or DEFAULT_WORKERS
        pool = [
            threading.Thread(
                target=self._accepting.accept_forever,
                args=(self._serve_one,),
                name=f"pool-{n}",
            )
            for n in range(workers)
        ]
        # The pool threads start with the stop signals blocked (a thread inherits its creator's
        # mask), so the kernel hands a SIGTERM to the main thread, the one waiting for it. A
        # signal taken by a pool thread returning from accept() or recv() runs Python's
        # handler nowhere: the main thread sleeps on in its lock wait and the stop is lost (a
        # CI run saw a stop ignored until the launcher's SIGKILL, with nothing logged).
        with stop_signals_blocked():
            for thread in pool:
                thread.start()
        try:
            self._stop_requested.wait()  # the signal interrupts this lock wait, in this thread
        finally:
            self._accepting.stop()
            self._connections.shutdown_all()
            for thread in pool:
                thread.join(STOP_GRACE_S)
                if thread.is_alive():
                    log.warning("pool thread %s did not stop in %.0f s", thread.name, STOP_GRACE_S)
            self.listener.close()

    def request_stop(self) -> None:
        self._stop_requested.set()
