"""Reference clients against reference servers, and their errors against silent ones."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

from harness.clients import NoAnswerError, request_datagram
from harness.clients.requesters import RequestOptions, RoundTripError
from harness.clients.timekeeping import ctime_udp, daytime_tcp, daytime_udp, echo_udp, time_tcp, time_udp
from harness.launch import launch_server
from harness.loadgen.profile import resolve
from harness.services import SERVICES, fresh_secret_value, option_environment_variable, per_run_secret_options

CLOCK_TOLERANCE_S = 5.0


@pytest.mark.parametrize(
    "service, client",
    [("time-tcp", time_tcp), ("time-udp", time_udp)],
)
def test_time_clients_read_a_time_near_ours(service: str, client) -> None:
    with launch_server(service, "selectors") as server:
        assert abs(client(*server.address) - time.time()) < CLOCK_TOLERANCE_S


@pytest.mark.parametrize(
    "service, client",
    [("daytime-tcp", daytime_tcp), ("daytime-udp", daytime_udp), ("ctime-udp", ctime_udp)],
)
def test_text_clients_read_the_year(service: str, client) -> None:
    with launch_server(service, "raw") as server:
        assert str(time.gmtime().tm_year) in client(*server.address)


def test_echo_udp_client_returns_the_reply() -> None:
    with launch_server("echo-udp", "asyncio") as server:
        assert echo_udp(*server.address, b"\x00ping\xff") == b"\x00ping\xff"


def test_a_silent_udp_server_is_reported_after_every_retry() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        started = time.monotonic()
        with pytest.raises(NoAnswerError, match=r"after 3 request\(s\), 0.1 s each"):
            request_datagram(*silent.getsockname(), timeout=0.1, attempts=3)
        assert silent.recv(10) == b""  # the requests did arrive: three empty datagrams
        assert time.monotonic() - started < 5


def test_nobody_listening_is_refused_not_a_timeout() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConnectionRefusedError):
        request_datagram("127.0.0.1", port, timeout=0.5, attempts=2)


LOADED_SERVICES = [name for name, service in SERVICES.items() if service.load_profile is not None]


@pytest.mark.parametrize("service_name", LOADED_SERVICES)
def test_every_load_profile_s_requester_round_trips_checked_requests(
    service_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The requester a service's load profile names (the locust users' and the threaded
    client's one client) against its reference server: checked replies, counted bytes. An
    authenticated service's key reaches the server and the requester through the environment."""
    profile = SERVICES[service_name].load_profile
    assert profile is not None and profile.requester is not None
    factory = resolve(profile.requester)
    secret_values = {option.name: fresh_secret_value() for option in per_run_secret_options(SERVICES[service_name])}
    for option in per_run_secret_options(SERVICES[service_name]):
        monkeypatch.setenv(option_environment_variable(option), secret_values[option.name])
    with launch_server(service_name, "selectors", options=secret_values, secret_options=tuple(secret_values)) as server:
        requester = factory(server.address, RequestOptions(payload_bytes=32, connect_timeout_s=2, reply_timeout_s=2))
        try:
            assert all(requester.request() > 0 for _ in range(3))
        finally:
            requester.close()


def test_a_wrong_echo_is_one_mismatch_error_for_streams_and_datagrams() -> None:
    from harness.clients.echo import EchoMismatchError, check_echo_datagram

    with pytest.raises(EchoMismatchError, match="differing at offset 2"):
        check_echo_datagram(b"abcd", b"abXd")
    assert issubclass(EchoMismatchError, RoundTripError)


def test_a_time_reply_far_from_our_clock_is_refused() -> None:
    from harness.clients.timekeeping import TimeReplyError, check_time_reply
    from harness.protocols.timekeeping import SECONDS_1900_TO_1970

    now = time.time()
    reply = int(now + SECONDS_1900_TO_1970).to_bytes(4, "big")
    assert abs(check_time_reply(reply, sent_at=now, received_at=now, tolerance_s=2) - now) <= 1
    with pytest.raises(TimeReplyError, match="4-byte RFC 868 time"):
        check_time_reply(reply[:3], sent_at=now, received_at=now, tolerance_s=2)
    with pytest.raises(TimeReplyError, match="s off"):
        check_time_reply(reply[::-1], sent_at=now, received_at=now, tolerance_s=2)
    with pytest.raises(TimeReplyError, match=r"\+[34] s off"):
        check_time_reply(reply, sent_at=now - 6, received_at=now - 4, tolerance_s=2)


def test_a_time_reply_is_judged_against_the_request_window_not_a_late_clock_reading() -> None:
    """The served second was read when the request arrived; a client descheduled for seconds
    before it reads its own clock (a loaded CI machine) must not call that time wrong."""
    from harness.clients.timekeeping import check_time_reply
    from harness.protocols.timekeeping import SECONDS_1900_TO_1970

    sent_at = 1_700_000_000.95
    reply = int(sent_at + SECONDS_1900_TO_1970).to_bytes(4, "big")  # truncated: 0.95 s behind
    served = check_time_reply(reply, sent_at=sent_at, received_at=sent_at + 5.0, tolerance_s=2)
    assert served == int(sent_at)


def test_the_threaded_client_refuses_a_service_without_a_requester() -> None:
    without = next(name for name, service in SERVICES.items() if service.load_profile is None)
    result = subprocess.run(
        [sys.executable, "-m", "harness.loadgen.threaded_client", "--service", without, "--target", "127.0.0.1:9"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2 and "has no requester in its load profile" in result.stderr
