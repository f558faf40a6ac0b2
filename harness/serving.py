"""Run one service on one runner in this process until SIGTERM/SIGINT: the serve lifecycle.

``wirecheck serve`` and the runner tests (which serve a trivial protocol of their own) both
come through :func:`serve_until_signalled`, so the READY contract is implemented once:
bind and listen, install the stop handlers, then print exactly one line
``READY <tcp|udp|tls> <host>:<port>`` and flush, then serve, then return once the runner has
reaped everything it started.
"""

from __future__ import annotations

import functools
import signal
import ssl
import sys
from typing import Any, Callable, TextIO

from harness.protocols.base import ServiceConfig
from harness.runners import STREAM, WSGI, XMLRPC, get_runner_entry, kind_to_carry, load_runner
from harness.runners.base import RunnerOptions, format_address, open_listener
from harness.services import Service


class ServeError(Exception):
    """The server cannot start as asked (TLS for a datagram service, address in use...)."""


def protocol_factory_for(
    service: Service, config: ServiceConfig, tls_context: ssl.SSLContext | None = None
) -> Callable[[], Any]:
    """What a runner is handed: a no-argument factory of configured (and TLS-wrapped) protocols."""
    factory = service.connection_factory(config)
    if tls_context is None:
        return factory
    from harness.protocols.tls import TlsServerProtocol  # only TLS servers pay for the import

    return lambda: TlsServerProtocol(factory(), tls_context)


def refuse_tls_unless_stream(service: Service, runner_name: str) -> None:
    """Raise ServeError unless ``service`` on ``runner_name`` is a byte stream TLS can wrap.

    Raises:
        ServeError: the service is carried as datagrams or as an application server.
        UnknownRunnerError: no such runner, or it does not carry the service.
    """
    kind = kind_to_carry(runner_name, service.kind.carried_by)
    if kind != STREAM:
        raise ServeError(
            f"TLS is a layer over byte streams; {service.name} on runner {runner_name} is carried as {kind}"
        )


def serve_until_signalled(
    service: Service,
    runner_name: str,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    options: RunnerOptions = RunnerOptions(),
    config: ServiceConfig | None = None,
    tls_context: ssl.SSLContext | None = None,
    ready_stream: TextIO = sys.stdout,
) -> None:
    """Serve ``service`` on ``runner_name`` until SIGTERM or SIGINT.

    Args:
        service: what to serve.
        runner_name: which concurrency model.
        host: the address to bind.
        port: the port to bind (0: ephemeral).
        options: the runner's common knobs.
        config: the service's configuration (default: every option at its default).
        tls_context: a server-side TLS context: the service is served over TLS and the READY
            line says ``tls``.
        ready_stream: where the READY line goes.

    Raises:
        ServeError: the address is unavailable, or TLS was asked of a datagram service.
        UnknownRunnerError: no such runner, or it does not carry the service's kind.
        RunnerUnavailableError: the runner's optional dependency is missing.
    """
    entry = get_runner_entry(runner_name)
    kind = kind_to_carry(runner_name, service.kind.carried_by)
    runner_class = load_runner(runner_name, kind)
    config = config or service.server_config()
    if tls_context is not None:
        refuse_tls_unless_stream(service, runner_name)
    if kind in (WSGI, XMLRPC):
        assert service.application_factory is not None
        factory: Callable[[], Any] = functools.partial(service.application_factory, config)
    else:
        factory = protocol_factory_for(service, config, tls_context)
    try:
        listener = open_listener(host, port, service.transport)
    except OSError as exc:
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    runner = runner_class(factory, listener, options, entry.traits)
    # Handlers go in before READY, so a stop sent the instant READY is read is not lost.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda _signum, _frame: runner.request_stop())
    transport = "tls" if tls_context is not None else service.transport
    print(f"READY {transport} {format_address(listener)}", file=ready_stream, flush=True)
    runner.serve()
