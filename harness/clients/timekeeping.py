"""Clients for time (RFC 868), daytime (RFC 867) and the chapter's ctime server.

The chapter's UDP time client is ``s.sendto(b'', addr); s.recvfrom(8192)``: no timeout, no
retry, no check of the reply. These clients bound every wait, retry datagrams, read TCP
replies to the server's close (both RFCs: the server "closes the connection" after sending),
and check the reply's form before returning it.
"""

from __future__ import annotations

import socket
import time

from harness.clients.datagram import DEFAULT_TIMEOUT_S, request_datagram
from harness.protocols.timekeeping import decode_daytime, decode_rfc868

# A time or daytime reply is a few dozen bytes; anything past this is not one.
MAX_TCP_REPLY_BYTES = 4096


def read_tcp_reply(host: str, port: int, *, timeout: float = DEFAULT_TIMEOUT_S) -> bytes:
    """Connect, read until the server closes, return what it sent.

    Raises:
        TimeoutError: the server kept the connection open past ``timeout`` without closing.
        ConnectionRefusedError: nobody listens there.
    """
    deadline = time.monotonic() + timeout
    with socket.create_connection((host, port), timeout=timeout) as sock:
        reply = bytearray()
        while len(reply) <= MAX_TCP_REPLY_BYTES:
            sock.settimeout(max(0.001, deadline - time.monotonic()))
            chunk = sock.recv(MAX_TCP_REPLY_BYTES)
            if not chunk:
                return bytes(reply)
            reply += chunk
    return bytes(reply)


def time_tcp(host: str, port: int, *, timeout: float = DEFAULT_TIMEOUT_S) -> float:
    """RFC 868 over TCP: the server's time as Unix seconds."""
    return decode_rfc868(read_tcp_reply(host, port, timeout=timeout), near=time.time())


def time_udp(host: str, port: int, *, timeout: float = DEFAULT_TIMEOUT_S) -> float:
    """RFC 868 over UDP: the server's time as Unix seconds."""
    return decode_rfc868(request_datagram(host, port, timeout=timeout), near=time.time())


def daytime_tcp(host: str, port: int, *, timeout: float = DEFAULT_TIMEOUT_S) -> str:
    """RFC 867 over TCP: the server's daytime text."""
    return decode_daytime(read_tcp_reply(host, port, timeout=timeout))


def daytime_udp(host: str, port: int, *, timeout: float = DEFAULT_TIMEOUT_S) -> str:
    """RFC 867 over UDP: the server's daytime text."""
    return decode_daytime(request_datagram(host, port, timeout=timeout))


def ctime_udp(host: str, port: int, *, timeout: float = DEFAULT_TIMEOUT_S) -> str:
    """The chapter's UDP time server: its ``time.ctime()`` text."""
    return decode_daytime(request_datagram(host, port, timeout=timeout))


def echo_udp(host: str, port: int, payload: bytes, *, timeout: float = DEFAULT_TIMEOUT_S) -> bytes:
    """RFC 862 over UDP: what came back for ``payload`` (compare it yourself)."""
    return request_datagram(host, port, payload, timeout=timeout)
