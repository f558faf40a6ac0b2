"""The service registry: a service name paired with its protocol and its transport.

A reference server is ``SERVICES[name] x RUNNERS[runner]``. A service knows nothing about how
it is served; the runner registry (``harness.runners``) says which runners carry which
transport, so adding a service touches no runner and adding a runner touches no service.
Service names are a stable contract (../shared/DESIGN.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal, Union

from harness.protocols.base import DatagramProtocol, StreamProtocol
from harness.protocols.echo import EchoDatagramProtocol, EchoProtocol, LineEchoProtocol
from harness.protocols.timekeeping import (
    CtimeDatagramProtocol,
    DaytimeDatagramProtocol,
    DaytimeStreamProtocol,
    TimeDatagramProtocol,
    TimeStreamProtocol,
)

Transport = Literal["tcp", "udp"]
ProtocolFactory = Callable[[], Union[StreamProtocol, DatagramProtocol]]


@dataclass(frozen=True)
class Service:
    """A named service: what it speaks and over which transport.

    Attributes:
        name: the contract name, e.g. ``echo-tcp``.
        transport: ``tcp`` (one protocol object per connection) or ``udp`` (one per server).
        protocol_factory: makes a fresh protocol object.
        spec: where the normative text lives (an RFC, or a SPEC.md under suites/).
        summary: one line for ``wirecheck list --table``.
    """

    name: str
    transport: Transport
    protocol_factory: ProtocolFactory
    spec: str
    summary: str


SERVICES: dict[str, Service] = {
    service.name: service
    for service in (
        Service("echo-tcp", "tcp", EchoProtocol, "RFC 862", "every byte sent back, in order"),
        Service(
            "line-echo-tcp",
            "tcp",
            LineEchoProtocol,
            "suites/line_echo_tcp/SPEC.md",
            "each line sent back once its LF arrives",
        ),
        Service("echo-udp", "udp", EchoDatagramProtocol, "RFC 862", "every datagram sent back"),
        Service("daytime-tcp", "tcp", DaytimeStreamProtocol, "RFC 867", "date and time in ASCII, then close"),
        Service("daytime-udp", "udp", DaytimeDatagramProtocol, "RFC 867", "date and time in ASCII"),
        Service("time-tcp", "tcp", TimeStreamProtocol, "RFC 868", "32-bit seconds since 1900, then close"),
        Service("time-udp", "udp", TimeDatagramProtocol, "RFC 868", "32-bit seconds since 1900"),
        Service(
            "ctime-udp",
            "udp",
            CtimeDatagramProtocol,
            "suites/ctime_udp/SPEC.md",
            "the chapter's server: time.ctime() in ASCII",
        ),
    )
}


class UnknownServiceError(LookupError):
    """The caller named a service that is not in the registry."""


def get_service(name: str) -> Service:
    """Look a service up by its contract name.

    Raises:
        UnknownServiceError: with the list of known names, for a clear CLI message.
    """
    try:
        return SERVICES[name]
    except KeyError:
        known = ", ".join(sorted(SERVICES))
        raise UnknownServiceError(f"unknown service {name!r}; known services: {known}") from None
