"""A blocking accept loop that can be stopped, shared by ``raw`` and ``prefork-threads``.

Stopping a thread blocked in ``accept()`` is the classic difficulty of the chapter's plain
socket server. On Linux, ``shutdown(SHUT_RDWR)`` on a listening socket makes every blocked
``accept()`` fail at once with EINVAL, in every thread; :class:`StoppableListener` uses that,
and tells a real accept error from "we were stopped" by the flag it sets first.
"""

from __future__ import annotations

import socket
import threading
from typing import Callable

from harness.runners.base import log


class StoppableListener:
    """A listening socket whose blocking accepts can all be ended by :meth:`stop`.

    Args:
        listener: a listening TCP socket, in blocking mode.
    """

    def __init__(self, listener: socket.socket) -> None:
        self._listener = listener
        self._stopping = threading.Event()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def stop(self) -> None:
        """Wake every thread blocked in :meth:`accept_forever`. Signal-safe, idempotent."""
        self._stopping.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # not connected / already shut: nothing to wake

    def accept_forever(self, handle: Callable[[socket.socket], None]) -> None:
        """Accept connections and pass each to ``handle`` until :meth:`stop`.

        Args:
            handle: called in this thread with each accepted socket, which it must close.
        """
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError as exc:
                if self._stopping.is_set():
                    return
                # EMFILE, ECONNABORTED...: the process is short of fds or the peer left
                # before we accepted. Neither is fatal to the server.
                log.warning("accept failed: %r", exc)
                continue
            handle(conn)
