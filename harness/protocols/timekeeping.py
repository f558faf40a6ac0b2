"""Daytime (RFC 867), Time (RFC 868) and the chapter's ctime server, sans-IO.

Every protocol here is given its clock (a callable returning Unix time as a float), never
reads one: the runner-side default is :func:`time.time`, and the tests pass a fixed clock,
which is how the 2036 rollover and the epoch arithmetic are tested without waiting for 2036.

RFC 867 fixes no syntax ("there is no specific syntax for the daytime"); it suggests two.
We send the first suggestion, in UTC, terminated by CR LF:
``Weekday, Month Day, Year HH:MM:SS-Zone`` (e.g. ``Tuesday, February 22, 1982 17:37:43-UTC``).

RFC 868: "The time is the number of seconds since 00:00 (midnight) 1 January 1900 GMT", sent
as a 32-bit binary number. The count passes 2**32 on 2036-02-07 06:28:16 UTC; the RFC says
nothing of what follows, and we send the count modulo 2**32 (what every implementation
does, and what NTP's era 1 means).

The chapter's UDP time server sends ``time.ctime().encode('ascii')``: local time, 24
characters, no terminator. ``ctime-udp`` does exactly that (its SPEC.md under suites/).
"""

from __future__ import annotations

import struct
import time
from typing import Callable

from harness.protocols.base import Chunk, ConnectionContext

Clock = Callable[[], float]

# RFC 868: seconds from 1900-01-01 to 1970-01-01 (70 years, 17 of them leap years).
SECONDS_1900_TO_1970 = 2_208_988_800

# RFC 867's first suggested syntax ("Weekday, Month Day, Year HH:MM:SS-Zone"), in UTC.
DAYTIME_FORMAT = "%A, %B %d, %Y %H:%M:%S-UTC"


def rfc868_time(unix_seconds: float) -> bytes:
    """The 4-byte big-endian RFC 868 time for ``unix_seconds`` (modulo 2**32 after 2036)."""
    return struct.pack("!I", (int(unix_seconds) + SECONDS_1900_TO_1970) % 2**32)


def rfc867_daytime(unix_seconds: float) -> bytes:
    """The daytime string for ``unix_seconds``: ASCII, RFC 867's first suggested syntax, CRLF."""
    return time.strftime(DAYTIME_FORMAT, time.gmtime(unix_seconds)).encode("ascii") + b"\r\n"


class _SpeakThenCloseProtocol:
    """A stream service that sends one reply on connect, ignores input, and closes."""

    def __init__(self, reply: Callable[[float], bytes], clock: Clock) -> None:
        self._reply = reply
        self._clock = clock
        self._output = b""

    @property
    def wants_input(self) -> bool:
        return True  # read (and throw away) until the runner's lingering close

    @property
    def wants_close(self) -> bool:
        return True  # the reply is everything; close once it is written

    def connection_made(self, context: ConnectionContext) -> None:
        self._output = self._reply(self._clock())

    def data_received(self, data: bytes) -> None:
        pass  # RFC 867: "any data received is thrown away".

    def eof_received(self) -> None:
        pass

    def pull_output(self, max_bytes: int) -> Chunk:
        piece, self._output = self._output[:max_bytes], self._output[max_bytes:]
        return piece

    def connection_lost(self) -> None:
        pass


class DaytimeStreamProtocol(_SpeakThenCloseProtocol):
    """RFC 867 over TCP: "Once a connection is established the current date and time is sent
    out the connection as a ascii character string ... The service closes the connection
    after sending the quote." """

    def __init__(self, clock: Clock = time.time) -> None:
        super().__init__(rfc867_daytime, clock)


class TimeStreamProtocol(_SpeakThenCloseProtocol):
    """RFC 868 over TCP: "the server returns a 32-bit time value and closes the connection." """

    def __init__(self, clock: Clock = time.time) -> None:
        super().__init__(rfc868_time, clock)


class DaytimeDatagramProtocol:
    """RFC 867 over UDP: "an answering datagram is sent containing the current date and time
    as a ASCII character string (the data in the received datagram is ignored)." """

    def __init__(self, clock: Clock = time.time) -> None:
        self._clock = clock

    def datagram_received(self, data: bytes) -> list[bytes]:
        return [rfc867_daytime(self._clock())]


class TimeDatagramProtocol:
    """RFC 868 over UDP: "When a datagram arrives, the server returns a datagram containing
    the 32-bit time value." """

    def __init__(self, clock: Clock = time.time) -> None:
        self._clock = clock

    def datagram_received(self, data: bytes) -> list[bytes]:
        return [rfc868_time(self._clock())]


class CtimeDatagramProtocol:
    """The chapter's UDP time server: any datagram gets ``time.ctime()`` in ASCII."""

    def __init__(self, clock: Clock = time.time) -> None:
        self._clock = clock

    def datagram_received(self, data: bytes) -> list[bytes]:
        return [time.ctime(self._clock()).encode("ascii")]


# --- the client side: what a reply means -------------------------------------------------


class MalformedReplyError(ValueError):
    """A reply that the RFC's format cannot produce (wrong length, non-ASCII...)."""


def decode_rfc868(reply: bytes, *, near: float) -> float:
    """The Unix time an RFC 868 reply stands for, choosing the 2**32-second era nearest ``near``.

    RFC 868 leaves the era implicit; picking the one closest to the client's own clock is
    what makes a post-2036 reply (which wraps to small numbers) decode correctly.

    Raises:
        MalformedReplyError: the reply is not exactly 4 bytes (RFC 868: "a 32-bit time value").
    """
    if len(reply) != 4:
        raise MalformedReplyError(f"a time reply is 4 bytes, this one is {len(reply)}")
    count = struct.unpack("!I", reply)[0]
    near_count = int(near) + SECONDS_1900_TO_1970
    era = round((near_count - count) / 2**32)
    return count + era * 2**32 - SECONDS_1900_TO_1970


def decode_daytime(reply: bytes) -> str:
    """The daytime text of a reply.

    Raises:
        MalformedReplyError: a byte that is not an ASCII printing character, space, CR or LF
            (RFC 867: "the current date and time is sent ... as a ascii character string").
    """
    bad = [byte for byte in reply if not (32 <= byte < 127 or byte in (10, 13))]
    if bad:
        raise MalformedReplyError(f"daytime is ASCII text; byte 0x{bad[0]:02x} is not")
    return reply.decode("ascii")
