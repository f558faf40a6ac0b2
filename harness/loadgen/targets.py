"""Where a load test may aim: loopback only, written the way locust's ``--host`` carries it.

Load is an attack when it lands on someone else's machine, and a load number measured across
a network measures the network. So every load run of wirecheck targets 127.0.0.0/8, ::1 or
``localhost`` (../shared/DESIGN.md: "Only loopback addresses ... are ever targets of tests and
load runs"), and anything else is refused before a single packet is sent.

Locust has one ``--host`` string per run (or a ``host`` attribute per user class). For raw
socket users it is ``HOST:PORT``, optionally with a scheme naming the transport
(``tcp://127.0.0.1:7007``, ``udp://[::1]:3737``); a scheme that contradicts the user's
transport is refused too, because an echo-tcp user pointed at a UDP port would report
"connection refused" and look like a server failure. HTTP users (later) keep ``http://``.

The concrete users' default targets come from environment variables
(``WIRECHECK_TARGET_ECHO_TCP=127.0.0.1:40123``), so that ``locust -f loadtests/`` can drive
every user at once against servers on ephemeral ports, each user its own; ``--host`` overrides
them all, which is what you want when you pick one user class.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from urllib.parse import urlsplit


class NonLoopbackTargetError(ValueError):
    """We were asked to send load somewhere other than this machine's loopback interface."""


class BadTargetError(ValueError):
    """The target string is not ``[scheme://]HOST:PORT`` with a port in 1..65535."""


@dataclass(frozen=True)
class Target:
    """A loopback endpoint for a load user.

    Attributes:
        host: an address literal or ``localhost``.
        port: 1..65535.
        scheme: ``tcp``, ``udp``, ``http``... or empty when the string had none.
    """

    host: str
    port: int
    scheme: str = ""

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        prefix = f"{self.scheme}://" if self.scheme else ""
        return f"{prefix}{host}:{self.port}"


def is_loopback_host(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and the name ``localhost`` (nothing is resolved)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_target(text: str, *, transport: str | None = None) -> Target:
    """Parse ``[scheme://]HOST:PORT`` and insist that HOST is loopback.

    Args:
        text: e.g. ``127.0.0.1:7007``, ``tcp://localhost:7007``, ``udp://[::1]:3737``.
        transport: ``tcp`` or ``udp`` when the user speaks one; a different scheme is refused.

    Returns:
        The target.

    Raises:
        NonLoopbackTargetError: HOST is not 127.0.0.0/8, ::1 or localhost.
        BadTargetError: the string is not of that form, or its scheme contradicts ``transport``.
    """
    stripped = text.strip()
    if not stripped:
        raise BadTargetError("no target given: pass --host HOST:PORT (a loopback address)")
    parts = urlsplit(stripped if "://" in stripped else f"//{stripped}")
    host = parts.hostname
    try:
        port = parts.port
    except ValueError:
        port = None
    if not host:
        raise BadTargetError(f"cannot read a host in {text!r}; expected HOST:PORT, e.g. 127.0.0.1:7007")
    if not is_loopback_host(host):
        raise NonLoopbackTargetError(
            f"refusing to send load to {host!r}: wirecheck load tests only target loopback "
            f"(127.0.0.0/8, ::1 or localhost)"
        )
    if port is None or not 1 <= port <= 65535:
        raise BadTargetError(f"no valid port in {text!r}; expected HOST:PORT with a port in 1..65535")
    scheme = parts.scheme.lower()
    if transport is not None and scheme and scheme != transport:
        raise BadTargetError(f"target {text!r} says {scheme}, but this user speaks {transport}")
    return Target(host=host, port=port, scheme=scheme)


def target_variable(service: str) -> str:
    """The environment variable that holds ``service``'s default target (``echo-tcp`` →
    ``WIRECHECK_TARGET_ECHO_TCP``)."""
    return "WIRECHECK_TARGET_" + service.upper().replace("-", "_")


def default_target(service: str, well_known_port: int) -> str:
    """A concrete user's ``host``: ``$WIRECHECK_TARGET_<SERVICE>``, else the service's
    well-known port on 127.0.0.1 (RFC 862's 7, RFC 868's 37)."""
    return os.environ.get(target_variable(service), f"127.0.0.1:{well_known_port}")
