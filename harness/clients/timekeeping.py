"""Clients for time (RFC 868), daytime (RFC 867) and the chapter's ctime server.

The chapter's UDP time client is ``s.sendto(b'', addr); s.recvfrom(8192)``: no timeout, no
retry, no check of the reply. These clients bound every wait, retry datagrams, read TCP
replies to the server's close (both RFCs: the server "closes the connection" after sending),
and check the reply's form before returning it.

:func:`time_datagram_requester` (named by the time-over-UDP load profile) is the same RFC 868
client for the load generators: one request per call, no retry, every reply checked.
"""

from __future__ import annotations

import socket
import time

from harness.clients.datagram import DEFAULT_TIMEOUT_S, DatagramConnection, request_datagram
from harness.clients.requesters import ConnectionRequester, RequestOptions, RoundTripError
from harness.protocols.timekeeping import MalformedReplyError, decode_daytime, decode_rfc868

# A time or daytime reply is a few dozen bytes; anything past this is not one.
MAX_TCP_REPLY_BYTES = 4096

# RFC 868 counts whole seconds, and a load generator reads the same clock as the server on
# the same machine: the served time lies between our clock at the send (less the up to 1 s the
# server's truncation to whole seconds takes off) and our clock at the reply. Two seconds of
# slack either side of that window still catch a server in the wrong era, zone or epoch.
LOAD_TIME_TOLERANCE_S = 2.0


class TimeReplyError(RoundTripError):
    """The reply is not an RFC 868 time near ours (the peer broke RFC 868)."""


def check_time_reply(reply: bytes, *, sent_at: float, received_at: float, tolerance_s: float) -> float:
    """RFC 868: "a 32-bit time value", within ``tolerance_s`` of the request's own time window.

    The window is our clock at the send (``sent_at``) to our clock at the reply
    (``received_at``): the server read its clock somewhere in between. Judging against the
    window rather than one reading after the reply keeps a client that was descheduled for
    seconds between the two (a loaded machine) from calling a correct server wrong.

    Returns:
        The served time as Unix seconds.

    Raises:
        TimeReplyError: wrong length, or a time too far outside the window.
    """
    try:
        served = decode_rfc868(reply, near=received_at)
    except MalformedReplyError as error:
        raise TimeReplyError(f"expected a 4-byte RFC 868 time / actual: {error}: {reply[:16].hex(' ')}") from None
    earliest, latest = sent_at - 1 - tolerance_s, received_at + tolerance_s
    if not earliest <= served <= latest:
        off = served - (sent_at if served < earliest else received_at)
        raise TimeReplyError(
            f"expected a time within {tolerance_s:g} s of the request's window "
            f"({received_at - sent_at:.3f} s long) / actual: {off:+.0f} s off"
        )
    return served


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


class TimeDatagramRequester(ConnectionRequester):
    """RFC 868 over one connected UDP socket: an empty request ("the server ... ignores the
    datagram"), every reply checked against our clock."""

    def __init__(self, address: tuple[str, int], options: RequestOptions) -> None:
        super().__init__(options)
        self.connection = DatagramConnection(address, timeout=options.reply_timeout_s)

    def request(self) -> int:
        sent_at = time.time()
        reply = self.connection.exchange(b"")
        check_time_reply(reply, sent_at=sent_at, received_at=time.time(), tolerance_s=LOAD_TIME_TOLERANCE_S)
        return len(reply)


def time_datagram_requester(address: tuple[str, int], options: RequestOptions) -> TimeDatagramRequester:
    """RFC 868 over UDP."""
    return TimeDatagramRequester(address, options)
