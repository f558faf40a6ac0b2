"""Checkers for time (RFC 868), daytime (RFC 867), the chapter's ctime server, and UDP echo.

Each ``check_*`` is a plain function of an :class:`~harness.checks.endpoint.Endpoint` that
returns normally or raises :class:`~harness.verdicts.ConformanceFailure`; each ``observe_*``
returns a sentence for an INFO case. The value judgements are separate pure functions
(``judge_*``: reply in, problem description or None out) so that they are unit-tested
without a network.

Stream services that speak first (time-tcp, daytime-tcp) are read with an observing
:class:`~harness.checks.stream.Conversation`: it ends at the server's close, at a reset, or
after the stall limit of silence, and the checker judges what arrived and how it ended.

A wrong time gets a diagnosis, because the usual mistakes have fingerprints: a value near
now read as seconds since 1970 is the Unix epoch sent as is; one that is near now with its
bytes reversed is little-endian.
"""

from __future__ import annotations

import datetime
import email.utils
import struct
import time
from typing import Callable

from harness.checks.datagram import (
    MAX_PAYLOAD_BYTES,
    check_concurrent_clients,
    check_connected_client_is_answered,
    exchange,
    family_of,
    require_reply_from_server,
)
from harness.checks.endpoint import Endpoint, half_close
from harness.checks.stream import STALL_TIMEOUT_S, Conversation, converse
from harness.protocols.timekeeping import SECONDS_1900_TO_1970, decode_rfc868
from harness.verdicts import (
    ConformanceFailure,
    describe_close,
    describe_data,
    describe_reset,
    describe_timeout,
    preview,
)

# The default --clock-tolerance: server and suite share a machine (or a LAN's NTP), so a
# few seconds cover scheduling and a second's rounding with a wide margin.
DEFAULT_CLOCK_TOLERANCE_S = 5.0

# The time on 2036-02-07 06:28:16 UTC, when RFC 868's 32-bit count of seconds wraps.
RFC868_ROLLOVER_UNIX = 2**32 - SECONDS_1900_TO_1970

# Requests for the "any datagram" cases: RFC 867/868 say the request's content is ignored.
NON_EMPTY_REQUEST = b"what time is it?\r\n"

# How many clients ask at once in the concurrency cases, and how many requests a burst sends.
CONCURRENT_CLIENTS = 20
BURST_REQUESTS = 500


# --- pure judgements ----------------------------------------------------------------------


def judge_rfc868_value(reply: bytes, now: float, tolerance_s: float) -> str | None:
    """None if ``reply`` is an RFC 868 time within ``tolerance_s`` of ``now``, else why not."""
    if len(reply) != 4:
        return f"a reply of {preview(reply)}, not the 4 bytes of a 32-bit time value"
    value = decode_rfc868(reply, near=now)
    offset = value - now
    if abs(offset) <= tolerance_s:
        return None
    (raw,) = struct.unpack("!I", reply)
    (swapped,) = struct.unpack("<I", reply)
    hints = []
    if abs(raw - now) <= tolerance_s:
        hints.append("it is the Unix time (seconds since 1970), not seconds since 1900")
    if abs(swapped - SECONDS_1900_TO_1970 - now) <= tolerance_s:
        hints.append("its bytes are little-endian; RFC 868 sends network (big-endian) order")
    if abs(swapped - now) <= tolerance_s:
        hints.append("it is the Unix time, little-endian")
    when = datetime.datetime.fromtimestamp(value, datetime.timezone.utc).isoformat(timespec="seconds") if abs(value) < 2**37 else "?"
    text = (
        f"the value {raw} (0x{reply.hex()}) reads as {when} (seconds since 1900), "
        f"{round(offset):+d} s from the local clock (tolerance {tolerance_s:g} s)"
    )
    return text + (": " + "; ".join(hints) if hints else "")


def judge_daytime_text(reply: bytes) -> str | None:
    """None if ``reply`` is non-empty ASCII printing characters, space, CR and LF only."""
    if not reply:
        return "an empty reply, where the date and time were due"
    for offset, byte in enumerate(reply):
        if not (32 <= byte < 127 or byte in (10, 13)):
            return (
                f"byte 0x{byte:02x} at offset {offset} is not an ASCII printing character, "
                f"space, CR or LF (reply: {preview(reply, 48)})"
            )
    return None


def parse_any_date(text: str) -> tuple[str, datetime.datetime] | None:
    """Try the syntaxes daytime servers use; return (which, when, as UTC) or None.

    RFC 867 fixes no syntax; it suggests "Weekday, Month Day, Year HH:MM:SS-Zone" and
    "dd mmm yy hh:mm:ss zzz". Servers also send ctime(3), RFC 2822 and ISO 8601 dates.
    Zone names other than UTC/GMT are not interpreted (read as UTC and said so).
    """
    line = text.strip()
    attempts: list[tuple[str, Callable[[str], datetime.datetime]]] = [
        ("RFC 867's first suggestion", lambda s: datetime.datetime.strptime(s.rsplit("-", 1)[0], "%A, %B %d, %Y %H:%M:%S")),
        ("RFC 867's second suggestion", lambda s: datetime.datetime.strptime(s.rsplit(" ", 1)[0], "%d %b %y %H:%M:%S")),
        ("day month year time zone", lambda s: datetime.datetime.strptime(s.rsplit(" ", 1)[0], "%d %b %Y %H:%M:%S")),
        ("ctime(3)", lambda s: datetime.datetime.strptime(s, "%a %b %d %H:%M:%S %Y")),
        ("RFC 2822", email.utils.parsedate_to_datetime),
        ("ISO 8601", datetime.datetime.fromisoformat),
    ]
    for name, parse in attempts:
        try:
            when = parse(line)
        except (ValueError, TypeError, IndexError):
            continue
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.timezone.utc)
        return name, when
    return None


def describe_daytime_date(reply: bytes, now: float) -> str:
    """An INFO sentence: which date syntax the reply follows, and how far from our clock."""
    text = reply.decode("ascii", "replace")
    parsed = parse_any_date(text)
    if parsed is None:
        return f"{text.strip()!r}: no date syntax recognised (RFC 867 fixes none)"
    name, when = parsed
    offset = when.timestamp() - now
    local = time.localtime(now)
    zone_note = "" if offset == 0 or abs(offset) < 60 else (
        f" (if the server sends local time: our UTC offset is {local.tm_gmtoff:+d} s)"
    )
    return f"{text.strip()!r}: parsed as {name}, {round(offset):+d} s from the local clock{zone_note}"


def judge_ctime_text(reply: bytes, now: float, tolerance_s: float) -> str | None:
    """None if ``reply`` is exactly ``time.ctime()``'s 24 ASCII characters, near ``now``."""
    problem = judge_daytime_text(reply)
    if problem:
        return problem
    text = reply.decode("ascii")
    try:
        when = time.mktime(time.strptime(text, "%a %b %d %H:%M:%S %Y"))
    except ValueError:
        return f"{text!r} is not ctime()'s 'Www Mmm dd hh:mm:ss yyyy' (24 characters, no newline)"
    if abs(when - now) > tolerance_s:
        return f"{text!r} is {when - now:+.0f} s from the local clock (tolerance {tolerance_s:g} s)"
    return None


# --- stream services that speak first and close -------------------------------------------


def read_until_close(endpoint: Endpoint, request: bytes = b"") -> Conversation:
    """Connect, optionally send ``request``, and read until close, reset or the stall limit.

    The conversation gets a ``wall_started`` attribute (Unix time when reading began), so
    that :func:`arrival_time` can say when a byte arrived: a reply must be judged against the
    clock when it came, not after a stall limit spent waiting for a close.
    """
    sock = endpoint.connect()
    try:
        conversation = Conversation(sock, [request] if request else [], expected=None)
        conversation.wall_started = time.time()  # type: ignore[attr-defined]
        converse([conversation], endpoint.deadline)
    finally:
        sock.close()
    return conversation


def arrival_time(conversation: Conversation, byte_count: int) -> float:
    """Unix time at which the first ``byte_count`` bytes of the reply had all arrived."""
    started: float = conversation.wall_started  # type: ignore[attr-defined]
    for seconds, received in conversation.arrivals:
        if received >= byte_count:
            return started + seconds
    return time.time()


def describe_spoken_reply(conversation: Conversation, want: int | None = None) -> str:
    """How a speak-then-close conversation went: bytes, then close / reset / silence."""
    received = len(conversation.received)
    ending = conversation.ending.value if conversation.ending else "?"
    if ending == "reset":
        return describe_reset(received, want)
    if conversation.eof_seen:
        return describe_close(received, want)
    return describe_timeout(
        STALL_TIMEOUT_S, received, want, why="the server neither sent more nor closed"
    )


def check_tcp_reply_unasked(endpoint: Endpoint, expected: str, minimum: int = 1) -> Conversation:
    """The server sends (at least ``minimum`` bytes) without a request. Returns the conversation."""
    conversation = read_until_close(endpoint)
    if len(conversation.received) < minimum:
        raise ConformanceFailure(expected, describe_spoken_reply(conversation, minimum))
    return conversation


def check_tcp_closes_after_reply(endpoint: Endpoint, expected: str, exact_length: int | None) -> bytes:
    """The server closes (orderly) after its reply, of ``exact_length`` bytes if given."""
    conversation = read_until_close(endpoint)
    reply = bytes(conversation.received)
    if exact_length is not None and len(reply) > exact_length:
        raise ConformanceFailure(
            expected, f"{len(reply) - exact_length} bytes after the reply's {exact_length}: {preview(reply, 24)}"
        )
    if not conversation.eof_seen or (exact_length is not None and len(reply) < exact_length):
        raise ConformanceFailure(expected, describe_spoken_reply(conversation, exact_length))
    return reply


def check_tcp_time_value(endpoint: Endpoint, tolerance_s: float, expected: str) -> None:
    conversation = check_tcp_reply_unasked(endpoint, expected, minimum=4)
    reply = bytes(conversation.received)
    problem = judge_rfc868_value(reply[:4], arrival_time(conversation, 4), tolerance_s)
    if problem:
        raise ConformanceFailure(expected, problem)


def check_tcp_daytime_ignores_input(endpoint: Endpoint, expected: str) -> None:
    """RFC 867: "any data received is thrown away": a client's bytes do not show in the reply."""
    junk = b"ECHO-ME-NOT 0123456789\r\n"
    conversation = read_until_close(endpoint, junk)
    reply = bytes(conversation.received)
    if junk.strip() in reply:
        raise ConformanceFailure(expected, f"the client's bytes came back in the reply: {preview(reply, 48)}")
    if not reply or not conversation.eof_seen:
        # The text itself is 867/3's business; here only "still sent, then closed".
        raise ConformanceFailure(expected, describe_spoken_reply(conversation))


def check_concurrent_tcp_replies(
    endpoint: Endpoint, judge: Callable[[bytes, float], str | None], expected: str
) -> None:
    """``CONCURRENT_CLIENTS`` connections at once, each read to close and judged.

    Args:
        judge: (reply, Unix time it arrived) -> None if right, else what is wrong.
    """
    sockets = []
    try:
        # Each client half-closes at once, as a client with nothing to say may (RFC 868's
        # "U: Receive the time. U: Close the connection."): a server lingering before its
        # close then sees our EOF at once instead of waiting out its linger per client. At
        # once means right after its connect, before the next client's: over TLS a connect
        # includes the handshake, which a one-at-a-time server can only do once it is done
        # lingering on the client before.
        for _ in range(CONCURRENT_CLIENTS):
            sockets.append(endpoint.connect())
            half_close(sockets[-1])
        conversations = [
            Conversation(sock, [], expected=None, label=f"client {n + 1}") for n, sock in enumerate(sockets)
        ]
        wall_started = time.time()
        for conversation in conversations:
            conversation.wall_started = wall_started  # type: ignore[attr-defined]
        converse(conversations, endpoint.deadline)
    finally:
        for sock in sockets:
            sock.close()
    failures = []
    for conversation in conversations:
        if conversation.eof_seen:
            reply = bytes(conversation.received)
            problem = judge(reply, arrival_time(conversation, len(reply)))
        else:
            problem = describe_spoken_reply(conversation)
        if problem:
            failures.append(f"{conversation.label}: {problem}")
    if failures:
        raise ConformanceFailure(
            expected,
            f"{CONCURRENT_CLIENTS - len(failures)} of {CONCURRENT_CLIENTS} clients got a right reply; "
            f"{failures[0]}" + (f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""),
        )


# --- datagram services --------------------------------------------------------------------


def check_datagram_answered(
    endpoint: Endpoint, request: bytes, judge: Callable[[bytes], str | None], expected: str
) -> bytes:
    """``request`` gets a reply that ``judge`` accepts (called the moment the reply is in,
    so a judge that reads the clock reads it then). Returns the reply."""
    reply = exchange(endpoint, request, expected=expected)
    problem = judge(reply.data)
    if problem:
        raise ConformanceFailure(expected, problem)
    return reply.data


def check_reply_source(endpoint: Endpoint, expected: str, request: bytes = NON_EMPTY_REQUEST) -> None:
    """The reply comes from the address and port the request went to.

    A non-empty request, so that a server which ignores empty datagrams fails the case about
    empty datagrams, not this one.
    """
    require_reply_from_server(endpoint, exchange(endpoint, request, expected=expected), expected)
    check_connected_client_is_answered(endpoint, expected, request)


def check_concurrent_datagram_clients(
    endpoint: Endpoint, request_for: Callable[[int], bytes], judge: Callable[[int, bytes], str | None], expected: str
) -> None:
    check_concurrent_clients(endpoint, CONCURRENT_CLIENTS, request_for, judge, expected)


def observe_rollover(reply: bytes, now: float) -> str:
    """An INFO sentence on RFC 868's 2036 wrap for this server's current reply."""
    if len(reply) != 4:
        return f"reply of {len(reply)} bytes; no 32-bit value to place in an era"
    (count,) = struct.unpack("!I", reply)
    left = RFC868_ROLLOVER_UNIX - now
    return (
        f"the server sent {count} (0x{reply.hex()}); the 32-bit count wraps to 0 on "
        f"2036-02-07 06:28:16 UTC, in {left / 86400 / 365.25:.1f} years; a client must then "
        "pick the era (this suite takes the one nearest its own clock)"
    )


# --- UDP echo -----------------------------------------------------------------------------


def echo_sizes(endpoint: Endpoint) -> list[int]:
    """Datagram sizes worth testing: the edges of common buffers, up to the largest possible."""
    largest = MAX_PAYLOAD_BYTES[family_of(endpoint)]
    return [1, 2, 512, 1024, 1472, 1473, 4096, 8192, 8193, 16384, 32768, 65000, largest]


def check_datagram_echo(endpoint: Endpoint, payload: bytes, expected: str) -> None:
    """``payload`` comes back in one datagram, byte-exact."""
    reply = exchange(endpoint, payload, expected=expected)
    if reply.data != payload:
        raise ConformanceFailure(expected, describe_data(payload, reply.data))
