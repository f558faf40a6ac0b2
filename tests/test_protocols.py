"""Sans-IO protocol objects, fed whole, one byte at a time, and in arbitrary splits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.protocols.echo import HIGH_WATER_BYTES, EchoProtocol, LineEchoProtocol
from tests.sansio import Drive


def driven(protocol, max_bytes: int = 65536) -> Drive:
    drive = Drive(protocol, max_bytes=max_bytes)
    assert drive.start() == b""
    return drive


def feed(protocol, chunks: list[bytes]) -> tuple[bytes, bytes]:
    """Feed chunks then EOF; return (what came out before EOF, what came out at EOF)."""
    drive = driven(protocol, max_bytes=7)  # a socket that takes 7 bytes at a time
    before = b"".join(drive.feed(chunk) for chunk in chunks if chunk)
    return before, drive.eof()


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(cut, len(data)) for cut in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


def test_echo_returns_each_chunk_at_once() -> None:
    protocol = EchoProtocol()
    drive = driven(protocol)
    assert drive.feed(b"\x00\xff\r\n") == b"\x00\xff\r\n"
    assert not protocol.wants_close


def test_echo_wants_close_only_after_eof() -> None:
    protocol = EchoProtocol()
    drive = driven(protocol)
    drive.feed(b"x")
    assert not protocol.wants_close
    assert drive.eof() == b""
    assert protocol.wants_close


def test_echo_pauses_input_while_its_reply_is_unsent_and_resumes_once_pulled() -> None:
    protocol = EchoProtocol()
    driven(protocol)
    chunk = b"x" * 65536
    while protocol.wants_input:
        protocol.data_received(chunk)  # a runner that cannot send: nothing is pulled
    assert HIGH_WATER_BYTES <= protocol._output.pending_bytes < HIGH_WATER_BYTES + len(chunk)
    first = protocol.pull_output(65536)
    assert bytes(first) == chunk and protocol.wants_input


def test_echo_hands_out_a_large_chunk_as_slices_without_copying_it_whole() -> None:
    protocol = EchoProtocol()
    driven(protocol)
    protocol.data_received(b"a" * 10 + b"b" * 10)
    first = protocol.pull_output(10)
    assert isinstance(first, memoryview) and bytes(first) == b"a" * 10
    assert bytes(protocol.pull_output(100)) == b"b" * 10
    assert protocol.pull_output(100) == b""


@given(st.binary(max_size=4096), st.lists(st.integers(0, 4096), max_size=20))
def test_echo_is_identity_however_split(data: bytes, cuts: list[int]) -> None:
    before, at_eof = feed(EchoProtocol(), split_at(data, cuts))
    assert before + at_eof == data


def test_line_echo_holds_a_line_until_its_newline() -> None:
    drive = driven(LineEchoProtocol())
    assert drive.feed(b"par") == b""
    assert drive.feed(b"tial") == b""
    assert drive.feed(b"\nnext") == b"partial\n"


def test_line_echo_returns_every_complete_line_of_one_chunk() -> None:
    protocol = LineEchoProtocol()
    drive = driven(protocol)
    assert drive.feed(b"a\nbb\r\nccc\ntail") == b"a\nbb\r\nccc\n"
    assert drive.eof() == b"tail"
    assert protocol.wants_close


def test_line_echo_one_byte_at_a_time() -> None:
    drive = driven(LineEchoProtocol())
    out = [drive.feed(bytes([b])) for b in b"ab\ncd\n"]
    assert out == [b"", b"", b"ab\n", b"", b"", b"cd\n"]


def test_line_echo_flushes_nothing_extra_at_eof_after_a_full_line() -> None:
    drive = driven(LineEchoProtocol())
    assert drive.feed(b"line\n") == b"line\n"
    assert drive.eof() == b""


def test_line_echo_bounds_an_endless_line() -> None:
    drive = driven(LineEchoProtocol(max_line_bytes=4))
    assert drive.feed(b"abc") == b""
    assert drive.feed(b"defghij") == b"abcdefgh"  # two whole 4-byte pieces
    assert drive.feed(b"\n") == b"ij\n"


def test_line_echo_rejects_a_nonsense_bound() -> None:
    with pytest.raises(ValueError):
        LineEchoProtocol(max_line_bytes=0)


@given(
    st.lists(st.binary(max_size=64).map(lambda b: b.replace(b"\n", b"")), max_size=20),
    st.binary(max_size=64).map(lambda b: b.replace(b"\n", b"")),
    st.lists(st.integers(0, 2000), max_size=20),
)
def test_line_echo_is_identity_and_never_splits_a_short_line(
    lines: list[bytes], tail: bytes, cuts: list[int]
) -> None:
    data = b"".join(line + b"\n" for line in lines) + tail
    drive = driven(LineEchoProtocol())
    outputs = [drive.feed(chunk) for chunk in split_at(data, cuts) if chunk]
    outputs.append(drive.eof())
    assert b"".join(outputs) == data
    for output in outputs[:-1]:
        assert output == b"" or output.endswith(b"\n")  # only whole lines before EOF


# --- time services, with a clock given rather than read --------------------------------

from harness.protocols.echo import EchoDatagramProtocol  # noqa: E402
from harness.protocols.timekeeping import (  # noqa: E402
    SECONDS_1900_TO_1970,
    CtimeDatagramProtocol,
    DaytimeDatagramProtocol,
    DaytimeStreamProtocol,
    TimeDatagramProtocol,
    TimeStreamProtocol,
    rfc867_daytime,
    rfc868_time,
)


def test_rfc868_examples() -> None:
    # RFC 868: "the time 2,208,988,800 corresponds to 00:00 1 Jan 1970 GMT"
    assert rfc868_time(0) == (2_208_988_800).to_bytes(4, "big")
    # RFC 868: "2,629,584,000 corresponds to 00:00 1 May 1983 GMT" (1983-05-01 is Unix 420595200)
    assert rfc868_time(420_595_200) == (2_629_584_000).to_bytes(4, "big")


def test_rfc868_wraps_in_2036() -> None:
    rollover = 2**32 - SECONDS_1900_TO_1970  # 2036-02-07 06:28:16 UTC
    assert rfc868_time(rollover - 1) == b"\xff\xff\xff\xff"
    assert rfc868_time(rollover) == b"\x00\x00\x00\x00"


def test_rfc867_daytime_is_the_first_suggested_syntax_in_ascii() -> None:
    # RFC 867's example is "Tuesday, February 22, 1982 17:37:43-PST"; that day was in fact a
    # Monday, which is what a real clock says (and why suites never compare weekday names).
    assert rfc867_daytime(383_247_463) == b"Monday, February 22, 1982 17:37:43-UTC\r\n"


def test_stream_time_services_speak_first_then_want_to_close() -> None:
    for protocol, reply in (
        (TimeStreamProtocol(clock=lambda: 0), rfc868_time(0)),
        (DaytimeStreamProtocol(clock=lambda: 0), rfc867_daytime(0)),
    ):
        drive = Drive(protocol, max_bytes=3)
        assert drive.start() == reply
        assert protocol.wants_close
        assert drive.feed(b"ignored") == b""  # RFC 867: "thrown away"


def test_datagram_services_answer_any_datagram_once() -> None:
    assert TimeDatagramProtocol(clock=lambda: 1.9).datagram_received(b"") == [rfc868_time(1)]
    assert DaytimeDatagramProtocol(clock=lambda: 0).datagram_received(b"x") == [rfc867_daytime(0)]
    (reply,) = CtimeDatagramProtocol(clock=lambda: 0).datagram_received(b"anything")
    assert len(reply) == 24 and reply.isascii()  # ctime()'s fixed width
    assert EchoDatagramProtocol().datagram_received(b"") == [b""]


from harness.protocols.timekeeping import MalformedReplyError, decode_daytime, decode_rfc868  # noqa: E402


@pytest.mark.parametrize("unix_seconds", [0, 1_700_000_000, 2**32 - SECONDS_1900_TO_1970 + 5, 3_000_000_000])
def test_rfc868_round_trips_in_the_era_nearest_the_client(unix_seconds: int) -> None:
    assert decode_rfc868(rfc868_time(unix_seconds), near=unix_seconds + 100) == unix_seconds


def test_rfc868_reply_of_the_wrong_length_is_malformed() -> None:
    for reply in (b"", b"\x00\x00\x00", b"\x00" * 5):
        with pytest.raises(MalformedReplyError):
            decode_rfc868(reply, near=0)


def test_daytime_allows_printing_ascii_space_cr_lf_only() -> None:
    assert decode_daytime(b"Mon Jan  1 00:00:00 2024\r\n") == "Mon Jan  1 00:00:00 2024\r\n"
    for bad in (b"caf\xc3\xa9", b"tab\there", b"nul\x00"):
        with pytest.raises(MalformedReplyError):
            decode_daytime(bad)


def test_output_queue_joins_small_chunks_and_leaves_large_ones_whole() -> None:
    """An HTTP head and a small body leave in one send (no Nagle/delayed-ACK stall between them)."""
    from harness.protocols.base import COALESCE_LIMIT, OutputQueue

    queue = OutputQueue()
    for chunk in (b"HTTP/1.1 200 OK\r\n\r\n", b"<h1>Hello</h1>", b"!"):
        queue.append(chunk)
    assert queue.pull(65536) == b"HTTP/1.1 200 OK\r\n\r\n<h1>Hello</h1>!" and not queue
    large = bytes(COALESCE_LIMIT)
    queue.append(b"head")
    queue.append(large)
    assert queue.pull(65536) == b"head"  # a large chunk is not copied to join a small one
    assert queue.pull(65536) is large
    queue.append(b"abc")
    queue.append(b"def")
    assert queue.pull(4) == b"abc" and queue.pull(4) == b"def"  # never more than max_bytes
