"""``wirecheck check SERVICE=HOST:PORT [pytest options...]``: judge a running server.

The one command an installed wirecheck needs to judge a server. It is a thin wrapper: pytest
on this harness's suites (``harness/suites`` when installed from a wheel, ``suites/`` in a
checkout: :mod:`harness.suite_files`) with ``--target SERVICE=HOST:PORT``, every further
argument passed to pytest unchanged (``--results``, ``--case-timeout``, ``--strict``,
``--case``, ``-n``, the services' own options ...). So the cases, the verdicts, the results
file and the exit status are those of ``pytest suites/ --target ...`` in a checkout, and
nothing about judging lives here.

What the wrapper adds to the pytest command line, and why:

- ``-c harness/check_pytest.ini``: without a configuration file named, pytest looks for one
  upward from the suites folder, and a virtual environment inside a user's project would run
  the suites with that project's settings (its addopts, its warning filters).
- ``--rootdir`` the folder above the suites: node IDs read ``suites/<service>/...`` as in a
  checkout, and pytest writes nothing into site-packages (the ini turns the cache off).
- ``-p harness.pytest_plugin``: the plugin also registers through its pytest11 entry point,
  whose name is the module's own, so pytest registers it once either way; naming it keeps the
  command working under ``PYTEST_DISABLE_PLUGIN_AUTOLOAD``.

pytest runs in this process (``pytest.main``); its exit status is the command's: 0 iff no
MUST case FAILED and nothing ERRORed (with ``--strict``, nothing NON-STRICT either), 4 for a
mistake pytest or the plugin reports in one ``ERROR:`` line (an unknown service, an address
outside loopback), 5 when no case was selected.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness.services import SERVICES
from harness.suite_files import SuitesNotFoundError, suites_directory
from harness.usage import UsageError

PLUGIN_MODULE = "harness.pytest_plugin"
PYTEST_CONFIGURATION = Path(__file__).resolve().parent / "check_pytest.ini"

EPILOG = """\
Every argument after the target goes to pytest unchanged; the common ones:
  --results FILE.json      write every case's verdict to FILE.json
  --label NAME             the implementation's name in the results (and in `wirecheck report`)
  --label-version VERSION  its version
  --case-timeout SECONDS   each case's whole time budget
  --strict                 SHOULD failures (NON-STRICT) count toward the exit status
  --case ID                only this case (repeatable; `wirecheck cases` lists the IDs)
  --target NAME=HOST:PORT  judge another server in the same run (repeatable)
  --tls-ca FILE            the CA of a tls://HOST:PORT target
  -n N                     N worker processes (pytest-xdist)
  -q, -v                   less or more output
and each service's own options (`wirecheck list --table` names them). `pytest --help` lists
them all, under "wirecheck conformance suites".

The same run without this command: pytest --pyargs harness.suites -p no:cacheprovider
--target SERVICE=HOST:PORT (installed), or pytest suites/ --target SERVICE=HOST:PORT
(in a checkout).

Exit status: 0 iff no MUST-level case FAILED and nothing ERRORed; 1 otherwise; 4 for a
usage error reported by pytest; 5 when no case was selected.
"""


def add_check_command(commands: Any) -> None:
    """Add ``check`` to the ``wirecheck`` subcommands (it takes pytest's arguments after its own)."""
    parser = commands.add_parser(
        "check",
        help="judge a running server with the conformance suites (pytest options may follow)",
        description="Run the conformance suites of SERVICE against the server at HOST:PORT "
        "(loopback only; nothing is launched), as `pytest suites/ --target SERVICE=HOST:PORT` "
        "does in a checkout: same cases, verdicts, results file and exit status.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "target",
        metavar="SERVICE=HOST:PORT",
        help=f"the server to judge; tls://HOST:PORT for TLS. SERVICE is one of: {', '.join(SERVICES)}",
    )
    parser.set_defaults(handler=check_command, takes_pytest_arguments=True, pytest_arguments=[])


def pytest_arguments(target: str, extra: list[str], suites: Path) -> list[str]:
    """The pytest command line (without ``pytest``) that judges ``target`` with ``suites``."""
    return [
        str(suites),
        "-c",
        str(PYTEST_CONFIGURATION),
        "--rootdir",
        str(suites.parent),
        "-p",
        PLUGIN_MODULE,
        "--target",
        target,
        *extra,
    ]


def check_command(args: argparse.Namespace) -> int:
    """Run pytest on the suites against ``args.target``. Returns pytest's exit status.

    Raises:
        UsageError: the target is not ``SERVICE=...`` (e.g. an option given before it), or
            the suites are missing from the installation.
    """
    if "=" not in args.target:
        raise UsageError(
            f"expected SERVICE=HOST:PORT as the first argument after check, got {args.target!r}"
        )
    try:
        suites = suites_directory()
    except SuitesNotFoundError as exc:
        raise UsageError(str(exc)) from None
    import pytest  # here, not at the top: the other commands do not need it

    return int(pytest.main(pytest_arguments(args.target, list(args.pytest_arguments), suites)))
