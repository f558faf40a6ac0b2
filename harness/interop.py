"""The cross-interpreter matrix: every interpreter's Listener against every interpreter's Client.

``wirecheck matrix`` finds the CPython interpreters on the machine (this one, pyenv's
``$PYENV_ROOT/versions/*/bin/python``, and any ``--interpreter PATH``), then for each pair
(Listener interpreter x Client interpreter) runs the stdlib ``multiprocessing.connection``
over loopback with a random authkey and records:

- whether the mutual handshake and a raw frame (``send_bytes``/``recv_bytes``) got through;
- whether a pickled object got through both ways: the Listener *unpickles* the Client's
  object (``recv``) and sends it back pickled by itself (``send``), so each side must read the
  other's pickle protocol (a 3.8+ Client's protocol 4 is unreadable to a 2.7 Listener);
- the pickle protocol each side sent, and the first error met.

Theory of operation: one Listener process per Listener interpreter (a small peer script run
by that interpreter, written for 2.7 and 3.x alike, printing the READY line), and one Client
process per pair; every wait is bounded, every process stopped by its pid. The key travels
in the Listener's environment and on the Client's stdin, never on a command line, and is
never printed. Results: JSON (one record per pair, with the machine, the date and the run's
wall time, as a suite's results file names them) and a Markdown N x N table. :func:`read_matrix`
reads the JSON back and refuses a file that is not a whole N x N matrix; the README's matrix
is generated from the committed one (results/matrix/) as the findings tables are.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import secrets
import subprocess
import sys
import textwrap
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import harness
from harness.launch import LaunchError, launch_command
from harness.provenance import machine_description

# How long one Client may take for the handshake and two round trips (interpreter start-up
# included, on a loaded 2-core machine).
CLIENT_TIMEOUT_S = 30.0

# How long asking an interpreter for its version may take.
PROBE_TIMEOUT_S = 20.0

KEY_VARIABLE = "WIRECHECK_MATRIX_AUTHKEY"

# What the Client sends as an object: types every interpreter from 2.7 on pickles alike.
MATRIX_OBJECT_TEXT = '{"answer": [42, u"text", 1.5, None, True]}'

LISTENER_SCRIPT = textwrap.dedent(
    """
    import binascii, os, sys, threading
    from multiprocessing.connection import Listener
    key = binascii.unhexlify(os.environ["%s"])
    listener = Listener(("127.0.0.1", 0), backlog=64, authkey=key)
    sys.stdout.write("READY tcp 127.0.0.1:%%d\\n" %% listener.address[1])
    sys.stdout.flush()

    def serve(connection):
        try:
            connection.send_bytes(connection.recv_bytes())
            try:
                received = connection.recv()
            except Exception as error:
                text = "LISTENER-ERROR %%s: %%s" %% (type(error).__name__, error)
                connection.send_bytes(text.encode("utf-8"))
                return
            connection.send(received)
        except Exception:
            pass
        finally:
            connection.close()

    while True:
        try:
            connection = listener.accept()
        except Exception:
            if hasattr(sys, "exc_clear"):
                sys.exc_clear()  # Python 2 would keep the refused connection alive
            continue
        worker = threading.Thread(target=serve, args=(connection,))
        worker.daemon = True
        worker.start()
    """
    % KEY_VARIABLE
)

CLIENT_SCRIPT = textwrap.dedent(
    """
    import binascii, json, pickle, sys
    from multiprocessing.connection import Client
    record = {"raw": False, "objects": False, "client_protocol": None, "listener_protocol": None, "error": None}
    try:
        key = binascii.unhexlify(sys.stdin.read().strip())
        value = %s
        try:
            from multiprocessing.reduction import ForkingPickler
            mine = bytes(ForkingPickler.dumps(value))
        except (ImportError, AttributeError):  # Python 2: Connection.send pickles with the highest protocol
            mine = pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
        record["client_protocol"] = ord(mine[1:2]) if mine[:1] == b"\\x80" else 0
        connection = Client((sys.argv[1], int(sys.argv[2])), authkey=key)
        connection.send_bytes(b"raw frame")
        record["raw"] = connection.recv_bytes() == b"raw frame"
        connection.send(value)
        reply = connection.recv_bytes()
        if reply.startswith(b"LISTENER-ERROR"):
            record["error"] = "Listener: " + reply[len(b"LISTENER-ERROR "):].decode("utf-8", "replace")
        else:
            record["listener_protocol"] = ord(reply[1:2]) if reply[:1] == b"\\x80" else 0
            try:
                record["objects"] = pickle.loads(reply) == value
            except Exception as error:
                record["error"] = "Client: %%s: %%s" %% (type(error).__name__, error)
        connection.close()
    except Exception as error:
        record["error"] = record["error"] or "Client: %%s: %%s" %% (type(error).__name__, error)
    sys.stdout.write(json.dumps(record) + "\\n")
    """
    % MATRIX_OBJECT_TEXT
)


@dataclass(frozen=True)
class Interpreter:
    """A Python interpreter found on the machine.

    Attributes:
        path: its executable.
        version: ``3.13.0``.
        highest_pickle_protocol: ``pickle.HIGHEST_PROTOCOL``.
    """

    path: str
    version: str
    highest_pickle_protocol: int

    @property
    def version_key(self) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", self.version)[:3])


@dataclass(frozen=True)
class MatrixCell:
    """One Listener x Client pair's outcome."""

    listener: str
    client: str
    raw: bool
    objects: bool
    client_protocol: int | None
    listener_protocol: int | None
    error: str | None

    @property
    def verdict(self) -> str:
        """One of :data:`CELL_VERDICTS`: objects and bytes, bytes only, or not even bytes."""
        if self.raw and self.objects:
            return "OK"
        return "bytes only" if self.raw else "FAILED"

    @property
    def summary(self) -> str:
        if self.verdict == "OK":
            return f"OK (pickle {self.client_protocol}->{self.listener_protocol})"
        if self.verdict == "bytes only":
            return f"bytes only: {self.error or 'objects differ'}"
        return f"FAILED: {self.error or 'the raw frame did not come back'}"


# A cell's verdicts, best first (the order the counts are given in).
CELL_VERDICTS = ("OK", "bytes only", "FAILED")


class MatrixFileError(ValueError):
    """A matrix results file that is not a whole N x N matrix (a pair missing, twice, or unknown)."""


@dataclass(frozen=True)
class MatrixResults:
    """A matrix results file, read back: what was measured, where and when.

    Attributes:
        interpreters: oldest first, as the run found them.
        cells: one per Listener x Client pair, Listener by Listener.
        date, finished: when the run started and ended (ISO 8601 UTC).
        duration_s: its wall time.
        machine: :func:`harness.provenance.machine_description` of the machine that ran it.
    """

    interpreters: tuple[Interpreter, ...]
    cells: tuple[MatrixCell, ...]
    date: str
    finished: str
    duration_s: float
    machine: dict[str, Any]

    def counts(self) -> dict[str, int]:
        """Verdict -> how many pairs got it, every verdict of :data:`CELL_VERDICTS` named."""
        return {verdict: sum(1 for cell in self.cells if cell.verdict == verdict) for verdict in CELL_VERDICTS}

    def markdown(self) -> str:
        return matrix_markdown(self.interpreters, self.cells)


def read_matrix(path: Path) -> MatrixResults:
    """Read a file ``wirecheck matrix --json`` wrote, and check it is a whole N x N matrix.

    Raises:
        MatrixFileError: a key missing or of the wrong type, an interpreter version named twice,
            or the cells not exactly one per (Listener, Client) pair of the interpreters named.
    """
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        interpreters = tuple(Interpreter(**entry) for entry in document["interpreters"])
        cells = tuple(MatrixCell(**entry) for entry in document["cells"])
        results = MatrixResults(
            interpreters, cells, document["date"], document["finished"], float(document["duration_s"]), dict(document["machine"])
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise MatrixFileError(f"{path}: not a matrix results file ({type(exc).__name__}: {exc})") from exc
    versions = [interpreter.version for interpreter in interpreters]
    if not versions or len(set(versions)) != len(versions):
        raise MatrixFileError(f"{path}: interpreters must be named once each, got {versions}")
    pairs = [(cell.listener, cell.client) for cell in cells]
    expected = [(listener, client) for listener in versions for client in versions]
    if sorted(pairs) != sorted(expected):
        missing = sorted(set(expected) - set(pairs))
        extra = sorted(set(pairs) - set(expected))
        twice = sorted({pair for pair in pairs if pairs.count(pair) > 1})
        raise MatrixFileError(
            f"{path}: not one cell per pair of {len(versions)} interpreters: missing {missing}, unknown {extra}, twice {twice}"
        )
    for cell in cells:
        if not all(isinstance(flag, bool) for flag in (cell.raw, cell.objects)) or (cell.objects and not cell.raw):
            raise MatrixFileError(
                f"{path}: cell {cell.listener} x {cell.client} has no verdict (raw {cell.raw!r}, objects {cell.objects!r})"
            )
    return results


def probe_interpreter(path: str) -> Interpreter | None:
    """Ask ``path`` for its version and pickle protocol; None if it does not run."""
    script = "import pickle, sys; print('%d.%d.%d %d' % (sys.version_info[:3] + (pickle.HIGHEST_PROTOCOL,)))"
    try:
        completed = subprocess.run(
            [path, "-c", script], capture_output=True, text=True, timeout=PROBE_TIMEOUT_S, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if completed.returncode != 0:
        return None
    version, protocol = completed.stdout.split()
    return Interpreter(path, version, int(protocol))


def discover_interpreters(extra: Sequence[str] = ()) -> list[Interpreter]:
    """This interpreter, pyenv's, and ``extra``: one per version, oldest first."""
    pyenv_root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates = [sys.executable, *sorted(glob.glob(os.path.join(pyenv_root, "versions", "*", "bin", "python"))), *extra]
    found: dict[str, Interpreter] = {}
    for path in candidates:
        interpreter = probe_interpreter(path)
        if interpreter is not None:
            found.setdefault(interpreter.version, interpreter)
    return sorted(found.values(), key=lambda interpreter: interpreter.version_key)


def run_client(client: Interpreter, address: tuple[str, int], key_hex: str) -> dict[str, Any]:
    """Run one Client against a Listener; its JSON record (an ``error`` when it broke)."""
    try:
        completed = subprocess.run(
            [client.path, "-c", CLIENT_SCRIPT, address[0], str(address[1])],
            input=key_hex,
            capture_output=True,
            text=True,
            timeout=CLIENT_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return {"raw": False, "objects": False, "error": f"Client: no answer within {CLIENT_TIMEOUT_S:g} s"}
    lines = completed.stdout.strip().splitlines()
    try:
        return json.loads(lines[-1])
    except (IndexError, ValueError):
        error = (completed.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"raw": False, "objects": False, "error": f"Client: {error[:200]}"}


def run_matrix(interpreters: Sequence[Interpreter]) -> list[MatrixCell]:
    """Every Listener x Client pair, Listener by Listener.

    Resource handling: each Listener is stopped (by its pid) before the next starts.
    """
    key_hex = secrets.token_hex(16)
    environment = dict(os.environ, **{KEY_VARIABLE: key_hex})
    cells = []
    for listener in interpreters:
        try:
            server = launch_command([listener.path, "-c", LISTENER_SCRIPT], env=environment)
        except LaunchError as exc:
            first_line = str(exc).splitlines()[0]
            cells += [
                MatrixCell(listener.version, client.version, False, False, None, None, f"Listener: {first_line}")
                for client in interpreters
            ]
            continue
        with server:
            for client in interpreters:
                record = run_client(client, server.address, key_hex)
                cells.append(
                    MatrixCell(
                        listener.version,
                        client.version,
                        bool(record.get("raw")),
                        bool(record.get("objects")),
                        record.get("client_protocol"),
                        record.get("listener_protocol"),
                        record.get("error"),
                    )
                )
    return cells


def matrix_markdown(interpreters: Sequence[Interpreter], cells: Sequence[MatrixCell]) -> str:
    """The N x N table: a row per Listener, a column per Client."""
    by_pair = {(cell.listener, cell.client): cell for cell in cells}
    versions = [interpreter.version for interpreter in interpreters]
    lines = [
        "| Listener \\ Client | " + " | ".join(versions) + " |",
        "| --- | " + " | ".join("---" for _ in versions) + " |",
    ]
    for listener in versions:
        row = [by_pair[(listener, client)].summary.replace("|", "/") for client in versions]
        lines.append(f"| {listener} | " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def utc_timestamp(seconds: float) -> str:
    """``seconds`` since the epoch as ISO 8601 UTC to the second (as results files date a run)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def matrix_document(
    interpreters: Sequence[Interpreter], cells: Sequence[MatrixCell], *, started: float, finished: float
) -> dict[str, Any]:
    """The JSON results: the interpreters, one cell per pair, and where and when it was measured.

    Like a suite's results file it names the machine and the date (no command line: the
    interpreters' paths are in ``interpreters``, and the key is never recorded).
    """
    return {
        "wirecheck_version": harness.__version__,
        "machine": machine_description(),
        "date": utc_timestamp(started),
        "finished": utc_timestamp(finished),
        "duration_s": round(finished - started, 1),
        "interpreters": [asdict(interpreter) for interpreter in interpreters],
        "cells": [asdict(cell) for cell in cells],
    }


def matrix_command(args: argparse.Namespace) -> int:
    started = time.time()
    interpreters = discover_interpreters(args.interpreter)
    cells = run_matrix(interpreters)
    document = matrix_document(interpreters, cells, started=started, finished=time.time())
    Path(args.json).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    markdown = matrix_markdown(interpreters, cells)
    Path(args.markdown).write_text(markdown, encoding="utf-8")
    print(markdown, end="")
    return 0


def add_matrix_command(commands: Any) -> None:
    """Register ``wirecheck matrix`` on the CLI's subcommands."""
    parser = commands.add_parser(
        "matrix",
        help="every interpreter's multiprocessing.connection Listener x every interpreter's Client",
        description="Find the interpreters on this machine (this one, pyenv's, --interpreter), run "
        "each one's Listener against each one's Client with a random authkey (a raw frame, then a "
        "pickled object unpickled by both sides), and write the N x N matrix as JSON and Markdown.",
    )
    parser.add_argument("--interpreter", action="append", default=[], metavar="PATH", help="another interpreter (repeatable)")
    parser.add_argument("--json", default="interpreter-matrix.json", metavar="FILE", help="the JSON results")
    parser.add_argument("--markdown", default="interpreter-matrix.md", metavar="FILE", help="the Markdown table")
    parser.set_defaults(handler=matrix_command)
