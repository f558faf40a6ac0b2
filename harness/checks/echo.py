"""Checkers for echo (RFC 862, TCP) and the chapter's line echo: plain functions of an endpoint.

Each ``check_*`` function takes an :class:`~harness.checks.endpoint.Endpoint`, talks to the
server within the endpoint's deadline, and either returns (the requirement was met) or raises
:class:`~harness.verdicts.ConformanceFailure` with "expected … / actual …". ``observe_*``
functions (INFO cases) return what they saw instead. None of them needs pytest; like trio's
``check_*`` functions they can be called from a script::

    from harness.checks import Deadline, Endpoint
    from harness.checks.echo import check_small_payload_echoed
    check_small_payload_echoed(Endpoint("127.0.0.1", 7, Deadline(30)))

What echo is (harness/protocols/echo.py; suites/echo_tcp/SPEC.md): RFC 862, "Once a
connection is established any data received is sent back. This continues until the calling
user terminates the connection." Every byte, in order, unchanged, however the client cuts its
sends; and after the client's FIN (SHUT_WR) the server echoes what it has and then closes.

What line echo is (suites/line_echo_tcp/SPEC.md): a line is echoed once its LF arrives,
not before; a last partial line is echoed at EOF, then the server closes.

Every check opens its own connections and closes them on every path out: a check that left
a connection open would block the next check on a one-client-at-a-time server.
"""

from __future__ import annotations

import socket
from typing import Sequence

from hypothesis import strategies as st

from harness.checks.endpoint import Endpoint, abort_connection
from harness.checks.properties import (
    MIB,
    SPECIAL_FRAGMENTS,
    build_payload,
    line_contents,
    payloads,
    run_property,
    split_payloads,
)
from harness.checks.stream import (
    STALL_TIMEOUT_S,
    Conversation,
    Ending,
    conversation_failure,
    converse,
    require_complete,
    split_at,
)
from harness.verdicts import (
    ConformanceFailure,
    describe_close,
    describe_data,
    describe_echo_expected,
    describe_reset,
    describe_timeout,
    preview,
)

# 862/1: the chapter's own test message.
SMALL_PAYLOAD = b"hello\r\n"

# 862/2: one connection per payload, so a failure names exactly which bytes were mangled.
AWKWARD_PAYLOADS: tuple[bytes, ...] = (
    bytes(range(256)),  # every byte value, ascending
    bytes(range(255, -1, -1)) * 4,  # every byte value, descending, 1 KiB
    b"\x00" * 1024,  # a NUL run: C string handling stops at the first
    b"\x00hello\x00\r\n\x00",
    b"\r\n",
    b"\r",
    b"\n",
    b"one\r\ntwo\nthree\rfour\n\r",
    b"\xff\xfe\xc3\x28",  # invalid UTF-8: decode/encode round trips mangle it
    b"\xc0\x80\xed\xa0\x80\xf4\x90\x80\x80",  # overlong NUL, a surrogate, above U+10FFFF
)

# After a small echo, how long to watch for bytes the server should not send (an echo sent
# twice). A server that has more to say says it within microseconds on loopback.
SURPLUS_WINDOW_S = 0.2

# 862/4: byte-at-a-time payloads stay small: each byte is its own send and segment.
BYTEWISE_MAX_BYTES = 2048

# 862/5: random splits of payloads up to this size (up to 65 sends each).
SPLIT_MAX_BYTES = 256 * 1024

# 862/6: large enough to fill both directions' socket buffers many times over, so a client
# or server that does not read while writing deadlocks.
BULK_BYTES = 16 * MIB

# 862/7: more than a loopback socket buffer's worth, sent before the FIN.
HALF_CLOSE_BYTES = 256 * 1024

# 862/9
SEQUENTIAL_CONNECTIONS = 200

# 862/10
RESET_ROUNDS = 3

# concurrency/1 and /2: "a few seconds" for an echo on loopback that has to wait for no one.
CONCURRENT_CLIENTS = 20
CONCURRENT_WAIT_S = 5.0

# line/2: how long a partial line is watched for a premature echo.
LINE_HOLD_WINDOW_S = 0.5

# limit/1: a line over the 64 KiB piece size (harness/protocols/echo.py MAX_LINE_BYTES);
# 200 KiB is three whole pieces and a remainder.
LONG_LINE_BYTES = 200 * 1024
# limit/1: after sending, how long a quiet connection is watched before SHUT_WR.
LONG_LINE_QUIET_S = 1.0


def _exchange(
    endpoint: Endpoint,
    chunks: Sequence[bytes],
    expected: bytes,
    *,
    expected_text: str | None = None,
    shut_wr: bool = False,
    read_to_eof: bool = False,
    stall_timeout: float = STALL_TIMEOUT_S,
    surplus_window: float = 0.0,
    label: str = "client",
) -> Conversation:
    """Connect, send ``chunks`` while reading, require exactly ``expected`` back, close.

    Args:
        surplus_window: after the expected bytes, watch this long for extra bytes.

    Raises:
        ConformanceFailure: connect failed, or the conversation did not complete.
    """
    expected_text = expected_text or describe_echo_expected(expected)
    sock = endpoint.connect()
    try:
        conversation = Conversation(
            sock, chunks, expected, shut_wr=shut_wr, read_to_eof=read_to_eof, label=label
        )
        converse([conversation], endpoint.deadline, stall_timeout=stall_timeout)
        require_complete(conversation, expected_text, endpoint.deadline, stall_timeout=stall_timeout)
        if surplus_window > 0 and not conversation.eof_seen:
            watch = Conversation(sock, [], None, label=label)
            converse([watch], endpoint.deadline, stall_timeout=surplus_window)
            if watch.received:
                surplus = expected + bytes(watch.received)
                raise ConformanceFailure(expected_text, describe_data(expected, surplus))
        return conversation
    finally:
        sock.close()


def _echo_payload(
    endpoint: Endpoint, payload: bytes, *, surplus_window: float = 0.0, label: str = "client"
) -> None:
    """Send ``payload`` in one ``send`` on a fresh connection; require it back byte-exact."""
    _exchange(endpoint, [payload], payload, surplus_window=surplus_window, label=label)


def _sends(chunks: Sequence[bytes]) -> str:
    total = sum(len(chunk) for chunk in chunks)
    return f"a {total}-byte payload in {len(chunks)} send{'s' if len(chunks) != 1 else ''}"


# --- echo-tcp, RFC 862 -----------------------------------------------------------------


def check_small_payload_echoed(endpoint: Endpoint) -> None:
    """862/1: ``b"hello\\r\\n"`` comes back byte-exact, and nothing more."""
    # RFC 862: "Once a connection is established any data received is sent back."
    _echo_payload(endpoint, SMALL_PAYLOAD, surplus_window=SURPLUS_WINDOW_S)


def check_awkward_bytes_echoed(endpoint: Endpoint) -> None:
    """862/2: every byte value, NUL runs, CR/LF, invalid UTF-8 come back byte-exact."""
    for payload in AWKWARD_PAYLOADS:
        # "any data received is sent back": data, not text; no byte is special.
        _echo_payload(endpoint, payload)


def check_arbitrary_payloads_echoed(endpoint: Endpoint, max_size: int = MIB) -> int:
    """862/3: hypothesis payloads of 0 B – 1 MiB come back byte-exact.

    Returns:
        How many payloads were checked.
    """
    return run_property(
        lambda payload: _echo_payload(endpoint, payload),
        payloads(max_size=max_size),
        lambda payload: f"a {len(payload)}-byte payload",
        name="echo-tcp/862/3",
        # the two ends of "0 B - 1 MiB", whatever else is drawn
        explicit=[b"", build_payload(max_size, seed=8623, fragments=list(SPECIAL_FRAGMENTS))],
    )


def check_bytewise_sends_echoed(endpoint: Endpoint, max_size: int = BYTEWISE_MAX_BYTES) -> int:
    """862/4: payloads sent one byte per ``send`` (TCP_NODELAY) come back byte-exact."""

    def check(payload: bytes) -> None:
        _exchange(endpoint, split_at(payload, range(1, len(payload))), payload)

    return run_property(
        check,
        payloads(min_size=1, max_size=max_size),
        lambda payload: f"a {len(payload)}-byte payload sent one byte at a time",
        name="echo-tcp/862/4",
        explicit=[bytes(range(256)) * (max_size // 256)],
    )


def check_split_sends_echoed(endpoint: Endpoint, max_size: int = SPLIT_MAX_BYTES) -> int:
    """862/5: payloads cut into sends at points hypothesis chooses come back byte-exact."""
    largest = build_payload(max_size, seed=8625, fragments=list(SPECIAL_FRAGMENTS))
    return run_property(
        lambda chunks: _exchange(endpoint, chunks, b"".join(chunks)),
        split_payloads(max_size=max_size),
        _sends,
        name="echo-tcp/862/5",
        explicit=[split_at(largest, range(1, max_size, 4099))],  # 64 uneven sends
    )


def check_bulk_echo_with_concurrent_read(endpoint: Endpoint, size: int = BULK_BYTES) -> None:
    """862/6: 16 MiB through one connection, read while writing, comes back byte-exact."""
    payload = build_payload(size, seed=862_6, fragments=list(SPECIAL_FRAGMENTS))
    _echo_payload(endpoint, payload)


def check_echo_complete_after_half_close(endpoint: Endpoint, size: int = HALF_CLOSE_BYTES) -> None:
    """862/7: everything sent before the client's SHUT_WR comes back."""
    payload = build_payload(size, seed=862_7, fragments=list(SPECIAL_FRAGMENTS))
    # SPEC.md: the FIN ends the client's data, not the echo of what preceded it.
    _exchange(
        endpoint,
        [payload],
        payload,
        shut_wr=True,
        expected_text=f"the {size} bytes sent before the client's SHUT_WR, all echoed back byte-exact",
    )


def check_close_after_half_close(endpoint: Endpoint) -> None:
    """862/8: after the client's SHUT_WR and the last echoed byte, an orderly close (EOF)."""
    payload = b"last words before FIN\r\n"
    # RFC 862: "This continues until the calling user terminates the connection." SPEC.md
    # reads the client's FIN as that termination: echo the rest, then close.
    _exchange(
        endpoint,
        [payload],
        payload,
        shut_wr=True,
        read_to_eof=True,
        expected_text=(
            f"the {len(payload)} bytes echoed, then the server's orderly close (EOF) "
            f"within {STALL_TIMEOUT_S:g} s of the last echoed byte"
        ),
    )


def check_sequential_connections(endpoint: Endpoint, count: int = SEQUENTIAL_CONNECTIONS) -> None:
    """862/9: ``count`` connections one after another, each echoing its own payload."""
    endpoint.deadline.pace.plan(count)  # a slow target's verdict can then advise a budget
    for number in range(1, count + 1):
        payload = f"connection {number} of {count}\r\n".encode() + build_payload(
            number % 64, seed=number, fragments=[]
        )
        _echo_payload(endpoint, payload, label=f"connection {number} of {count}")


def _reset_mid_echo(endpoint: Endpoint) -> str:
    sock = endpoint.connect()
    try:
        payload = build_payload(64 * 1024, seed=8621, fragments=[])
        started = Conversation(sock, [payload], payload, enough=1)
        # Whatever happens here is not judged: this client only has to be rude.
        converse([started], endpoint.deadline, stall_timeout=1.0)
    finally:
        abort_connection(sock)
    return "reset mid-echo of 64 KiB"


def _reset_after_connect(endpoint: Endpoint) -> str:
    abort_connection(endpoint.connect())
    return "reset right after connecting"


def _reset_with_unread_echo(endpoint: Endpoint) -> str:
    sock = endpoint.connect()
    try:
        payload = memoryview(build_payload(MIB, seed=8623, fragments=[]))
        offset = 0
        while offset < len(payload):
            try:
                offset += sock.send(payload[offset:])
            except (BlockingIOError, ConnectionError):
                break  # buffers full (we read nothing) or already reset: enough
    finally:
        abort_connection(sock)
    return "reset with up to 1 MiB sent and its echo unread"


def check_client_reset_does_not_hurt_next_client(endpoint: Endpoint, rounds: int = RESET_ROUNDS) -> None:
    """862/10: after a client resets its connection (RST), the next client is echoed."""
    ways = (_reset_mid_echo, _reset_after_connect, _reset_with_unread_echo)
    for round_number in range(rounds):
        how = ways[round_number % len(ways)](endpoint)
        probe = f"next client after round {round_number + 1}: {how}\r\n".encode()
        _echo_payload(endpoint, probe, label=f"the client after a {how}")


# --- echo-tcp, concurrency (SPEC.md) ---------------------------------------------------


def check_concurrent_clients(endpoint: Endpoint, clients: int = CONCURRENT_CLIENTS) -> None:
    """concurrency/1: ``clients`` connected at once (all before any sends) each get their bytes."""
    expected_text = (
        f"each of {clients} clients, all connected before any of them sends, gets its own "
        f"bytes back (within {CONCURRENT_WAIT_S:g} s of no progress)"
    )
    socks: list[socket.socket] = []
    try:
        for _ in range(clients):
            socks.append(endpoint.connect())
        conversations = []
        for number, sock in enumerate(socks, start=1):
            payload = f"client {number} of {clients}\r\n".encode() + build_payload(
                4096, seed=number, fragments=[b"\x00", b"\r\n"]
            )
            label = f"client {number} of {clients}"
            conversations.append(Conversation(sock, [payload], payload, label=label))
        converse(conversations, endpoint.deadline, stall_timeout=CONCURRENT_WAIT_S)
        failures = [
            failure
            for conversation in conversations
            if (
                failure := conversation_failure(
                    conversation, expected_text, endpoint.deadline, stall_timeout=CONCURRENT_WAIT_S
                )
            )
        ]
        if failures:
            served = clients - len(failures)
            others = f" (and {len(failures) - 1} more failing clients)" if len(failures) > 1 else ""
            # the first failure's type: a slow target (TargetTooSlow) stays slow, not FAILED
            raise type(failures[0])(
                expected_text,
                f"{served} of {clients} clients got their own bytes back; {failures[0].actual}{others}",
            )
    finally:
        for sock in socks:
            sock.close()


def check_idle_client_does_not_block_others(endpoint: Endpoint) -> None:
    """concurrency/2: a connected client that sends nothing does not delay another's echo."""
    payload = b"echo me while another client idles\r\n"
    idle = endpoint.connect()
    try:
        _exchange(
            endpoint,
            [payload],
            payload,
            stall_timeout=CONCURRENT_WAIT_S,
            label="the second client, while the first idles",
            expected_text=(
                f"the second client's {len(payload)} bytes echoed within {CONCURRENT_WAIT_S:g} s "
                "while the first client is connected and idle"
            ),
        )
    finally:
        idle.close()


# --- line-echo-tcp (suites/line_echo_tcp/SPEC.md) --------------------------------------


def check_line_echoed_on_lf(endpoint: Endpoint) -> None:
    """line/1: ``b"one\\n"`` comes back without the client sending more or closing."""
    # SPEC.md: "a line is echoed once its LF arrives"
    _exchange(
        endpoint,
        [b"one\n"],
        b"one\n",
        expected_text="b'one\\n' echoed back as soon as its LF arrives, with the connection left open",
    )


def check_partial_line_held(endpoint: Endpoint) -> None:
    """line/2: nothing of ``b"partial"`` comes back before its LF; then ``b"partial\\n"``."""
    expected_text = (
        f"nothing echoed within {LINE_HOLD_WINDOW_S:g} s of sending b'partial' (no LF yet); "
        "b'partial\\n' once the LF is sent"
    )
    sock = endpoint.connect()
    try:
        watch = Conversation(sock, [b"partial"], None)
        converse([watch], endpoint.deadline, stall_timeout=LINE_HOLD_WINDOW_S)
        if watch.received:
            first_at = watch.arrivals[0][0]
            raise ConformanceFailure(
                expected_text,
                f"data: {preview(bytes(watch.received))} echoed {first_at:.3f} s after sending, "
                "before the line's LF",
            )
        if watch.ending is Ending.EOF:
            raise ConformanceFailure(expected_text, describe_close(0) + " before the line's LF")
        if watch.ending is Ending.RESET:
            raise ConformanceFailure(expected_text, describe_reset(0) + " before the line's LF")
        if watch.ending is Ending.OUT_OF_TIME:
            raise ConformanceFailure(
                expected_text,
                describe_timeout(
                    endpoint.deadline.budget_s, 0, why=endpoint.deadline.spent_description()
                ),
            )
        rest = Conversation(sock, [b"\n"], b"partial\n")
        converse([rest], endpoint.deadline)
        require_complete(rest, expected_text, endpoint.deadline)
    finally:
        sock.close()


LINES_IN_ONE_SEGMENT = b"alpha\nbeta\r\n\x00gamma\x00\n\xff\xfe\xc3\x28\n\n\rdelta\n"
LINES_IN_ONE_SEGMENT_COUNT = LINES_IN_ONE_SEGMENT.count(b"\n")


def check_lines_in_one_segment(endpoint: Endpoint) -> None:
    """line/3: several lines in one ``send`` are all echoed, byte-exact, in order."""
    _exchange(
        endpoint,
        [LINES_IN_ONE_SEGMENT],
        LINES_IN_ONE_SEGMENT,
        expected_text=(
            f"all {LINES_IN_ONE_SEGMENT_COUNT} lines of one segment "
            f"({preview(LINES_IN_ONE_SEGMENT)}) echoed back byte-exact, in order"
        ),
    )


@st.composite
def _lines_in_pieces(draw: st.DrawFn) -> tuple[list[bytes], str]:
    lines = draw(st.lists(line_contents(max_size=512), min_size=1, max_size=8))
    data = b"".join(line + b"\n" for line in lines)
    if draw(st.booleans()) and len(data) <= BYTEWISE_MAX_BYTES:
        bytewise = split_at(data, range(1, len(data)))
        return bytewise, f"{len(lines)} lines ({len(data)} bytes) sent one byte at a time"
    offsets = draw(st.lists(st.integers(1, max(1, len(data) - 1)), max_size=32))
    chunks = split_at(data, offsets)
    return chunks, f"{len(lines)} lines ({len(data)} bytes) in {len(chunks)} sends"


def check_lines_in_pieces(endpoint: Endpoint) -> int:
    """line/4: lines arriving one byte at a time or in random splits come back byte-exact."""
    return run_property(
        lambda example: _exchange(endpoint, example[0], b"".join(example[0])),
        _lines_in_pieces(),
        lambda example: example[1],
        name="line-echo-tcp/line/4",
        explicit=[
            (
                split_at(LINES_IN_ONE_SEGMENT, range(1, len(LINES_IN_ONE_SEGMENT))),
                "the line/3 lines one byte at a time",
            )
        ],
    )


def check_line_content_arbitrary(endpoint: Endpoint) -> int:
    """line/5: line content is any bytes but LF; CR, NUL, invalid UTF-8 come back byte-exact."""

    def check(lines: list[bytes]) -> None:
        data = b"".join(line + b"\n" for line in lines)
        _exchange(endpoint, [data], data)

    return run_property(
        check,
        st.lists(line_contents(), min_size=1, max_size=16),
        lambda lines: f"{len(lines)} lines of {sum(len(line) + 1 for line in lines)} bytes in all",
        name="line-echo-tcp/line/5",
        explicit=[[b"", b"\r", b"crlf\r", b"\x00nul\x00", b"\xff\xfe\xc3\x28", bytes(range(11, 256))]],
    )


def check_last_line_echoed_at_eof(endpoint: Endpoint) -> None:
    """eof/1: a last line without LF is echoed after the client's SHUT_WR; then EOF."""
    data = b"first line\n" + b"last line, no LF\r\x00\xff"
    _exchange(
        endpoint,
        [data],
        data,
        shut_wr=True,
        read_to_eof=True,
        expected_text=(
            f"{preview(data)} echoed back (the last line, without LF, after the client's "
            f"SHUT_WR), then the server's orderly close (EOF) within {STALL_TIMEOUT_S:g} s"
        ),
    )


def observe_long_line(endpoint: Endpoint, size: int = LONG_LINE_BYTES) -> str:
    """limit/1 (INFO): what a server does with a ``size``-byte line that has no LF.

    Sends the line, watches until the connection is quiet for a second, then sends the FIN
    and reads to EOF.

    Returns:
        What came back and when, in words.

    Raises:
        ConformanceFailure: the server could not be reached at all.
    """
    line = build_payload(size, seed=1024, fragments=[b"\r", b"\x00", b"\xff\xfe"]).replace(b"\n", b"\r")
    sock = endpoint.connect()
    try:
        before = Conversation(sock, [line], None)
        converse([before], endpoint.deadline, stall_timeout=LONG_LINE_QUIET_S)
        parts = [f"a {size}-byte line with no LF: {_arrival_summary(before)} while the line was open"]
        received = bytes(before.received)
        if before.ending is Ending.STALLED:
            after = Conversation(sock, [], None, shut_wr=True)
            converse([after], endpoint.deadline)
            received += bytes(after.received)
            parts.append(
                f"after the client's SHUT_WR: {len(after.received)} more bytes, {_how_it_ended(after)}"
            )
        else:
            parts.append(_how_it_ended(before))
        if received == line:
            parts.append("all echoed bytes match the line byte-exact")
        else:
            parts.append(describe_data(line, received).splitlines()[0])
        return "; ".join(parts)
    finally:
        sock.close()


def _how_it_ended(conversation: Conversation) -> str:
    return {
        Ending.EOF: "then EOF",
        Ending.RESET: "then a reset",
        Ending.STALLED: f"and no EOF within {STALL_TIMEOUT_S:g} s",
    }.get(conversation.ending, "then the case's budget ran out")  # type: ignore[arg-type]


def _arrival_summary(conversation: Conversation) -> str:
    if not conversation.arrivals:
        return "0 bytes echoed"
    first, last = conversation.arrivals[0][0], conversation.arrivals[-1][0]
    count = len(conversation.received)
    pieces = f" (= {count // 65536} x 64 KiB)" if count and count % 65536 == 0 else ""
    return (
        f"{count} bytes{pieces} echoed in {len(conversation.arrivals)} reads, "
        f"first at {first:.3f} s, last at {last:.3f} s"
    )
