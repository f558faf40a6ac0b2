"""The ``wirecheck`` command: ``serve`` a reference server, ``list`` what can be served.

Contract (../shared/DESIGN.md): ``wirecheck serve SERVICE --runner RUNNER`` binds, listens,
then prints exactly one line ``READY <tcp|udp> <host>:<port>`` on stdout and serves until
SIGTERM or SIGINT, then exits 0 with every child reaped. ``wirecheck list`` prints one line
per service: its name, then the runners it runs on, separated by spaces. Scripts parse both.

Mistakes by the user (an unknown service, a port in use, a missing optional dependency) end
with one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import sys
from typing import Sequence

from harness.compare import add_compare_command
from harness.runners import RUNNERS, RunnerUnavailableError, UnknownRunnerError, runners_for
from harness.runners.base import DEFAULT_IDLE_TIMEOUT_S, RunnerOptions
from harness.serving import ServeError, serve_until_signalled
from harness.services import SERVICES, UnknownServiceError, get_service

EXIT_USAGE = 2


class UsageError(Exception):
    """The user asked for something that cannot be done; the message says what and why."""


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def serve(args: argparse.Namespace) -> int:
    """Run ``args.service`` on ``args.runner`` until a stop signal. Returns the exit status."""
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {args.workers}")
    if args.idle_timeout <= 0:
        raise UsageError(f"--idle-timeout must be positive, got {args.idle_timeout:g}")
    if not _is_loopback(args.host):
        print(f"wirecheck: warning: serving on non-loopback address {args.host}", file=sys.stderr)
    try:
        serve_until_signalled(
            get_service(args.service),
            args.runner,
            host=args.host,
            port=args.port,
            options=RunnerOptions(workers=args.workers, idle_timeout=args.idle_timeout),
        )
    except (UnknownServiceError, UnknownRunnerError, RunnerUnavailableError, ServeError) as exc:
        raise UsageError(str(exc)) from None
    return 0


def list_services(args: argparse.Namespace) -> int:
    """Print each service and the runners it runs on (one line each, or a table)."""
    if args.table:
        print(f"{'SERVICE':<18} {'SPEC':<30} RUNNERS")
        for service in SERVICES.values():
            print(f"{service.name:<18} {service.spec:<30} {' '.join(runners_for(service.transport))}")
        return 0
    for service in SERVICES.values():
        print(" ".join([service.name, *runners_for(service.transport)]))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wirecheck",
        description="Reference servers for the classic small network services, "
        "in every concurrency model. Conformance suites: pytest suites/.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log connection events on stderr")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve_parser = commands.add_parser(
        "serve",
        help="run a reference server until SIGTERM/SIGINT",
        description="Bind, listen, print 'READY <tcp|udp> <host>:<port>' on stdout, then serve "
        "until SIGTERM or SIGINT and exit 0 with every child reaped.",
    )
    serve_parser.add_argument("service", metavar="SERVICE", help=f"one of: {', '.join(SERVICES)}")
    serve_parser.add_argument(
        "--runner", required=True, metavar="RUNNER", help=f"one of: {', '.join(RUNNERS)}"
    )
    serve_parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    serve_parser.add_argument("--port", type=int, default=0, help="port to bind (default: 0, ephemeral)")
    serve_parser.add_argument(
        "--workers", type=int, default=None, help="pool size for the prefork-* runners"
    )
    serve_parser.add_argument(
        "--idle-timeout",
        type=float,
        default=DEFAULT_IDLE_TIMEOUT_S,
        metavar="SECONDS",
        help=f"close a connection silent this long (default: {DEFAULT_IDLE_TIMEOUT_S:g})",
    )
    serve_parser.set_defaults(handler=serve)

    list_parser = commands.add_parser(
        "list", help="list services and the runners each runs on", description="One line per "
        "service: its name, then the runners it runs on, separated by spaces."
    )
    list_parser.add_argument("--table", action="store_true", help="a table for people")
    list_parser.set_defaults(handler=list_services)
    add_compare_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="wirecheck: %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return args.handler(args)
    except UsageError as exc:
        print(f"wirecheck: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
