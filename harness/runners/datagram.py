"""What every datagram runner shares: one protocol object, and answering one datagram.

A datagram service has no connections: the runner reads a datagram and its source address,
asks the (server-wide) protocol for the replies, and sends each one back to that address
from the socket the request arrived on. RFC 868 and RFC 867 say the server "returns a
datagram"; answering from the same socket is what makes the reply come from the address and
port the client sent to, which a connected client socket requires (the kernel drops
datagrams from any other source).

The error boundary is per datagram: a reply the kernel refuses (ICMP port unreachable left
over from an earlier reply surfaces as ECONNREFUSED on Linux, a reply too large is
EMSGSIZE) is logged and the server goes on.
"""

from __future__ import annotations

import socket
from typing import Any

from harness.protocols.base import DatagramProtocol
from harness.runners.base import Runner, log

# The largest UDP payload over IPv4 is 65,507 bytes; a buffer of 64 KiB + 1 can tell a
# maximal datagram from a truncated one (recvfrom truncates silently to the buffer size).
DATAGRAM_BUFFER_BYTES = 65536


class DatagramRunner(Runner):
    """Base for datagram runners: owns the server-wide protocol object."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.protocol: DatagramProtocol = self.protocol_factory()


def answer_datagram(
    sock: socket.socket, protocol: DatagramProtocol, data: bytes, address: Any
) -> None:
    """Send every reply the protocol has for ``data`` back to ``address`` through ``sock``.

    Blocking sockets only (a UDP send blocks at most for buffer space, briefly); the event
    loops queue replies instead, see ``harness.runners.event_loops``.
    """
    for reply in protocol.datagram_received(data):
        try:
            sock.sendto(reply, address)
        except OSError as exc:
            log.debug("reply to %s not sent: %r", address, exc)
