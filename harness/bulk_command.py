"""``wirecheck bulk``'s command line, apart from the measurement (harness/bulk.py).

Kept apart so that registering the command costs the CLI nothing: harness/bulk.py imports
numpy and the array helpers, which ``wirecheck serve`` (launched many times by the tests)
should not pay for; the measurement is imported only when ``bulk`` runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness.services import positive_int  # the CLI imports it anyway: no cost

DESCRIPTION = (
    "Bulk-transfer throughput: a 1 GiB transfer through each runner, socat and xinetd, with "
    "iperf3 at the same write size beside them and the bound for an echo over one connection "
    "(a C echo and client, built with cc), server and client on separate cores, the CPU per GiB "
    "of each end, median of 3 with the spread; and the receive path's CPU per GiB (recv_array "
    "against recv-and-concatenate)."
)

GIB = 1 << 30

# How the client checks what comes back (harness/bulk.py explains why sampling is the default).
CHECK_MODES = ("sampled", "every-byte")
# Which client measures: bulk_bound.c's (the default) or harness/bulk.py's transfer_through.
CLIENTS = ("c", "python")


def add_bulk_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``wirecheck bulk`` (also ``python -m harness.bulk``)."""
    parser.add_argument("--runner", action="append", default=[], help="only these runners (repeatable; default all)")
    parser.add_argument(
        "--write-size", action="append", type=positive_int, default=[], help="bytes per send (repeatable; default 1 MiB, 64 KiB; the client reads up to 1 MiB, or the write size if larger, per recv)"
    )
    parser.add_argument(
        "--check",
        choices=CHECK_MODES,
        default=CHECK_MODES[0],
        help="what the client compares of each read against what it sent: a sample (its last 64 bytes and a "
        "4 KiB window at a random place; the default, as iperf3 checks nothing) or every byte (the figures "
        "then include the client's comparing; the conformance suite checks every byte either way)",
    )
    parser.add_argument(
        "--client",
        choices=CLIENTS,
        default=CLIENTS[0],
        help="the client that measures every target: the C one built from harness/bulk_bound.c with cc "
        "(the default: an instrument that is not the limit, as iperf3 is C) or the Python one "
        "(what the Python recipe's own client reaches; used when there is no C compiler)",
    )
    parser.add_argument("--repetitions", type=positive_int, default=3, help="measured transfers per point (default 3)")
    parser.add_argument("--bytes", type=positive_int, default=GIB, help="bytes per transfer, each way (default 1 GiB)")
    parser.add_argument("--no-third-party", action="store_true", help="skip socat, xinetd, iperf3 and the C bound")
    parser.add_argument(
        "--receive-paths-only",
        action="store_true",
        help="measure only the receiving CPU of recv_array against recv-and-concatenate",
    )
    parser.add_argument("--out", type=Path, default=Path("loadtests/results/bulk"), help="where bulk.json and bulk.md go")


def add_bulk_command(commands: Any) -> None:
    """Register ``wirecheck bulk`` on the CLI's subcommands."""
    parser = commands.add_parser(
        "bulk",
        help="bulk-transfer throughput of every runner beside socat, xinetd and iperf3",
        description=DESCRIPTION,
    )
    add_bulk_arguments(parser)
    parser.set_defaults(handler=_run_bulk)


def _run_bulk(options: argparse.Namespace) -> int:
    from harness.bulk import run_bulk  # numpy and the array helpers: only when measuring

    return run_bulk(options)
