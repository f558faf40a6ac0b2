"""The launcher: READY parsing, deadlines, and errors that carry the server's own words."""

from __future__ import annotations

import sys
import time

import pytest

from harness.launch import READY_PATTERN, LaunchError, launch_command


@pytest.mark.parametrize(
    "line, parsed",
    [
        (b"READY tcp 127.0.0.1:7\n", ("tcp", "127.0.0.1", "7")),
        (b"READY udp 127.0.0.1:65535\n", ("udp", "127.0.0.1", "65535")),
        (b"READY tcp [::1]:8\n", ("tcp", "::1", "8")),
    ],
)
def test_ready_line_is_parsed(line: bytes, parsed: tuple[str, str, str]) -> None:
    match = READY_PATTERN.match(line)
    assert match is not None
    assert tuple(group.decode() for group in match.groups()) == parsed


@pytest.mark.parametrize("line", [b"READY tcp 127.0.0.1\n", b"READY sctp 127.0.0.1:7\n", b"ready tcp a:1\n"])
def test_malformed_ready_lines_are_refused(line: bytes) -> None:
    assert READY_PATTERN.match(line) is None


def test_a_silent_server_fails_within_the_deadline() -> None:
    started = time.monotonic()
    with pytest.raises(LaunchError, match="said nothing within 0.5 s"):
        launch_command([sys.executable, "-c", "import time; time.sleep(60)"], ready_timeout=0.5)
    assert time.monotonic() - started < 10  # bounded: the 60 s sleeper was killed


def test_a_crashing_server_reports_its_exit_and_stderr() -> None:
    with pytest.raises(LaunchError) as error:
        launch_command([sys.executable, "-c", "import sys; sys.exit('cannot bind: no luck')"])
    assert "exited before printing a READY line (exit status 1)" in str(error.value)
    assert "cannot bind: no luck" in str(error.value)


def test_a_crash_is_a_crash_even_when_stdout_closes_before_the_exit() -> None:
    # The race CI once lost: stdout reaches EOF while the child is not yet reapable.
    slow_exit = "import os, sys, time; os.close(1); time.sleep(0.5); sys.exit('late exit')"
    with pytest.raises(LaunchError) as error:
        launch_command([sys.executable, "-c", slow_exit], ready_timeout=10)
    assert "exited before printing a READY line (exit status 1)" in str(error.value)


def test_a_server_that_prints_something_else_is_refused() -> None:
    with pytest.raises(LaunchError, match="instead of a READY line"):
        launch_command([sys.executable, "-c", "print('listening on 7'); import time; time.sleep(60)"])
