"""The pure judgements behind the time and daytime cases, without a network."""

from __future__ import annotations

import struct
import time

import pytest

from harness.checks.timekeeping import (
    describe_daytime_date,
    judge_ctime_text,
    judge_daytime_text,
    judge_rfc868_value,
    parse_any_date,
)
from harness.protocols.timekeeping import SECONDS_1900_TO_1970, rfc867_daytime, rfc868_time

NOW = 1_795_600_000.0  # 2026-11-25, a fixed "local clock"


def test_a_correct_time_is_accepted() -> None:
    assert judge_rfc868_value(rfc868_time(NOW + 2), NOW, 5) is None


def test_unix_epoch_is_diagnosed() -> None:
    problem = judge_rfc868_value(struct.pack("!I", int(NOW)), NOW, 5)
    assert problem and "Unix time (seconds since 1970), not seconds since 1900" in problem


def test_little_endian_is_diagnosed() -> None:
    problem = judge_rfc868_value(struct.pack("<I", int(NOW) + SECONDS_1900_TO_1970), NOW, 5)
    assert problem and "little-endian" in problem


def test_a_wrong_length_is_named() -> None:
    problem = judge_rfc868_value(struct.pack("!Q", int(NOW) + SECONDS_1900_TO_1970), NOW, 5)
    assert problem and "not the 4 bytes" in problem


def test_a_clock_off_by_a_minute_fails_with_its_offset() -> None:
    problem = judge_rfc868_value(rfc868_time(NOW - 60), NOW, 5)
    assert problem and "-60 s from the local clock" in problem


@pytest.mark.parametrize("reply", [b"", b"caf\xc3\xa9 25 nov", b"25\tNov", b"25 Nov \x00"])
def test_daytime_text_outside_printing_ascii_is_rejected(reply: bytes) -> None:
    assert judge_daytime_text(reply) is not None


def test_daytime_text_with_crlf_is_accepted() -> None:
    assert judge_daytime_text(rfc867_daytime(NOW)) is None


@pytest.mark.parametrize(
    "text, syntax",
    [
        ("Wednesday, November 25, 2026 10:00:00-UTC\r\n", "RFC 867's first suggestion"),
        ("25 NOV 26 10:00:00 UTC", "RFC 867's second suggestion"),
        ("25 NOV 2026 10:00:00 UTC\r\n", "day month year time zone"),
        ("Wed Nov 25 10:00:00 2026\n", "ctime(3)"),
        ("Wed, 25 Nov 2026 10:00:00 +0000", "RFC 2822"),
        ("2026-11-25T10:00:00+00:00", "ISO 8601"),
    ],
)
def test_the_date_syntaxes_servers_use_are_recognised(text: str, syntax: str) -> None:
    parsed = parse_any_date(text)
    assert parsed is not None and parsed[0] == syntax
    assert parsed[1].year == 2026 and parsed[1].hour == 10


def test_an_unknown_date_syntax_is_recorded_not_judged() -> None:
    assert "no date syntax recognised" in describe_daytime_date(b"teatime\r\n", NOW)


def test_ctime_text_must_be_exact() -> None:
    good = time.ctime(NOW).encode("ascii")
    assert judge_ctime_text(good, NOW, 5) is None
    assert judge_ctime_text(good + b"\n", NOW, 5) is not None  # print()'s newline
    assert judge_ctime_text(time.ctime(NOW - 3600).encode(), NOW, 5) is not None
