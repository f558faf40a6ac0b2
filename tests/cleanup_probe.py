"""Run a pytest session in this process and report what it left behind, as JSON on stdout.

``python -m tests.cleanup_probe -- PYTEST_ARGS...`` notes this process's threads and open
fds, runs ``pytest.main(PYTEST_ARGS)``, then notes them again. Processes are found by a
marker: the caller sets ``WIRECHECK_LEAK_MARKER`` in our environment, every process the
session starts inherits it, and the caller scans /proc for it once we have exited. Sockets
and ports belong to processes and fds, so the two checks together cover "no process,
thread, fd or port of ours is left".
"""

from __future__ import annotations

import gc
import json
import os
import sys
import threading

import pytest


def open_fds() -> dict[int, str]:
    fds = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            fds[int(name)] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            pass  # the fd listing's own fd, closed as we read
    return fds


def main(pytest_args: list[str]) -> int:
    threads_before = {thread.ident for thread in threading.enumerate()}
    fds_before = open_fds()
    exit_status = pytest.main(pytest_args)
    gc.collect()  # sockets dropped without close() would be closed here, and warned about
    leaked_threads = [t.name for t in threading.enumerate() if t.ident not in threads_before]
    leaked_fds = {fd: target for fd, target in open_fds().items() if fd not in fds_before}
    report = {"exit_status": int(exit_status), "threads": leaked_threads, "fds": leaked_fds}
    sys.__stdout__.write("\n" + json.dumps(report) + "\n")
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    sys.exit(main(args[1:] if args[:1] == ["--"] else args))
