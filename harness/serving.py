"""Run one service on one runner in this process until SIGTERM/SIGINT: the serve lifecycle.

``wirecheck serve`` and the runner tests (which serve a trivial protocol of their own) both
come through :func:`serve_until_signalled`, so the READY contract is implemented once:
bind and listen, install the stop handlers, then print exactly one line
``READY <tcp|udp> <host>:<port>`` and flush, then serve, then return once the runner has
reaped everything it started.
"""

from __future__ import annotations

import signal
import sys
from typing import TextIO

from harness.runners import load_runner
from harness.runners.base import RunnerOptions, format_address, open_listener
from harness.services import Service


class ServeError(Exception):
    """The server cannot start as asked (wrong runner for the transport, address in use...)."""


def serve_until_signalled(
    service: Service,
    runner_name: str,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    options: RunnerOptions = RunnerOptions(),
    ready_stream: TextIO = sys.stdout,
) -> None:
    """Serve ``service`` on ``runner_name`` until SIGTERM or SIGINT.

    Raises:
        ServeError: the address is unavailable.
        UnknownRunnerError: no such runner, or it does not carry the service's transport.
        RunnerUnavailableError: the runner's optional dependency is missing.
    """
    runner_class = load_runner(runner_name, service.transport)
    try:
        listener = open_listener(host, port, service.transport)
    except OSError as exc:
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    runner = runner_class(service, listener, options)
    # Handlers go in before READY, so a stop sent the instant READY is read is not lost.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda _signum, _frame: runner.request_stop())
    print(f"READY {service.transport} {format_address(listener)}", file=ready_stream, flush=True)
    runner.serve()
