"""Unit tests of the conformance machinery: verdicts, descriptions, cases, targets, checkers.

Checkers are tested against fake servers — real loopback sockets served by a thread with a
chosen behaviour (echo, drop the last byte, say nothing, reset) — not mocks: what a checker
does with a real reset or a real silence is exactly what is under test. The pytest layer is
tested end to end by running pytest in a subprocess against such a fake server, with and
without pytest-xdist, and reading the results file it writes.
"""

from __future__ import annotations

import json
import os
import re
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

from harness.cases import (
    CASES,
    CaseSpec,
    Target,
    TargetOptionError,
    case,
    case_of,
    parse_target_option,
    select_targets,
    separate_registry,
    validate_case_id,
)
from harness.checks import Deadline, Endpoint
from harness.checks.echo import (
    check_close_after_half_close,
    check_small_payload_echoed,
)
from harness.checks.properties import payloads, run_property
from harness.checks.stream import Conversation, Ending, converse
from harness.clients.echo import EchoConnection, EchoTimeoutError, EchoUnreachableError, echo_once
from harness.runners import STREAM, runners_for
from harness.launch import launch_server
from harness.services import SERVICES
from harness.tls_setup import ThrowawayAuthority
from harness.verdicts import (
    INFO,
    MUST,
    SHOULD,
    CaseRecord,
    ConformanceFailure,
    HarnessError,
    Verdict,
    counts_as_failure,
    describe_close,
    describe_data,
    describe_reset,
    describe_timeout,
    describe_unreachable,
    first_difference,
    hexdump,
    results_document,
    summary_line,
    verdict_counts,
    verdict_for,
)

REPOSITORY = Path(__file__).resolve().parent.parent

# --- fake servers ----------------------------------------------------------------------


Behaviour = Callable[[socket.socket, threading.Event], None]


def echo(conn: socket.socket, stopping: threading.Event) -> None:
    while data := conn.recv(65536):
        conn.sendall(data)


def drop_last_byte(conn: socket.socket, stopping: threading.Event) -> None:
    while data := conn.recv(65536):
        conn.sendall(data[:-1])


def never_answer(conn: socket.socket, stopping: threading.Event) -> None:
    while conn.recv(65536):
        pass


def reset_at_once(conn: socket.socket, stopping: threading.Event) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def echo_but_never_close(conn: socket.socket, stopping: threading.Event) -> None:
    echo(conn, stopping)
    stopping.wait(60)  # the client's FIN came and went; keep the connection open until the end


class FakeServer:
    """A loopback TCP server on an ephemeral port; each connection gets ``behaviour`` in a thread.

    Resource handling: :meth:`close` (or leaving the ``with`` block) stops accepting, shuts
    every live connection down and joins every thread.
    """

    def __init__(self, behaviour: Behaviour) -> None:
        self._behaviour = behaviour
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._connections: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._acceptor = threading.Thread(target=self._accept_forever, daemon=True)
        self._acceptor.start()

    def _accept_forever(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # the listener was shut down: stop
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            with self._lock:
                self._connections.append(conn)
                self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            self._behaviour(conn, self._stopping)
        except OSError:
            pass
        finally:
            conn.close()

    def endpoint(self, budget_s: float = 10.0) -> Endpoint:
        return Endpoint("127.0.0.1", self.port, Deadline(budget_s))

    def close(self) -> None:
        self._stopping.set()
        self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() (Linux)
        self._listener.close()
        self._acceptor.join(5)
        with self._lock:
            connections, threads = list(self._connections), list(self._threads)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in threads:
            thread.join(5)

    def __enter__(self) -> "FakeServer":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@pytest.fixture
def fake_server(request: pytest.FixtureRequest) -> Iterator[FakeServer]:
    with FakeServer(request.param) as server:
        yield server


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then closed: the kernel refuses it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- verdicts --------------------------------------------------------------------------

FAILURE = ConformanceFailure("x", "y")


@pytest.mark.parametrize(
    ("level", "error", "verdict"),
    [
        (MUST, None, Verdict.OK),
        (SHOULD, None, Verdict.OK),
        (INFO, None, Verdict.INFORMATIONAL),
        (MUST, FAILURE, Verdict.FAILED),
        (SHOULD, FAILURE, Verdict.NON_STRICT),
        (INFO, FAILURE, Verdict.INFORMATIONAL),
        (MUST, HarnessError("launch failed"), Verdict.ERROR),
        (INFO, ValueError("a bug in a checker"), Verdict.ERROR),
        (SHOULD, AssertionError("a bare assert"), Verdict.ERROR),
        (MUST, pytest.skip.Exception("skipped"), Verdict.ERROR),
    ],
)
def test_verdict_for_maps_level_and_outcome(level, error, verdict) -> None:
    assert verdict_for(level, error) is verdict


@pytest.mark.parametrize(
    ("verdict", "strict", "fails"),
    [
        (Verdict.OK, True, False),
        (Verdict.INFORMATIONAL, True, False),
        (Verdict.NON_STRICT, False, False),
        (Verdict.NON_STRICT, True, True),
        (Verdict.FAILED, False, True),
        (Verdict.ERROR, False, True),
    ],
)
def test_counts_as_failure_only_non_strict_depends_on_strict(verdict, strict, fails) -> None:
    assert counts_as_failure(verdict, strict=strict) is fails


def test_conformance_failure_reads_expected_then_actual() -> None:
    failure = ConformanceFailure("the 7 bytes", "reset (after 0 bytes received)")
    assert str(failure) == "expected: the 7 bytes\nactual: reset (after 0 bytes received)"
    assert failure.with_context("(example 3)").actual.endswith("\n(example 3)")


# --- descriptions ----------------------------------------------------------------------


def test_first_difference() -> None:
    assert first_difference(b"abc", b"abc") is None
    assert first_difference(b"abc", b"abd") == 2
    assert first_difference(b"abc", b"ab") == 2  # a prefix: where it stops
    assert first_difference(b"ab", b"abc") == 2  # surplus: where it starts
    assert first_difference(b"", b"x") == 0


def test_hexdump_starts_at_the_row_of_the_offset() -> None:
    data = bytes(range(64))
    rows = hexdump(data, start=37)
    assert rows[0].startswith("00000020  20 21 22")
    assert rows[0].endswith("| !\"#$%&'()*+,-./|")
    assert len(rows) == 2
    assert hexdump(b"", start=0) == ["(no bytes)"]


def test_describe_data_shows_the_offset_and_both_sides() -> None:
    expected = b"hello\r\n" * 10
    actual = expected[:40] + b"X" + expected[41:]
    text = describe_data(expected, actual)
    assert text.splitlines()[0] == "data differing at offset 40 (70 bytes received of 70 expected)"
    assert "  expected:" in text and "  actual:" in text
    assert "00000020" in text  # the row containing offset 40
    assert "58" in text.split("  actual:")[1]  # 'X'


def test_describe_data_names_short_and_surplus_data() -> None:
    assert describe_data(b"abcdef", b"abc").startswith("data: only 3 of 6 bytes received")
    assert describe_data(b"abc", b"abcabc").startswith("data: 3 bytes more than expected, from offset 3")


def test_describe_endings_use_fixed_words() -> None:
    assert describe_close(6, 7) == "orderly close (EOF after 6 of 7 bytes)"
    assert describe_reset(0, 7) == "reset (after 0 of 7 bytes received)"
    assert describe_reset(1) == "reset (after 1 byte received)"
    assert describe_timeout(5, 0, 7) == "timeout (after 5 s, with 0 of 7 bytes received)"
    assert describe_timeout(0.5, 3, why="no LF") == "timeout (after 0.5 s, with 3 bytes received; no LF)"
    assert describe_unreachable("127.0.0.1:7") == "unreachable (connection refused by 127.0.0.1:7)"


# --- records and the results document ---------------------------------------------------


def make_record(case_id: str, verdict: Verdict, target: str = "runner:raw") -> CaseRecord:
    return CaseRecord(case_id, case_id.split("/")[0], target, "MUST", verdict.value, "req", "exp", "act", 0.5)


def test_results_document_shape_and_natural_order() -> None:
    records = [
        make_record("echo-tcp/862/10", Verdict.OK),
        make_record("echo-tcp/862/2", Verdict.FAILED),
        make_record("echo-tcp/concurrency/1", Verdict.NON_STRICT),
        make_record("echo-tcp/862/2", Verdict.OK, target="runner:asyncio"),
    ]
    document = results_document(
        records,
        started="2025-01-01T00:00:00Z",
        finished="2025-01-01T00:01:00Z",
        strict=False,
        exit_status=1,
        targets={"echo-tcp": ["runner:raw", "runner:asyncio"]},
    )
    assert set(document) == {
        "cases", "summary", "started", "finished", "wirecheck_version", "strict", "exit_status", "targets"
    }
    assert [(case["id"], case["target"]) for case in document["cases"]] == [
        ("echo-tcp/862/2", "runner:asyncio"),
        ("echo-tcp/862/2", "runner:raw"),
        ("echo-tcp/862/10", "runner:raw"),
        ("echo-tcp/concurrency/1", "runner:raw"),
    ]
    assert set(document["cases"][0]) == {
        "id", "service", "target", "level", "verdict", "requirement", "expected", "actual", "duration_s"
    }
    assert document["summary"] == {
        "OK": 2, "INFORMATIONAL": 0, "NON-STRICT": 1, "FAILED": 1, "ERROR": 0, "total": 4
    }
    json.dumps(document)  # serialisable as is


def test_summary_line_lists_every_verdict() -> None:
    counts = verdict_counts([make_record("echo-tcp/862/1", Verdict.OK)])
    assert summary_line(counts) == "1 OK, 0 INFORMATIONAL, 0 NON-STRICT, 0 FAILED, 0 ERROR"


def test_case_record_round_trips_through_json() -> None:
    record = make_record("echo-tcp/862/1", Verdict.ERROR)
    assert CaseRecord.from_json(json.loads(json.dumps(record.to_json()))) == record


# --- case declaration ------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad_id",
    ["echo-tcp/862", "echo-tcp/862/0", "Echo-tcp/862/1", "no-such-service/862/1", "echo-tcp//1", "echo-tcp/862/1/"],
)
def test_malformed_case_ids_are_refused(bad_id: str) -> None:
    with pytest.raises(ValueError):
        validate_case_id(bad_id)


def test_case_decorator_registers_and_allows_per_runner_levels() -> None:
    with separate_registry() as registry:

        @case("echo-tcp/unittest/1", level=SHOULD, requirement='"q"', expected="x", level_for_runner={"raw": INFO})
        def test_function(endpoint: Endpoint) -> None: ...

        spec = registry["echo-tcp/unittest/1"]
    assert case_of(test_function) is spec
    assert spec.service == "echo-tcp" and spec.section == "unittest"
    assert spec.level_for("raw") is INFO
    assert spec.level_for("threading") is SHOULD
    assert spec.level_for(None) is SHOULD  # a --target server
    assert "echo-tcp/unittest/1" not in CASES


def test_duplicate_case_ids_are_refused() -> None:
    with separate_registry():

        @case("echo-tcp/unittest/2", level=MUST, requirement='"q"', expected="x")
        def first(endpoint: Endpoint) -> None: ...

        with pytest.raises(ValueError, match="duplicate case ID"):

            @case("echo-tcp/unittest/2", level=MUST, requirement='"q"', expected="x")
            def second(endpoint: Endpoint) -> None: ...


def test_unknown_runner_in_level_override_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown runners"):
        case("echo-tcp/unittest/3", level=MUST, requirement='"q"', expected="x", level_for_runner={"nope": INFO})


# The suites whose case lists these tests pin down (the echo family).
ECHO_SUITES = ("echo_tcp", "line_echo_tcp")


def suite_cases() -> dict[str, tuple[CaseSpec, Path]]:
    """Every case the echo suites declare, with the SPEC.md beside it (files run, not imported)."""
    found: dict[str, tuple[CaseSpec, Path]] = {}
    paths = [path for suite in ECHO_SUITES for path in (REPOSITORY / "suites" / suite).glob("test_*.py")]
    for path in sorted(paths):
        with separate_registry() as registry:
            exec(compile(path.read_text(), str(path), "exec"), {"__name__": path.stem})
            found.update({case_id: (spec, path.parent / "SPEC.md") for case_id, spec in registry.items()})
    return found


# The IDs and levels the mutant zoo (fixtures/mutants) is written against: a contract.
EXPECTED_LEVELS = {
    **{f"echo-tcp/862/{number}": "MUST" for number in range(1, 11)},
    "echo-tcp/concurrency/1": "SHOULD",
    "echo-tcp/concurrency/2": "SHOULD",
    **{f"line-echo-tcp/line/{number}": "MUST" for number in (1, 3, 4, 5)},
    "line-echo-tcp/line/2": "SHOULD",
    "line-echo-tcp/eof/1": "MUST",
    "line-echo-tcp/limit/1": "INFO",
    **{f"echo-tcp/tls/{number}": "MUST" for number in (1, 2, 4, 5)},
    "echo-tcp/tls/3": "SHOULD",
}


def test_suites_declare_exactly_the_agreed_cases_and_levels() -> None:
    declared = suite_cases()
    assert {case_id: spec.level.value for case_id, (spec, _) in declared.items()} == EXPECTED_LEVELS
    for case_id in ("echo-tcp/concurrency/1", "echo-tcp/concurrency/2", "echo-tcp/tls/5"):
        spec = declared[case_id][0]
        assert spec.level_for("raw") is INFO and spec.level_for("single") is INFO
        assert spec.level_for("threading") is spec.level
    assert all(declared[f"echo-tcp/tls/{number}"][0].tls_only for number in range(1, 6))


# A quoted source: RFC 862, RFC 8446 §6.1, RFC 8996, Abstract, SPEC.md §concurrency.
QUOTE_SOURCE = re.compile(r'(RFC \d+(?: §[0-9.]+|, Abstract)?|SPEC\.md §[a-z0-9-]+): "')


def quoted_sentences(requirement: str) -> list[str]:
    """The sentences a requirement quotes: after each ``SOURCE: "``, up to the next source."""
    marks = list(QUOTE_SOURCE.finditer(requirement))
    sentences = []
    for index, mark in enumerate(marks):
        end = marks[index + 1].start() if index + 1 < len(marks) else len(requirement)
        segment = requirement[mark.end() : end]
        assert '"' in segment, f"unterminated quote in {requirement!r}"
        sentences.append(segment[: segment.rindex('"')])  # up to the closing quote ("... and" follows)
    return sentences


def normalized(text: str) -> str:
    return " ".join(text.replace("\n>", "\n").split())


def test_every_suite_requirement_is_quoted_verbatim_from_its_spec() -> None:
    for case_id, (spec, spec_path) in suite_cases().items():
        sentences = quoted_sentences(spec.requirement)
        assert sentences, f"{case_id} quotes nothing"
        spec_text = normalized(spec_path.read_text())  # SPEC.md quotes RFC 862 in full
        for sentence in sentences:
            assert normalized(sentence) in spec_text, f"{case_id}: {sentence!r} is not verbatim in {spec_path}"


# --- targets and options ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "host", "port", "name"),
    [
        ("echo-tcp=127.0.0.1:7", "127.0.0.1", 7, "127.0.0.1:7"),
        ("echo-tcp=127.8.9.10:65535", "127.8.9.10", 65535, "127.8.9.10:65535"),
        ("echo-tcp=[::1]:7007", "::1", 7007, "[::1]:7007"),
        ("line-echo-tcp=localhost:1", "localhost", 1, "localhost:1"),
        ("echo-tcp=tls://127.0.0.1:7443", "127.0.0.1", 7443, "tls://127.0.0.1:7443"),
        ("time-tcp=tls://[::1]:37", "::1", 37, "tls://[::1]:37"),
    ],
)
def test_parse_target_option_accepts_loopback(text: str, host: str, port: int, name: str) -> None:
    target = parse_target_option(text)
    assert (target.host, target.port, target.name, target.runner) == (host, port, name, None)
    assert target.tls == name.startswith("tls://")


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("echo-tcp=10.0.0.1:7", "not a loopback address"),
        ("echo-tcp=[2001:db8::1]:7", "not a loopback address"),
        ("echo-tcp=example.com:7", "not a loopback address"),
        ("echo-tcp=127.0.0.1:0", "outside 1-65535"),
        ("echo-tcp=127.0.0.1:70000", "outside 1-65535"),
        ("echo-tcp=127.0.0.1", "HOST:PORT"),
        ("echo-tcp=::1:7", "HOST:PORT"),
        ("127.0.0.1:7", "NAME=HOST:PORT"),
        ("no-such=127.0.0.1:7", "unknown service"),
        ("echo-udp=tls://127.0.0.1:7", "TLS carries byte streams"),
        ("echo-tcp=tls://10.0.0.1:7", "not a loopback address"),
    ],
)
def test_parse_target_option_refuses_with_a_reason(text: str, complaint: str) -> None:
    with pytest.raises(TargetOptionError, match=complaint):
        parse_target_option(text)


def test_target_names_are_safe_in_test_ids_and_xdist_groups() -> None:
    ipv6 = Target("echo-tcp", host="::1", port=7)
    assert "::" not in ipv6.test_id
    tls_targets = (Target("echo-tcp", host="::1", port=7, tls=True), Target("echo-tcp", runner="raw", tls=True))
    for target in (ipv6, Target("echo-tcp", runner="raw"), Target("echo-tcp", host="127.0.0.1", port=7), *tls_targets):
        assert "@" not in target.group and "]" not in target.group
        assert "::" not in target.test_id


def test_tls_targets_say_tls_in_their_names_and_get_servers_of_their_own() -> None:
    plain, tls = Target("echo-tcp", runner="uvloop"), Target("echo-tcp", runner="uvloop", tls=True)
    assert tls.name == "runner:uvloop+tls" and plain.name == "runner:uvloop"
    assert tls.group != plain.group


def test_select_targets_under_tls_launches_stream_services_over_tls_and_drops_datagram_ones() -> None:
    selected = select_targets(tls=True)
    # Every service TLS can carry: byte streams, and the applications the HTTP gateway carries.
    assert set(selected) == {name for name, service in SERVICES.items() if STREAM in service.kind.carried_by}
    assert all(target.tls for targets in selected.values() for target in targets)
    assert selected["echo-tcp"][0].name == "runner:raw+tls"


def test_tls_only_cases_apply_to_tls_targets_and_certificate_cases_need_verification() -> None:
    with separate_registry():

        @case("echo-tcp/tls/99", level=MUST, requirement="quoted", expected="x", needs_verified_certificate=True)
        def judges_the_certificate(endpoint: object) -> None: ...

    spec = case_of(judges_the_certificate)
    assert spec is not None and spec.tls_only
    tls_target = Target("echo-tcp", host="127.0.0.1", port=7, tls=True)
    assert not spec.applies_to(Target("echo-tcp", host="127.0.0.1", port=7), certificate_verified=True)
    assert spec.applies_to(tls_target, certificate_verified=True)
    assert not spec.applies_to(tls_target, certificate_verified=False)


def test_select_targets_defaults_to_every_runner_of_every_service() -> None:
    selected = select_targets()
    assert [target.runner for target in selected["echo-tcp"]] == runners_for(STREAM)


def test_select_targets_restricts_by_service_and_runner() -> None:
    selected = select_targets(services=["line-echo-tcp"], runners=["raw", "threading"])
    assert list(selected) == ["line-echo-tcp"]
    assert [target.name for target in selected["line-echo-tcp"]] == ["runner:raw", "runner:threading"]


def test_select_targets_with_a_target_launches_nothing_else() -> None:
    selected = select_targets(runners=["raw"], target_options=["echo-tcp=127.0.0.1:7"])
    assert selected == {"echo-tcp": [Target("echo-tcp", host="127.0.0.1", port=7)]}


@pytest.mark.parametrize(
    "options", [{"services": ["nope"]}, {"runners": ["nope"]}, {"target_options": ["echo-tcp=8.8.8.8:7"]}]
)
def test_select_targets_refuses_unknown_names(options: dict) -> None:
    with pytest.raises(TargetOptionError):
        select_targets(**options)


# --- deadline ----------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_deadline_caps_waits_and_is_spent_once_the_budget_is() -> None:
    clock = FakeClock()
    deadline = Deadline(10, clock=clock)
    assert deadline.cap(5) == 5
    clock.now += 8
    assert deadline.cap(5) == pytest.approx(2)
    clock.now += 3
    assert deadline.spent and deadline.remaining() == 0 and deadline.cap(5) == 0


def test_connect_fails_at_once_when_the_budget_is_spent() -> None:
    clock = FakeClock()
    endpoint = Endpoint("127.0.0.1", closed_port(), Deadline(1, clock=clock))
    clock.now += 2
    with pytest.raises(ConformanceFailure, match=r"timeout .*budget of 1 s"):
        endpoint.connect()


# --- checkers against fake servers ---------------------------------------------------------


@pytest.mark.parametrize("fake_server", [echo], indirect=True)
def test_small_payload_check_passes_on_an_echo_server(fake_server: FakeServer) -> None:
    check_small_payload_echoed(fake_server.endpoint())
    check_close_after_half_close(fake_server.endpoint())


@pytest.mark.parametrize("fake_server", [drop_last_byte], indirect=True)
def test_a_dropped_byte_is_a_timeout_bounded_by_the_budget(fake_server: FakeServer) -> None:
    started = time.monotonic()
    with pytest.raises(ConformanceFailure) as raised:
        check_small_payload_echoed(fake_server.endpoint(budget_s=1.0))
    assert time.monotonic() - started < 3
    assert raised.value.actual.startswith("timeout (after 1 s, with 6 of 7 bytes received")
    assert "budget of 1 s" in raised.value.actual


@pytest.mark.parametrize("fake_server", [never_answer], indirect=True)
def test_a_silent_server_is_a_timeout(fake_server: FakeServer) -> None:
    with pytest.raises(ConformanceFailure, match=r"actual: timeout \(after 1 s, with 0 of 7 bytes"):
        check_small_payload_echoed(fake_server.endpoint(budget_s=1.0))


@pytest.mark.parametrize("fake_server", [reset_at_once], indirect=True)
def test_a_reset_is_a_conformance_failure_not_an_error(fake_server: FakeServer) -> None:
    with pytest.raises(ConformanceFailure) as raised:
        check_small_payload_echoed(fake_server.endpoint())
    assert raised.value.actual.startswith(("reset (after 0", "orderly close"))


def test_a_closed_port_is_unreachable() -> None:
    port = closed_port()
    with pytest.raises(ConformanceFailure) as raised:
        check_small_payload_echoed(Endpoint("127.0.0.1", port, Deadline(5)))
    assert raised.value.actual == f"unreachable (connection refused by 127.0.0.1:{port})"


@pytest.mark.parametrize("fake_server", [echo_but_never_close], indirect=True)
def test_no_close_after_half_close_is_a_timeout_after_the_data(fake_server: FakeServer) -> None:
    with pytest.raises(ConformanceFailure, match="no EOF after the last echoed byte"):
        check_close_after_half_close(fake_server.endpoint(budget_s=1.0))


@pytest.mark.parametrize("fake_server", [echo], indirect=True)
def test_converse_detects_a_wrong_byte_at_once(fake_server: FakeServer) -> None:
    endpoint = fake_server.endpoint()
    with endpoint.connect() as sock:
        conversation = Conversation(sock, [b"abc"], b"abX")
        converse([conversation], endpoint.deadline)
    assert conversation.ending is Ending.MISMATCH


def test_run_property_reports_the_first_failure_without_rerunning_it() -> None:
    calls = []

    def check(payload: bytes) -> None:
        calls.append(len(payload))
        if len(payload) > 10:
            raise ConformanceFailure("all of it", f"{len(payload) - 1} bytes")

    with pytest.raises(ConformanceFailure) as raised:
        run_property(check, payloads(max_size=1000), lambda p: f"a {len(p)}-byte payload", name="unit", explicit=[b"x" * 50])
    assert calls == [50]  # the explicit example failed; hypothesis's replay did not call again
    assert raised.value.actual == "49 bytes\n(failing example 1: a 50-byte payload)"


@pytest.mark.parametrize("fake_server", [never_answer], indirect=True)
def test_a_property_against_a_silent_server_is_bounded_by_the_budget(fake_server: FakeServer) -> None:
    endpoint = fake_server.endpoint(budget_s=1.5)
    started = time.monotonic()

    def check(payload: bytes) -> None:
        with endpoint.connect() as sock:
            conversation = Conversation(sock, [payload], payload)
            converse([conversation], endpoint.deadline)
            if conversation.ending is not Ending.COMPLETE:
                raise ConformanceFailure("echo", conversation.ending.value)

    with pytest.raises(ConformanceFailure):
        run_property(check, payloads(min_size=1, max_size=100), lambda p: f"{len(p)} bytes", name="unit-silent")
    assert time.monotonic() - started < 4


# --- the pytest layer, end to end -----------------------------------------------------------


SUITE_UNDER_TEST = '''
from harness.cases import case
from harness.checks.echo import check_small_payload_echoed, check_close_after_half_close
from harness.verdicts import INFO, MUST, SHOULD


@case("echo-tcp/862/1", level=MUST, requirement='RFC 862: "any data received is sent back"', expected="echo")
def test_small(endpoint):
    check_small_payload_echoed(endpoint)


@case("echo-tcp/862/8", level=SHOULD, requirement='"q"', expected="close")
def test_close(endpoint):
    check_close_after_half_close(endpoint)


@case("echo-tcp/concurrency/9", level=MUST, requirement='"q"', expected="x", level_for_runner={"raw": INFO})
def test_buggy_checker(endpoint):
    raise KeyError("a bug in the checker")


def test_not_a_case():
    pass
'''


def run_pytest(directory: Path, *args: str, conftest: str = "") -> subprocess.CompletedProcess:
    (directory / "conftest.py").write_text('pytest_plugins = ["harness.pytest_plugin"]\n' + conftest)
    (directory / "test_suite_under_test.py").write_text(SUITE_UNDER_TEST)
    environment = dict(os.environ, PYTHONPATH=str(REPOSITORY))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--rootdir", str(directory), str(directory), *args],
        capture_output=True,
        text=True,
        cwd=directory,
        env=environment,
        timeout=120,
    )


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_plugin_verdicts_exit_status_and_results_file(tmp_path: Path, workers: list[str]) -> None:
    with FakeServer(echo_but_never_close) as server:
        results = tmp_path / "out" / "results.json"
        completed = run_pytest(
            tmp_path,
            f"--target=echo-tcp=127.0.0.1:{server.port}",
            "--case-timeout=1",
            f"--results={results}",
            "-v",
            *workers,
        )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 1, output  # the ERROR counts; the NON-STRICT does not
    assert f"test_small[echo-tcp/862/1@127.0.0.1:{server.port}]" in output
    assert "NON-STRICT" in output and "wirecheck verdicts: 1 OK, 0 INFORMATIONAL, 1 NON-STRICT, 0 FAILED, 1 ERROR" in output
    document = json.loads(results.read_text())
    verdicts = {(case["id"], case["target"]): case["verdict"] for case in document["cases"]}
    target = f"127.0.0.1:{server.port}"
    assert verdicts == {
        ("echo-tcp/862/1", target): "OK",
        ("echo-tcp/862/8", target): "NON-STRICT",
        ("echo-tcp/concurrency/9", target): "ERROR",
    }
    error = next(case for case in document["cases"] if case["verdict"] == "ERROR")
    assert error["level"] == "MUST" and "KeyError" in error["actual"]
    assert document["summary"]["total"] == 3 and document["exit_status"] == 1
    assert document["targets"] == {"echo-tcp": [target]}


def test_plugin_strict_makes_non_strict_count(tmp_path: Path) -> None:
    with FakeServer(echo_but_never_close) as server:
        completed = run_pytest(
            tmp_path, f"--target=echo-tcp=127.0.0.1:{server.port}", "--case-timeout=1", "--strict", "-k", "small or close"
        )
    assert completed.returncode == 1, completed.stdout
    with FakeServer(echo_but_never_close) as server:
        completed = run_pytest(
            tmp_path, f"--target=echo-tcp=127.0.0.1:{server.port}", "--case-timeout=1", "-k", "small or close"
        )
    assert completed.returncode == 0, completed.stdout


def test_plugin_launch_failure_is_error_with_the_servers_stderr(tmp_path: Path) -> None:
    conftest = textwrap.dedent(
        """
        import pytest
        from harness.launch import LaunchError
        from harness.pytest_plugin import ServerPool

        def broken_launch(service, runner):
            raise LaunchError("server did not come up: exit status 1\\n  stderr: ImportError: no module named frob")

        @pytest.fixture(scope="session")
        def wirecheck_servers():
            yield ServerPool(launch=broken_launch)
        """
    )
    results = tmp_path / "results.json"
    completed = run_pytest(tmp_path, "--runner=raw", "--service=echo-tcp", f"--results={results}", "-k", "small", conftest=conftest)
    assert completed.returncode == 1
    (record,) = json.loads(results.read_text())["cases"]
    assert record["verdict"] == "ERROR" and record["target"] == "runner:raw"
    assert "could not launch echo-tcp on runner raw" in record["actual"] and "no module named frob" in record["actual"]


def test_plugin_judges_a_tls_target_verified_or_not_and_names_it_tls(tmp_path: Path) -> None:
    authority = ThrowawayAuthority()
    try:
        tls_files = (str(authority.cert_path), str(authority.key_path))
        with launch_server("echo-tcp", "threading", tls_files=tls_files) as server:
            assert server.transport == "tls"
            target = f"--target=echo-tcp=tls://127.0.0.1:{server.port}"
            for trust in (f"--tls-ca={authority.ca_path}", "--tls-insecure"):
                results = tmp_path / "results.json"
                completed = run_pytest(tmp_path, target, trust, f"--results={results}", "-k", "small")
                assert completed.returncode == 0, completed.stdout[-2000:]
                (record,) = json.loads(results.read_text())["cases"]
                assert (record["target"], record["verdict"]) == (f"tls://127.0.0.1:{server.port}", "OK")
            # The same server, untrusted: the handshake fails and says why.
            completed = run_pytest(tmp_path, target, f"--results={results}", "-k", "small")
            (record,) = json.loads(results.read_text())["cases"]
            assert record["verdict"] == "FAILED" and "TLS handshake failed: certificate verify failed" in record["actual"]
    finally:
        authority.remove()


def test_plugin_refuses_a_ca_file_together_with_insecure(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not read")
    completed = run_pytest(tmp_path, f"--tls-ca={ca}", "--tls-insecure")
    assert completed.returncode == 4
    assert "contradict" in completed.stderr


def test_plugin_refuses_a_non_loopback_target(tmp_path: Path) -> None:
    completed = run_pytest(tmp_path, "--target=echo-tcp=192.0.2.1:7")
    assert completed.returncode == 4
    assert "not a loopback address" in completed.stderr


# --- the reference echo client ---------------------------------------------------------------


@pytest.mark.parametrize("fake_server", [echo], indirect=True)
def test_echo_client_round_trips_small_and_large_payloads(fake_server: FakeServer) -> None:
    with EchoConnection("127.0.0.1", fake_server.port, timeout=5) as connection:
        assert connection.echo(b"hello\r\n") >= 0
        connection.echo(bytes(range(256)) * 4096)  # 1 MiB: the concurrent path


@pytest.mark.parametrize("fake_server", [drop_last_byte], indirect=True)
def test_echo_client_names_what_went_wrong(fake_server: FakeServer) -> None:
    with pytest.raises(EchoTimeoutError, match=r"timeout \(after 0.5 s, with 6 of 7 bytes received"):
        echo_once("127.0.0.1", fake_server.port, b"hello\r\n", timeout=0.5)
    with pytest.raises(EchoUnreachableError):
        echo_once("127.0.0.1", closed_port(), b"x")
