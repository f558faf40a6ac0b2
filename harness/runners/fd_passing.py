"""``fd-passing``: one process accepts, and hands each connection's descriptor to a worker.

This is the socket-passing idea of the Python Cookbook's recipe 11.11: the process that
receives connections need not be the process that serves them. A descriptor is sent to
another process over a Unix-domain socket as ``SCM_RIGHTS`` ancillary data, and the stdlib
wraps that in two calls of ``multiprocessing.reduction``: ``send_handle(conn, handle,
destination_pid)`` ("Send a handle over a local connection.") and ``recv_handle(conn)``
("Receive a handle over a local connection."), where ``conn`` is a
``multiprocessing.connection.Connection``. Here every worker has its own
``multiprocessing.Pipe()`` (a socketpair on Unix) to the acceptor; nothing else travels on it.

Theory of operation:

- The parent (the acceptor) binds, starts N workers, then waits in one ``selectors`` loop on
  three things: the listening socket, each worker's sentinel (readable when it exits), and a
  wake-up socketpair for stops. Each accepted connection goes to the next worker in turn
  (round robin) with ``send_handle``; the parent then closes its copy, so the worker alone
  owns the connection and its close is the real close.
- Each worker runs the ``selectors`` event loop, and accepts from its pipe as if it were a
  listening socket: a :class:`HandoffChannel` is an ``accept()`` that calls ``recv_handle``,
  so the loop's own ``ListenerHandler`` turns each descriptor into a connection handler, and
  the connection is served by exactly the code of ``selectors`` and ``prefork-processes``.
  Why an event loop per worker and not a thread per connection: a worker serves many
  connections at once with no thread each, N workers use N cores, and the worker is the same
  loop the other event-loop runners are judged on, so a difference in the comparison is the
  hand-off's cost, not another driver's.
- Hand-offs are non-blocking. A worker that is slow to take its descriptors fills its pipe;
  the next worker gets the connection instead. When every pipe is full, the parent keeps the
  one connection it holds, stops accepting (new clients wait in the kernel's backlog) and
  waits for a pipe to drain: back-pressure, not a dropped client.
- Workers are forked (the ``fork`` start method, asked for by name because it is not the
  default everywhere): the protocol factory, which may hold a TLS context and closures, is
  inherited as it is, never pickled. Each worker first closes everything of the parent's it
  inherited (the listening socket, the other workers' pipes, the parent's selector), so that
  a worker sees EOF on its pipe when the parent is gone, and stops instead of lingering.

Supervision: a worker that dies is reported (logged with its exit code) and replaced;
descriptors still queued in its pipe are closed with the pipe, so those clients see their
connection end, never a hang. A worker that dies within ``RESPAWN_MIN_LIFETIME_S`` of its start is
replaced only after that delay, so a worker that cannot start cannot spin the parent. A stop
(SIGTERM/SIGINT) stops accepting, SIGTERMs every worker, waits up to ``STOP_GRACE_S``,
SIGKILLs any left, and reaps them all.

Known limits: round robin does not know how busy a worker is, so a worker holding many
long-lived connections keeps getting its share of new ones (the kernel's spread in
``prefork-processes`` is no wiser). Every connection costs the parent an ``accept``, a
``sendmsg`` and a ``close``, all on one core: the acceptor, not the workers, is the ceiling for
short connections. Workers share nothing, so a service with server-wide state (none of the
stream services have any) would see N copies.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import selectors
import signal
import socket
import time
from dataclasses import dataclass
from multiprocessing.context import ForkProcess
from multiprocessing.reduction import recv_handle, send_handle
from typing import Callable

from harness.runners.base import STOP_GRACE_S, STOP_SIGNALS, Runner, log, stop_signals_blocked, unblock_stop_signals
from harness.runners.event_loops import ACCEPTS_PER_WAKEUP, ListenerHandler, SelectorLoop

# A worker that dies sooner than this after its start is restarted only this long after its
# start: a worker that crashes at once (a broken protocol factory) costs one start a second,
# not a busy loop.
RESPAWN_MIN_LIFETIME_S = 1.0

# Kernel queue of the parent's end of each pipe: each hand-off is one byte plus a descriptor,
# which the kernel accounts at several hundred bytes, so Linux's default (~208 KiB) holds a few
# hundred waiting hand-offs per worker. Asking for 1 MiB (the kernel caps it at wmem_max)
# lets a burst of connects queue rather than stall the acceptor.
HANDOFF_SEND_BUFFER_BYTES = 1 << 20


class HandoffChannel:
    """The worker's end of its pipe, shaped like a listening socket for ``ListenerHandler``.

    ``accept()`` receives one descriptor with ``recv_handle`` and returns it as a socket,
    so the event loop's listener handler serves handed-off connections exactly as it serves
    accepted ones.

    Args:
        channel: the worker's end of the pipe.
        on_eof: called once when the parent's end is closed (the parent is gone).

    Resource handling: owns ``channel``; :meth:`close` closes it. A received descriptor is
    owned by the returned socket.
    """

    def __init__(self, channel: multiprocessing.connection.Connection, on_eof: Callable[[], None]) -> None:
        self._channel = channel
        self._on_eof = on_eof

    def fileno(self) -> int:
        return self._channel.fileno()

    def setblocking(self, flag: bool) -> None:
        os.set_blocking(self._channel.fileno(), flag)

    def accept(self) -> tuple[socket.socket, None]:
        """The next handed-off connection.

        Raises:
            BlockingIOError: none is waiting (also after the parent's EOF, once reported).
        """
        try:
            descriptor = recv_handle(self._channel)
        except EOFError:
            self._on_eof()
            raise BlockingIOError("the acceptor closed the hand-off pipe") from None
        return socket.socket(fileno=descriptor), None  # family and type read from the descriptor

    def close(self) -> None:
        self._channel.close()


@dataclass
class Worker:
    """One worker process and the parent's end of its hand-off pipe.

    Attributes:
        slot: its place in the pool (kept by its replacement).
        process: the forked process; its ``sentinel`` is readable once it has exited.
        channel: the parent's end of the pipe, non-blocking.
        started: ``time.monotonic()`` at its start.
        takes_handoffs: False once a hand-off found its pipe broken (it is dying).
    """

    slot: int
    process: ForkProcess
    channel: multiprocessing.connection.Connection
    started: float
    takes_handoffs: bool = True


class FdPassingRunner(Runner):
    """An accepting parent and N event-loop workers fed descriptors over multiprocessing pipes."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._stop_requested = False
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._workers: dict[int, Worker] = {}  # by slot
        self._restarts_due: dict[int, float] = {}  # slot -> monotonic time
        self._next_slot = 0
        self._held: socket.socket | None = None  # accepted, waiting for a pipe with room
        self._fork = multiprocessing.get_context("fork")

    # --- the parent ---------------------------------------------------------------------

    def serve(self) -> None:
        count = self.options.workers or os.cpu_count() or 2
        try:
            self.listener.setblocking(False)
            self._selector.register(self._wake_reader, selectors.EVENT_READ, self._drain_wake)
            self._selector.register(self.listener, selectors.EVENT_READ, self._accept_batch)
            for slot in range(count):
                self._start_worker(slot)
            while not self._stop_requested:
                for key, _events in self._selector.select(self._seconds_to_next_restart()):
                    if self._stop_requested:
                        break
                    key.data()
                self._restart_due_workers()
        finally:
            self._stop_workers()
            self._close_acceptor_objects()

    def request_stop(self) -> None:
        self._stop_requested = True
        try:
            self._wake_writer.send(b"\0")
        except OSError:
            pass  # buffer full (a wake is pending) or already closed

    def _drain_wake(self) -> None:
        try:
            while self._wake_reader.recv(4096):
                pass
        except BlockingIOError:
            pass

    def _accept_batch(self) -> None:
        for _ in range(ACCEPTS_PER_WAKEUP):  # bounded, so exits and stops get their turn
            try:
                conn, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # EMFILE, ECONNABORTED: not fatal to the server
                log.warning("accept failed: %r", exc)
                return
            if not self._hand_off(conn):
                self._hold(conn)
                return

    def _hand_off(self, conn: socket.socket) -> bool:
        """Send ``conn`` to the next worker that can take it; True once one has.

        Resource handling: on success the parent's copy of ``conn`` is closed (the worker owns
        the connection now); on failure ``conn`` is left open for the caller.
        """
        slots = sorted(self._workers)
        for offset in range(len(slots)):
            worker = self._workers[slots[(self._next_slot + offset) % len(slots)]]
            if not worker.takes_handoffs:
                continue
            try:
                send_handle(worker.channel, conn.fileno(), worker.process.pid)
            except BlockingIOError:
                continue  # this worker's pipe is full: try the next one
            except OSError as exc:  # EPIPE/ECONNRESET: the worker is gone; its sentinel will say so
                log.debug("worker %s did not take a connection: %r", worker.process.pid, exc)
                worker.takes_handoffs = False
                continue
            self._next_slot = (self._next_slot + offset + 1) % len(slots)
            conn.close()
            return True
        return False

    def _hold(self, conn: socket.socket) -> None:
        """Every pipe is full: keep ``conn``, stop accepting, wait for a pipe to drain."""
        self._held = conn
        self._selector.unregister(self.listener)
        for worker in self._workers.values():
            if worker.takes_handoffs:
                self._selector.register(worker.channel, selectors.EVENT_WRITE, self._retry_held)

    def _retry_held(self) -> None:
        if self._held is None or not self._hand_off(self._held):
            return  # handed off earlier in this pass, or still no room
        self._held = None
        self._unwatch_channels()
        self._selector.register(self.listener, selectors.EVENT_READ, self._accept_batch)

    def _unwatch_channels(self) -> None:
        for worker in self._workers.values():
            try:
                self._selector.unregister(worker.channel)
            except KeyError:
                pass  # not being watched

    def _start_worker(self, slot: int) -> None:
        parent_end, worker_end = multiprocessing.Pipe(duplex=True)
        process = self._fork.Process(
            target=self._run_worker, args=(worker_end, parent_end), name=f"fd-passing-worker-{slot}", daemon=True
        )
        with stop_signals_blocked():  # a stop during the fork waits for the worker's own handlers
            process.start()
        worker_end.close()
        with socket.fromfd(parent_end.fileno(), socket.AF_UNIX, socket.SOCK_STREAM) as duplicate:
            duplicate.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, HANDOFF_SEND_BUFFER_BYTES)
        os.set_blocking(parent_end.fileno(), False)
        worker = Worker(slot, process, parent_end, time.monotonic())
        self._workers[slot] = worker
        self._selector.register(process.sentinel, selectors.EVENT_READ, lambda: self._worker_exited(worker))
        if self._held is not None:
            self._selector.register(parent_end, selectors.EVENT_WRITE, self._retry_held)

    def _worker_exited(self, worker: Worker) -> None:
        self._selector.unregister(worker.process.sentinel)
        worker.process.join()  # reaps it: the sentinel says it has exited
        try:
            self._selector.unregister(worker.channel)
        except KeyError:
            pass
        worker.channel.close()  # descriptors still queued in the pipe are closed with it
        del self._workers[worker.slot]
        log.warning(
            "worker %d exited (code %s); starting another", worker.process.pid, worker.process.exitcode
        )
        self._restarts_due[worker.slot] = worker.started + RESPAWN_MIN_LIFETIME_S

    def _seconds_to_next_restart(self) -> float | None:
        if not self._restarts_due:
            return None
        return max(0.0, min(self._restarts_due.values()) - time.monotonic())

    def _restart_due_workers(self) -> None:
        now = time.monotonic()
        for slot, due in list(self._restarts_due.items()):
            if due <= now and not self._stop_requested:
                del self._restarts_due[slot]
                self._start_worker(slot)

    def _stop_workers(self) -> None:
        workers = list(self._workers.values())
        for worker in workers:
            worker.channel.close()
            if worker.process.exitcode is None:
                worker.process.terminate()  # SIGTERM: the worker's loop stops and closes its connections
        deadline = time.monotonic() + STOP_GRACE_S
        for worker in workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.exitcode is None:
                log.warning("worker %d ignored SIGTERM; killing it", worker.process.pid)
                worker.process.kill()
                worker.process.join()
        self._workers.clear()

    # --- a worker -----------------------------------------------------------------------

    def _run_worker(
        self, channel: multiprocessing.connection.Connection, own_parent_end: multiprocessing.connection.Connection
    ) -> None:
        """A worker's whole life, in the forked process: serve what the pipe brings until stopped.

        Runs in the child only (multiprocessing's bootstrap ends it with ``os._exit``, so no
        code of the parent's runs after it). Closing the inherited parent objects closes only
        this process's copies of their descriptors.
        """
        self._close_parent_descriptors(own_parent_end)
        loop = SelectorLoop(self.options.idle_timeout)
        for signum in STOP_SIGNALS:
            signal.signal(signum, lambda _signum, _frame: loop.stop())
        unblock_stop_signals()  # blocked across the fork; a stop sent meanwhile lands now
        loop.add(ListenerHandler(HandoffChannel(channel, loop.stop), loop, self.protocol_factory, self.traits))
        loop.run()  # closes every connection and the pipe on the way out

    def _close_parent_descriptors(self, own_parent_end: multiprocessing.connection.Connection) -> None:
        own_parent_end.close()
        for worker in self._workers.values():
            worker.channel.close()
        self._close_acceptor_objects()

    def _close_acceptor_objects(self) -> None:
        """Close the listener, the held connection, the selector and the wake-up pair (in the
        parent once it has stopped; in a worker, its inherited copies)."""
        if self._held is not None:
            self._held.close()
        self._selector.close()
        self.listener.close()
        self._wake_reader.close()
        self._wake_writer.close()
