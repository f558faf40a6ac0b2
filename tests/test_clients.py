"""Reference clients against reference servers, and their errors against silent ones."""

from __future__ import annotations

import socket
import time

import pytest

from harness.clients import NoAnswerError, request_datagram
from harness.clients.timekeeping import ctime_udp, daytime_tcp, daytime_udp, echo_udp, time_tcp, time_udp
from harness.launch import launch_server

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
