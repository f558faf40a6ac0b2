"""The ``wirecheck`` command's contracts: the ``list`` format, the READY line, usage errors."""

from __future__ import annotations

import re
import socket
import ssl
import subprocess
import sys

import pytest

from harness.launch import launch_command, launch_server
from harness.runners import RUNNERS
from harness.services import SERVICES


def wirecheck(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args], capture_output=True, text=True, timeout=30
    )


def test_list_prints_each_service_then_its_runners() -> None:
    result = wirecheck("list")
    assert result.returncode == 0
    lines = [line.split(" ") for line in result.stdout.splitlines()]
    assert [line[0] for line in lines] == list(SERVICES)
    for name, *runners in lines:
        assert runners == [r for r, entry in RUNNERS.items() if entry.kinds & set(SERVICES[name].kind.carried_by)]


def test_list_shows_echo_services_on_all_eleven_runners() -> None:
    lines = {line.split(" ")[0]: line.split(" ")[1:] for line in wirecheck("list").stdout.splitlines()}
    for service in ("echo-tcp", "line-echo-tcp"):
        assert len(lines[service]) == 11
        assert "fd-passing" in lines[service]


def test_list_table_is_for_people() -> None:
    result = wirecheck("list", "--table")
    assert result.returncode == 0
    assert result.stdout.splitlines()[0].split() == ["SERVICE", "SPEC", "OPTIONS", "RUNNERS"]
    assert "max-line-bytes(server)" in result.stdout and "clock-tolerance(pytest)" in result.stdout


def test_serve_prints_exactly_one_ready_line_and_exits_zero() -> None:
    with launch_server("echo-tcp", "selectors") as server:
        assert server.transport == "tcp" and server.host == "127.0.0.1" and server.port > 0
        with socket.create_connection(server.address, timeout=5) as client:
            client.sendall(b"ping")
            assert client.recv(4) == b"ping"
        server.process.send_signal(2)
        server.process.wait(10)
        rest = server.process.stdout.read()
    assert server.stop() == 0
    assert rest == b""  # nothing after the READY line


def test_serve_on_ipv6_loopback_brackets_the_host() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "harness", "serve", "echo-tcp", "--runner", "raw", "--host", "::1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        if not line and "Cannot assign requested address" in process.stderr.read():
            pytest.fail("this machine has no ::1; the IPv6 path cannot be shown here")
        assert re.fullmatch(r"READY tcp \[::1\]:\d+\n", line)
    finally:
        process.terminate()
        assert process.wait(10) == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (("serve", "no-such", "--runner", "raw"), "unknown service 'no-such'; known services: "),
        (("serve", "echo-tcp", "--runner", "no-such"), "unknown runner 'no-such'; known runners: "),
        (("serve", "echo-tcp", "--runner", "raw", "--workers", "0"), "--workers must be at least 1"),
        (("serve", "echo-tcp", "--runner", "raw", "--idle-timeout", "0"), "--idle-timeout must be positive"),
        (("serve", "echo-tcp", "--runner", "raw", "--host", "203.0.113.7"), "cannot listen on"),
        (("serve", "echo-tcp", "--runner", "raw", "--option", "nope=1"), "has no option 'nope'"),
        (("serve", "line-echo-tcp", "--runner", "raw", "--option", "max-line-bytes=0"), "max-line-bytes='0'"),
        (("serve", "line-echo-tcp", "--runner", "raw", "--option", "max-line-bytes"), "expected KEY=VALUE"),
        (("serve", "time-tcp", "--runner", "raw", "--option", "clock-tolerance=1"), "pytest --clock-tolerance"),
        (("serve", "time-udp", "--runner", "raw", "--tls"), "TLS is a layer over byte streams"),
        (("serve", "echo-tcp", "--runner", "raw", "--cert", "x.pem"), "--cert and --key go together"),
        (("serve", "echo-tcp", "--runner", "raw", "--tls", "--cert", "/no/such.pem", "--key", "/no/k.pem"),
         "cannot use certificate /no/such.pem"),
    ],
)
def test_usage_errors_are_one_line_and_exit_two(args: tuple[str, ...], message: str) -> None:
    result = wirecheck(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_port_in_use_is_a_usage_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = wirecheck("serve", "echo-tcp", "--runner", "raw", "--port", str(port))
    assert result.returncode == 2
    assert "Address already in use" in result.stderr


def test_a_server_option_reaches_the_protocol() -> None:
    argv = [sys.executable, "-m", "harness", "serve", "line-echo-tcp", "--runner", "selectors",
            "--option", "max-line-bytes=4"]
    with launch_command(argv) as server:
        with socket.create_connection(server.address, timeout=5) as client:
            client.sendall(b"abcdefghij")  # no LF: echoed in pieces of 4 once they fill
            received = b""
            while len(received) < 8:
                received += client.recv(64)
            assert received == b"abcdefgh"


def test_serve_tls_says_tls_and_names_its_throwaway_ca(tmp_path) -> None:
    argv = [sys.executable, "-m", "harness", "serve", "echo-tcp", "--runner", "asyncio", "--tls"]
    with launch_command(argv) as server:
        assert server.transport == "tls"
        ca_path = re.search(r"CA: (\S+)", server.stderr_text()).group(1)
        context = ssl.create_default_context(cafile=ca_path)
        with socket.create_connection(server.address, timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as client:
                assert client.version() in ("TLSv1.2", "TLSv1.3")
                client.sendall(b"over tls")
                assert client.recv(64) == b"over tls"
    assert server.exit_status == 0


def test_a_secret_option_never_reaches_the_servers_command_line() -> None:
    key = "k" * 16 + "-not-on-the-command-line"
    with launch_server("auth-echo-tcp", "threading", options={"authkey": key}, secret_options=("authkey",)) as server:
        with open(f"/proc/{server.pid}/cmdline", "rb") as cmdline:
            assert key.encode() not in cmdline.read()
        assert key not in " ".join(server.argv)
    assert server.exit_status == 0


def test_bulk_is_a_wirecheck_command_that_costs_the_cli_no_numpy() -> None:
    """`wirecheck bulk --help` explains the measurement; registering it imports nothing heavy
    (the servers the tests launch start through the same CLI)."""
    import subprocess
    import sys

    helped = subprocess.run([sys.executable, "-m", "harness", "bulk", "--help"], capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0 and "iperf3" in helped.stdout, helped.stderr
    probe = "import sys, harness.cli; print('numpy' in sys.modules)"
    imported = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert imported.stdout.strip() == "False", imported.stdout + imported.stderr


@pytest.mark.parametrize("command", ["cases", "list"])
def test_a_reader_that_stops_early_gets_no_traceback(command: str) -> None:
    """`wirecheck cases | head -1`: the pipe closes under a long listing; the command ends
    quietly with status 0 instead of a BrokenPipeError traceback on stderr."""
    process = subprocess.Popen(
        [sys.executable, "-m", "harness", command], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.readline()
    process.stdout.close()  # the reader goes away after one line
    try:
        status = process.wait(timeout=60)
        error = process.stderr.read().decode()
    finally:
        process.kill()
        process.stderr.close()
    assert status == 0 and "Traceback" not in error, error
