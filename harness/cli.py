"""The ``wirecheck`` command: ``serve`` a reference server, ``list`` what can be served.

The other subcommands live in their own packages and are added here (``compare``, ``cases``,
``matrix``, ``report``: merge results files into one HTML, Markdown or JUnit report).

Contract (../shared/DESIGN.md): ``wirecheck serve SERVICE --runner RUNNER`` binds, listens,
then prints exactly one line ``READY <tcp|udp|tls> <host>:<port>`` on stdout and serves until
SIGTERM or SIGINT, then exits 0 with every child reaped. ``wirecheck list`` prints one line
per service: its name, then the runners it runs on, separated by spaces. Scripts parse both.

Mistakes by the user (an unknown service, a port in use, a missing optional dependency) end
with one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import sys
from typing import Sequence

from harness.bulk_command import add_bulk_command
from harness.catalogue import add_cases_command
from harness.check_command import add_check_command
from harness.compare import add_compare_command
from harness.core_benchmark import add_core_benchmark_command
from harness.hosts import add_hosts_command
from harness.interop import add_matrix_command
from harness.report import add_report_command
from harness.runners import RUNNERS, RunnerUnavailableError, UnknownRunnerError, runners_for
from harness.runners.base import DEFAULT_IDLE_TIMEOUT_S, RunnerOptions
from harness.serving import ServeError, refuse_tls_unless_stream, serve_until_signalled
from harness.services import (
    SERVICES,
    ServiceOptionError,
    UnknownServiceError,
    get_service,
    option_environment_variable,
    parse_option_assignments,
)
from harness.tls_setup import TlsSetupError, server_tls_context
from harness.usage import EXIT_USAGE, UsageError

__all__ = ["EXIT_USAGE", "UsageError", "build_parser", "main"]


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
    if (args.cert is None) != (args.key is None):
        raise UsageError("--cert and --key go together")
    if args.cert is not None and not args.tls:
        raise UsageError("--cert/--key need --tls")
    try:
        service = get_service(args.service)
        given = parse_option_assignments(args.option)
        for option in service.options:
            if option.secret and option.for_server and option.name not in given:
                value = os.environ.get(option_environment_variable(option))
                if value is not None:
                    given[option.name] = value
            elif option.secret and option.name in given:
                print(
                    f"wirecheck: warning: --option {option.name} puts a secret on the command line, which "
                    f"other local users can read; set {option_environment_variable(option)} instead",
                    file=sys.stderr,
                )
        config = service.server_config(given)
        tls_context = None
        if args.tls:
            refuse_tls_unless_stream(service, args.runner)  # before any certificate is made
            tls_context = server_tls_context(args.cert, args.key, announce=_announce_ca)
        serve_until_signalled(
            service,
            args.runner,
            host=args.host,
            port=args.port,
            options=RunnerOptions(workers=args.workers, idle_timeout=args.idle_timeout),
            config=config,
            tls_context=tls_context,
        )
    except (
        UnknownServiceError,
        UnknownRunnerError,
        RunnerUnavailableError,
        ServeError,
        ServiceOptionError,
        TlsSetupError,
    ) as exc:
        raise UsageError(str(exc)) from None
    return 0


def _announce_ca(ca_path: str) -> None:
    # stderr, not stdout: stdout carries exactly one line, READY.
    print(f"wirecheck: TLS with a throw-away certificate for localhost/127.0.0.1/::1; CA: {ca_path}", file=sys.stderr)


def list_services(args: argparse.Namespace) -> int:
    """Print each service and the runners it runs on (one line each, or a table)."""
    if args.table:
        print(f"{'SERVICE':<18} {'SPEC':<30} {'OPTIONS':<34} RUNNERS")
        for service in SERVICES.values():
            options = " ".join(
                f"{option.name}({'server' if option.for_server else 'pytest'})" for option in service.options
            )
            print(
                f"{service.name:<18} {service.spec:<30} {options or '-':<34} "
                f"{' '.join(runners_for(*service.kind.carried_by))}"
            )
        return 0
    for service in SERVICES.values():
        print(" ".join([service.name, *runners_for(*service.kind.carried_by)]))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wirecheck",
        description="Reference servers for the classic small network services, "
        "in every concurrency model, and the conformance suites that judge any server: "
        "wirecheck check SERVICE=HOST:PORT (pytest suites/ in a checkout).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log connection events on stderr")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve_parser = commands.add_parser(
        "serve",
        help="run a reference server until SIGTERM/SIGINT",
        description="Bind, listen, print 'READY <tcp|udp|tls> <host>:<port>' on stdout, then serve "
        "until SIGTERM or SIGINT and exit 0 with every child reaped.",
    )
    serve_parser.add_argument("service", metavar="SERVICE", help=f"one of: {', '.join(SERVICES)}")
    serve_parser.add_argument(
        "--runner", required=True, metavar="RUNNER", help=f"one of: {', '.join(RUNNERS)}"
    )
    serve_parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    serve_parser.add_argument("--port", type=int, default=0, help="port to bind (default: 0, ephemeral)")
    serve_parser.add_argument(
        "--workers", type=int, default=None, help="pool size for the prefork-* and fd-passing runners"
    )
    serve_parser.add_argument(
        "--idle-timeout",
        type=float,
        default=DEFAULT_IDLE_TIMEOUT_S,
        metavar="SECONDS",
        help=f"close a connection silent this long (default: {DEFAULT_IDLE_TIMEOUT_S:g})",
    )
    serve_parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a service option (repeatable); `wirecheck list --table` names each service's options. "
        "A secret option (authkey) is better given in the environment as WIRECHECK_OPTION_<NAME> "
        "(e.g. WIRECHECK_OPTION_AUTHKEY): a command line is readable by every local user",
    )
    serve_parser.add_argument(
        "--tls",
        action="store_true",
        help="serve a stream service over TLS (READY says tls); without --cert/--key a throw-away "
        "CA and certificate for localhost are made and the CA file's path is printed on stderr",
    )
    serve_parser.add_argument("--cert", default=None, metavar="FILE", help="TLS certificate chain (PEM), with --tls")
    serve_parser.add_argument("--key", default=None, metavar="FILE", help="TLS private key (PEM), with --tls")
    serve_parser.set_defaults(handler=serve)

    list_parser = commands.add_parser(
        "list", help="list services and the runners each runs on", description="One line per "
        "service: its name, then the runners it runs on, separated by spaces."
    )
    list_parser.add_argument("--table", action="store_true", help="a table for people")
    list_parser.set_defaults(handler=list_services)
    add_compare_command(commands)
    add_hosts_command(commands)  # harness/hosts.py: a CIDR network's hosts
    add_core_benchmark_command(commands)
    add_cases_command(commands)
    add_check_command(commands)
    add_matrix_command(commands)
    add_bulk_command(commands)
    add_report_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    # `check` passes the arguments it does not know to pytest; every other command refuses them.
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        if not getattr(args, "takes_pytest_arguments", False):
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        args.pytest_arguments = unknown
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
    except BrokenPipeError:
        # The reader went away (`wirecheck cases | head`): what it read was all it wanted.
        # Point stdout at /dev/null so the interpreter's final flush raises nothing either
        # (the recipe of the signal module's documentation, "Note on SIGPIPE").
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
