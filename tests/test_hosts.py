"""``wirecheck hosts`` and the CIDR rules behind ``--target SERVICE=NETWORK:PORT`` (harness/hosts.py).

The expected host lists are written out by hand from RFC 919/922 and RFC 3021 (and checked
against ``list(ipaddress.ip_network(...).hosts())`` where a network is small enough to list),
so the arithmetic of :class:`harness.hosts.HostRange` is judged, not restated. No network is
touched: every test here runs in-process, in milliseconds.
"""

from __future__ import annotations

import ipaddress

import pytest

from harness.cli import main
from harness.hosts import (
    MAX_FLEET_HOSTS,
    HostBitsSetError,
    NetworkError,
    fleet_hosts,
    host_range,
    parse_network,
)


def run_hosts(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, list[str], str]:
    status = main(["hosts", *arguments])
    captured = capsys.readouterr()
    return status, captured.out.splitlines(), captured.err


@pytest.mark.parametrize(
    ("network", "hosts"),
    [
        ("127.0.0.8/29", [f"127.0.0.{n}" for n in range(9, 15)]),  # not .8 (network) nor .15 (broadcast)
        ("127.0.0.8/30", ["127.0.0.9", "127.0.0.10"]),
        ("127.0.0.8/31", ["127.0.0.8", "127.0.0.9"]),  # RFC 3021: both addresses of a /31 are hosts
        ("127.0.0.9/32", ["127.0.0.9"]),
        ("::1/128", ["::1"]),
        ("2001:db8::/126", ["2001:db8::1", "2001:db8::2", "2001:db8::3"]),  # not the Subnet-Router anycast
        ("2001:db8::/127", ["2001:db8::", "2001:db8::1"]),
    ],
)
def test_host_range_lists_the_hosts_and_agrees_with_ipaddress(network: str, hosts: list[str]) -> None:
    parsed = ipaddress.ip_network(network)
    computed = host_range(parsed)
    assert [str(address) for address in computed] == hosts
    assert len(computed) == len(hosts) and str(computed.last) == hosts[-1]
    assert [str(address) for address in parsed.hosts()] == hosts


def test_host_range_counts_a_huge_network_without_listing_it() -> None:
    ipv4 = host_range(ipaddress.ip_network("10.0.0.0/8"))
    assert (ipv4.count, str(ipv4.first), str(ipv4.last)) == (16_777_214, "10.0.0.1", "10.255.255.254")
    ipv6 = host_range(ipaddress.ip_network("2001:db8::/64"))
    assert ipv6.count == 2**64 - 1 and str(ipv6[-1]) == "2001:db8::ffff:ffff:ffff:ffff"
    assert ipv4.index_of(ipaddress.ip_address("10.0.0.0")) is None  # the network address is no host
    assert ipv4.index_of(ipaddress.ip_address("10.0.1.0")) == 255
    with pytest.raises(IndexError):
        ipv4[ipv4.count]


def test_the_chapters_example_prints_its_thirty_hosts_not_its_thirty_two_addresses(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, lines, _ = run_hosts(capsys, "123.45.67.64/27")
    assert status == 0
    assert lines[0].startswith("123.45.67.64/27: 30 hosts of 32 addresses")
    assert "broadcast 123.45.67.95" in lines[0]
    assert lines[1:] == [f"123.45.67.{n}" for n in range(65, 95)]


def test_a_large_network_prints_its_ends_and_how_many_lie_between(capsys: pytest.CaptureFixture[str]) -> None:
    status, lines, _ = run_hosts(capsys, "10.0.0.0/8", "--first", "2", "--last", "1")
    assert status == 0
    assert lines[0].startswith("10.0.0.0/8: 16,777,214 hosts of 16,777,216 addresses")
    assert lines[1:] == ["10.0.0.1", "10.0.0.2", "... 16,777,211 more ...", "10.255.255.254"]
    status, lines, _ = run_hosts(capsys, "2001:db8::/64")
    assert status == 0 and len(lines) == 1 + 8 + 1 + 8  # never 2**64 lines


@pytest.mark.parametrize(
    ("address", "status", "says"),
    [
        ("123.45.67.81", 0, "123.45.67.81 is in 123.45.67.64/27: host 17 of 30"),
        ("123.45.67.181", 1, "123.45.67.181 is not in 123.45.67.64/27"),
        ("123.45.67.95", 0, "as its broadcast address, not a host"),
        ("::1", 1, "::1 is not in 123.45.67.64/27"),
    ],
)
def test_contains_answers_membership_with_its_exit_status(
    capsys: pytest.CaptureFixture[str], address: str, status: int, says: str
) -> None:
    got_status, lines, _ = run_hosts(capsys, "123.45.67.64/27", "--contains", address)
    assert got_status == status and len(lines) == 1 and says in lines[0]


def test_interface_gives_its_address_and_network(capsys: pytest.CaptureFixture[str]) -> None:
    status, lines, _ = run_hosts(capsys, "--interface", "123.45.67.73/27", "--contains", "123.45.67.73")
    assert status == 0
    assert lines[0] == "interface 123.45.67.73/27: address 123.45.67.73, network 123.45.67.64/27, netmask 255.255.255.224"
    assert "host 9 of 30" in lines[1]


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        (["123.45.67.89/27"], "has host bits set: the network it lies in is 123.45.67.64/27"),
        (["bogus"], "expected ADDRESS/PREFIX"),
        (["10.0.0.0/33"], "is not a network"),
        (["10.0.0.0/8", "--contains", "10.0.0.256"], "not an IPv4 or IPv6 address"),
        (["--interface", "123.45.67.73"], "expected ADDRESS/PREFIX"),
        (["10.0.0.0/8", "--interface", "10.0.0.1/8"], "not both"),
        ([], "give a network"),
        (["10.0.0.0/8", "--first", "-1"], "--first must be 0 or more"),
    ],
)
def test_bad_input_is_answered_by_one_line(capsys: pytest.CaptureFixture[str], arguments: list[str], complaint: str) -> None:
    status, lines, error = run_hosts(capsys, *arguments)
    assert status == 2 and lines == []
    assert error.count("\n") == 1 and error.startswith("wirecheck: error: ") and complaint in error


def test_a_fleet_is_every_host_of_a_loopback_network() -> None:
    assert fleet_hosts("127.0.0.8/29") == [f"127.0.0.{n}" for n in range(9, 15)]
    assert fleet_hosts("::1/128") == ["::1"]
    assert len(fleet_hosts("127.1.2.0/24")) == 254


@pytest.mark.parametrize(
    ("network", "complaint"),
    [
        ("10.0.0.8/29", "not wholly loopback"),
        ("126.0.0.0/7", "not wholly loopback"),  # half of it is 127/8; the other half is not
        ("::/127", "not wholly loopback"),  # ::1 is loopback, :: is not
        ("127.0.0.0/8", f"a fleet is at most {MAX_FLEET_HOSTS} hosts"),
        ("127.0.0.9/29", "host bits set"),
    ],
)
def test_a_fleet_refuses_networks_outside_loopback_or_too_large(network: str, complaint: str) -> None:
    with pytest.raises(NetworkError, match=complaint):
        fleet_hosts(network)


def test_host_bits_set_names_the_network() -> None:
    with pytest.raises(HostBitsSetError) as raised:
        parse_network("123.45.67.89/27")
    assert str(raised.value.network) == "123.45.67.64/27"
