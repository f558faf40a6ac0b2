"""Start a server as a subprocess, wait for its READY line, and stop it by its pid.

Everything wirecheck starts — a reference server, a mutant from the zoo, a recipe that
wraps a third-party server — is a command that prints ``READY <tcp|udp|tls> <host>:<port>``
on stdout once it is listening (the ``wirecheck serve`` contract). Waiting on that line,
never on a sleep, is how the suites know a server is up; a deadline on it is how they
know it never will be, and then the error carries what the server printed.

Resource handling: :func:`launch_command` returns a :class:`RunningServer` that owns the
process; :meth:`RunningServer.stop` (or leaving the ``with`` block) sends SIGTERM to that
pid, waits, then SIGKILLs the process group the server leads (each server is started in a
session of its own, so its group is exactly its own processes).
"""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import IO, Collection, Mapping, Sequence

READY_PATTERN = re.compile(rb"^READY (tcp|udp|tls) \[?([^\]\s]+?)\]?:(\d+)\r?\n$")

# A Python server imports, binds and prints in well under a second; xinetd and friends a
# little more. Ten seconds is generous on a loaded 2-core CI machine and still bounded.
DEFAULT_READY_TIMEOUT_S = 10.0

# How long a server has to exit after SIGTERM before it is killed: runners themselves wait up
# to 5 s for their children, so give them that and a little more.
DEFAULT_STOP_TIMEOUT_S = 8.0


class LaunchError(RuntimeError):
    """The server did not come up: it exited, printed something else, or said nothing in time.

    The message includes the command and everything the server wrote to stdout and stderr.
    """


@dataclass
class RunningServer:
    """A server process that printed READY.

    Attributes:
        argv: the command that started it.
        transport: ``tcp``, ``udp`` or ``tls``, from the READY line.
        host: the address it listens on, from the READY line.
        port: the port it listens on, from the READY line.
        process: the process; stopped by :meth:`stop`.
    """

    argv: list[str]
    transport: str
    host: str
    port: int
    process: subprocess.Popen
    _stderr: IO[bytes] = field(repr=False)
    exit_status: int | None = None
    _final_stderr: str | None = field(default=None, repr=False)

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    @property
    def pid(self) -> int:
        return self.process.pid

    def stderr_text(self) -> str:
        """Everything the server wrote to stderr so far (for error messages)."""
        if self._final_stderr is not None:
            return self._final_stderr
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")

    def stop(self, timeout: float = DEFAULT_STOP_TIMEOUT_S) -> int:
        """SIGTERM the server, wait up to ``timeout``, then SIGKILL its process group.

        Returns:
            The exit status (negative for a signal, as subprocess reports it). A reference
            server stopped cleanly returns 0.
        """
        if self.exit_status is not None:
            return self.exit_status
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        # Kill stragglers of the group (a child the server failed to reap), then the leader.
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.exit_status = self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()
        self._final_stderr = self.stderr_text()
        self._stderr.close()
        return self.exit_status

    def __enter__(self) -> "RunningServer":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def processes_in_session(session_id: int) -> list[int]:
    """Pids of the live (non-zombie) processes in a session, read from /proc.

    Every server the launcher starts leads a session of its own, so after a stop this is
    exactly "what of that server is still running": a child it failed to reap, a worker
    that ignored SIGTERM. Linux-only, as /proc is.
    """
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat_file:
                stat = stat_file.read()
        except OSError:
            continue  # exited while we looked
        # Fields after the command name (which may hold spaces) in parentheses:
        # state, ppid, pgrp, session, ...
        fields = stat[stat.rindex(b")") + 2 :].split()
        if int(fields[3]) == session_id and fields[0] not in (b"Z", b"X"):  # not dead or dying
            members.append(int(entry.name))
    return members


def serve_command(
    service: str,
    runner: str,
    *,
    host: str = "127.0.0.1",
    workers: int | None = None,
    options: Mapping[str, str] | None = None,
    tls_files: tuple[str, str] | None = None,
) -> list[str]:
    """The argv of ``wirecheck serve`` for this interpreter (no reliance on PATH).

    Args:
        options: service options, each passed as ``--option NAME=VALUE``.
        tls_files: ``(certificate chain, private key)`` PEM files: serve over TLS with them.
    """
    argv = [sys.executable, "-m", "harness", "serve", service, "--runner", runner, "--host", host]
    if workers is not None:
        argv += ["--workers", str(workers)]
    for name, value in (options or {}).items():
        argv += ["--option", f"{name}={value}"]
    if tls_files is not None:
        argv += ["--tls", "--cert", tls_files[0], "--key", tls_files[1]]
    return argv


# What stands in for a secret value in any argv we show (error messages, reprs).
HIDDEN_VALUE = "(secret)"


def hide_values(argv: Sequence[str], hidden: Collection[str]) -> list[str]:
    """``argv`` with every occurrence of each ``hidden`` string (a shared key) replaced."""
    shown = []
    for argument in argv:
        for value in hidden:
            if value:
                argument = argument.replace(value, HIDDEN_VALUE)
        shown.append(argument)
    return shown


def launch_command(
    argv: Sequence[str],
    *,
    ready_timeout: float = DEFAULT_READY_TIMEOUT_S,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
    hidden: Collection[str] = (),
) -> RunningServer:
    """Start ``argv`` and wait for its READY line.

    Args:
        argv: a command that prints ``READY <tcp|udp> <host>:<port>`` once listening.
        ready_timeout: seconds to wait for that line.
        env: environment for the child (default: ours).
        cwd: working directory for the child.
        hidden: secret values in ``argv``; the returned server's ``argv`` and any error
            message show them as ``(secret)``.

    Returns:
        The running server.

    Raises:
        LaunchError: the process exited, printed another first line, or was silent past the
            deadline; it has been stopped, and the message holds its output.

    Resource handling: on success the caller owns the returned server and must stop it.
    """
    stderr_file = tempfile.TemporaryFile()
    process = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr_file,
        env=env,
        cwd=cwd,
        start_new_session=True,  # its own process group: a Ctrl-C to pytest is ours to forward
    )
    shown_argv = hide_values(argv, hidden)
    line, reached_eof = _read_first_line(process, ready_timeout)
    match = READY_PATTERN.match(line)
    if match is None:
        exited_by_itself = process.poll() is not None
        if reached_eof and not exited_by_itself:
            try:  # stdout closed: the exit is a moment away, give it that moment
                process.wait(timeout=2.0)
                exited_by_itself = True
            except subprocess.TimeoutExpired:
                pass
        partial = RunningServer(shown_argv, "tcp", "", 0, process, stderr_file)
        status = partial.stop(timeout=2.0)
        stderr_file_text = partial.stderr_text()
        if line:
            what = f"printed {line[:200]!r} instead of a READY line"
        elif exited_by_itself:
            what = "exited before printing a READY line"
        elif reached_eof:
            what = "closed its standard output before printing a READY line"
        else:
            what = f"said nothing within {ready_timeout:g} s"
        raise LaunchError(
            f"server did not come up: {what} (exit status {status})\n"
            f"  command: {' '.join(shown_argv)}\n  stderr: {stderr_file_text.strip()[-2000:] or '(empty)'}"
        )
    transport, host, port = match.group(1).decode(), match.group(2).decode(), int(match.group(3))
    return RunningServer(shown_argv, transport, host, port, process, stderr_file)


def launch_server(
    service: str,
    runner: str,
    *,
    host: str = "127.0.0.1",
    workers: int | None = None,
    ready_timeout: float = DEFAULT_READY_TIMEOUT_S,
    options: Mapping[str, str] | None = None,
    secret_options: Collection[str] = (),
    tls_files: tuple[str, str] | None = None,
) -> RunningServer:
    """Start a reference server (``SERVICES[service] x RUNNERS[runner]``) on an ephemeral port.

    Args:
        options: service options (``--option NAME=VALUE``).
        secret_options: the names among ``options`` whose values are never shown.
        tls_files: ``(certificate chain, private key)``: serve over TLS (READY says ``tls``).

    Raises:
        LaunchError: as :func:`launch_command`.
    """
    options = dict(options or {})
    # Secrets go in the environment, never on the command line (which every local user can
    # read in /proc/PID/cmdline): ``wirecheck serve`` reads them from there.
    environment = dict(os.environ)
    for name in secret_options:
        if name in options:
            environment["WIRECHECK_OPTION_" + name.replace("-", "_").upper()] = options.pop(name)
    return launch_command(
        serve_command(service, runner, host=host, workers=workers, options=options, tls_files=tls_files),
        ready_timeout=ready_timeout,
        env=environment,
    )


def _read_first_line(process: subprocess.Popen, timeout: float) -> tuple[bytes, bool]:
    """Read stdout up to the first newline, EOF or the deadline, without ever blocking past it.

    Returns the bytes read and whether stdout reached EOF. EOF is reported apart from the
    deadline because a crashing child closes stdout a moment before it can be reaped: asking
    ``poll()`` right then would call a crash "said nothing in time".
    """
    assert process.stdout is not None
    fd = process.stdout.fileno()
    deadline = time.monotonic() + timeout
    line = bytearray()
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while not line.endswith(b"\n") and len(line) < 4096:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                break
            chunk = os.read(fd, 1)  # one byte at a time: nothing past the line is consumed
            if not chunk:
                return bytes(line), True
            line += chunk
    return bytes(line), False

