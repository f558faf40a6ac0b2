"""``forking``: ``socketserver.ForkingTCPServer``, a new process per connection.

Each connection gets a forked child, so a crash or a CPU-bound request in one cannot touch
the others, at the price of a fork (~1 ms) per connection and a process each.

Known limits:

- ``max_children``: socketserver's default of 40 is raised to 256 (``MAX_CHILDREN``). With
  that many live children the accept loop blocks in ``waitpid`` until one exits, so further
  clients wait in the backlog; that is ForkingMixIn's own bound on a connection flood.
- For UDP (``ForkingUDPServer``) the unit is a datagram: a fork per request.
- The child inherits the parent's signal handlers; it restores the default SIGTERM/SIGINT
  actions first thing, so a stop (SIGTERM from the parent) ends it at once. The stop signals
  are blocked across the fork so that none lands in the window before that.
"""

from __future__ import annotations

import gc
import os
import signal
import socketserver
import time

from harness.runners.base import (
    STOP_GRACE_S,
    STOP_SIGNALS,
    log,
    stop_signals_blocked,
    unblock_stop_signals,
)
from harness.runners.socketserver_base import SocketServerDatagramRunner, SocketServerRunner

# socketserver's 40 starves a 50-user load test; 256 processes of a few MB each are
# affordable on the 24 GiB machines this runs on.
MAX_CHILDREN = 256


class _ForkingBehaviour:
    """Child bookkeeping shared by the TCP and UDP forking runners."""

    server: socketserver.ForkingMixIn

    def configure(self, server: socketserver.TCPServer) -> None:
        server.max_children = MAX_CHILDREN
        server.block_on_close = True
        # Everything imported so far is shared with each child until written to; a garbage
        # collection in a child writes to the header of every object it examines, which
        # copies the pages of the whole inherited heap into each child. Frozen objects are
        # never examined (gc.freeze's documented use: before fork, after imports).
        gc.freeze()

    def handle_one_request(self) -> None:
        with stop_signals_blocked():  # process_request forks in here
            super().handle_one_request()  # type: ignore[misc]

    def before_connection(self) -> None:
        # In the child: the parent's handlers would only set the parent's (copied) flag.
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_DFL)
        unblock_stop_signals()

    def shutdown_children(self) -> None:
        children = set(self.server.active_children or ())
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + STOP_GRACE_S
        while self.server.active_children and time.monotonic() < deadline:
            self.server.collect_children()  # non-blocking waitpid on each child
            if self.server.active_children:
                time.sleep(0.01)  # polling waitpid: there is no fd to wait on for a child
        for pid in set(self.server.active_children or ()):
            log.warning("child %d ignored SIGTERM; killing it", pid)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


class ForkingRunner(_ForkingBehaviour, SocketServerRunner):
    """socketserver.ForkingTCPServer: one child process per connection, reaped at stop."""

    server_class = socketserver.ForkingTCPServer


class ForkingDatagramRunner(_ForkingBehaviour, SocketServerDatagramRunner):
    """socketserver.ForkingUDPServer: one child process per datagram, reaped at stop."""

    server_class = socketserver.ForkingUDPServer
