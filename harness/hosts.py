"""CIDR networks: the hosts of a network, their count, membership, an interface's network.

The chapter's ipaddress recipe ("通过CIDR地址生成对应的IP地址集"), done right. The recipe
iterates ``ip_network(...)`` and prints every address; done as written it

- fails on its own example: the prose asks for ``123.45.67.89/27``, which ``ip_network``
  refuses with ValueError (host bits set), so the code quietly uses ``123.45.67.64/27``. Here
  a network with host bits set is refused with a one-line error that names the network it
  lies in and points to ``--interface``, which is what such a value usually is;
- lists the network address and the broadcast address as if they were hosts (``for a in
  net`` yields all 32 addresses of a /27; ``net[0]`` is the network address, not the first
  host). Here the hosts are ``ipaddress``'s own ``hosts()`` rule: for IPv4 the addresses
  between the network and the broadcast address (RFC 1122 §3.2.1.3: "IP addresses are not
  permitted to have the value 0 or -1 for any of the <Host-number>, <Network-number>, or
  <Subnet-number> fields"), except in a /31 (RFC 3021, "Using 31-Bit Prefixes on IPv4
  Point-to-Point Links": both addresses are hosts) and a /32 (the one address); for IPv6
  every address but the Subnet-Router anycast address, the first (RFC 4291 §2.6.1: "This
  anycast address is syntactically the same as a unicast address for an interface on the
  link with the interface identifier set to zero"), except in a /127 (RFC 6164) and a /128;
- prints every address of a large network: a /8 is 16,777,216 lines, an IPv6 /64 never
  ends. Here the count comes from arithmetic (:class:`HostRange`), and only the first and last
  N hosts are listed (every host when there are at most 64);
- passes an ``IPv4Address`` to ``socket.connect``, a TypeError: the chapter's own closing
  example. Everything here returns strings where a socket will use them (``str(address)``).

:func:`fleet_hosts` is the same rule for ``pytest --target SERVICE=CIDR:PORT`` (one target
per host), bounded by :data:`MAX_FLEET_HOSTS` so that a mistyped prefix cannot start a run
against sixteen million addresses. This module touches no network.

Command: ``wirecheck hosts CIDR [--first N --last N] [--contains ADDRESS]`` or ``wirecheck
hosts --interface ADDRESS/PREFIX``; a malformed value ends with one line on stderr and exit
status 2; ``--contains`` exits 1 when the address is not in the network (as grep does).
"""

from __future__ import annotations

import argparse
import ipaddress
from dataclasses import dataclass
from typing import Iterator, Union

from harness.usage import UsageError

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
Address = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]

# A fleet of one /24's worth of hosts: enough for any group of servers one person operates
# on loopback, and few enough that the run (cases x hosts) still ends in minutes.
MAX_FLEET_HOSTS = 256

# ``wirecheck hosts`` lists every host of a network up to this many (a /26 of IPv4: the
# chapter's /27 whole), and of a larger one only the first and last few: never millions.
LIST_EVERY_HOST_UP_TO = 64
DEFAULT_SHOWN_AT_EACH_END = 8

# The exit status of ``--contains`` when the address is not in the network (grep's "no match").
EXIT_NOT_CONTAINED = 1


class NetworkError(ValueError):
    """A CIDR value that cannot be used; the message (one line) says why."""


class HostBitsSetError(NetworkError):
    """ADDRESS/PREFIX whose address is not the network's: an interface, not a network.

    Attributes:
        network: the network the address lies in.
    """

    def __init__(self, message: str, network: Network) -> None:
        super().__init__(message)
        self.network = network


@dataclass(frozen=True)
class HostRange:
    """The hosts of a network as arithmetic: their count, first and last, the i-th.

    Attributes:
        network: the network.
        first: its first host.
        count: how many hosts it has (the same as ``len(list(network.hosts()))``, without
            building the list).
    """

    network: Network
    first: Address
    count: int

    @property
    def last(self) -> Address:
        return self[self.count - 1]

    def __getitem__(self, index: int) -> Address:
        if not -self.count <= index < self.count:
            raise IndexError(f"host {index} of a network with {self.count} hosts")
        return self.first + (index % self.count)

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[Address]:
        for index in range(self.count):
            yield self.first + index

    def index_of(self, address: Address) -> int | None:
        """The position of ``address`` among the hosts, or None when it is not one."""
        if address.version != self.network.version:
            return None
        offset = int(address) - int(self.first)
        return offset if 0 <= offset < self.count else None


def host_range(network: Network) -> HostRange:
    """The hosts of ``network`` by ipaddress's ``hosts()`` rule (see the module docstring).

    IPv4: a network of more than 2 addresses loses its network and broadcast addresses; a
    /31 or /32 keeps them all. IPv6: a network of more than 2 addresses loses its
    Subnet-Router anycast address (the first); a /127 or /128 keeps them all.
    """
    size = network.num_addresses
    if size <= 2:
        return HostRange(network, network.network_address, size)
    reserved_at_end = 1 if network.version == 4 else 0  # the IPv4 broadcast address
    return HostRange(network, network.network_address + 1, size - 1 - reserved_at_end)


def parse_network(text: str) -> Network:
    """``ip_network(text)``, strictly: a value with host bits set is refused, not truncated.

    Raises:
        NetworkError: not ADDRESS/PREFIX, a prefix out of range, or host bits set (the
            message names the network the value lies in).
    """
    if "/" not in text:
        raise NetworkError(f"{text!r} is not a network: expected ADDRESS/PREFIX, e.g. 127.0.0.8/29 or ::1/128")
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        try:
            interface = ipaddress.ip_interface(text)
        except ValueError:
            raise NetworkError(f"{text!r} is not a network: {exc}") from None
        raise HostBitsSetError(
            f"{text} has host bits set: the network it lies in is {interface.network}", interface.network
        ) from None


def fleet_hosts(text: str) -> list[str]:
    """The host addresses of the network ``text``, as strings, for a fleet of targets.

    Raises:
        NetworkError: as :func:`parse_network`; or the network has more than
            :data:`MAX_FLEET_HOSTS` hosts (counted, not listed); or it is not wholly loopback
            (127.0.0.0/8, ::1), checked for every address before anything is sent.
    """
    network = parse_network(text)
    hosts = host_range(network)
    # ``is_loopback`` of a network: both its first and its last address are loopback, so
    # every address between them is (127.0.0.0/8 and ::1/128 are the only loopback blocks).
    if not network.is_loopback:
        raise NetworkError(
            f"{network} is not wholly loopback: wirecheck only targets 127.0.0.0/8 and ::1"
        )
    if hosts.count > MAX_FLEET_HOSTS:
        raise NetworkError(
            f"{network} has {hosts.count:,} hosts; a fleet is at most {MAX_FLEET_HOSTS} hosts: "
            "give a longer prefix (an IPv4 /24 has 254)"
        )
    return [str(address) for address in hosts]


# --- the command -------------------------------------------------------------------------


def _parse_address(text: str) -> Address:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise UsageError(f"--contains {text!r}: not an IPv4 or IPv6 address") from None


def _parse_interface(text: str) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    if "/" not in text:
        raise UsageError(f"--interface {text!r}: expected ADDRESS/PREFIX, e.g. 123.45.67.73/27")
    try:
        return ipaddress.ip_interface(text)
    except ValueError as exc:
        raise UsageError(f"--interface {text!r}: {exc}") from None


def _count(number: int, noun: str) -> str:
    plural = noun + ("es" if noun.endswith("s") else "s")
    return f"{number:,} {noun if number == 1 else plural}"


def describe_network(network: Network) -> str:
    """One line: the network, its host count, its address count and the addresses it reserves."""
    hosts = host_range(network)
    line = f"{network}: {_count(hosts.count, 'host')} of {_count(network.num_addresses, 'address')}"
    if network.version == 4:
        line += f", netmask {network.netmask}"
        if network.num_addresses > 2:
            line += f", network address {network.network_address}, broadcast {network.broadcast_address}"
    elif network.num_addresses > 2:
        line += f", Subnet-Router anycast {network.network_address}"
    return line


def listing(hosts: HostRange, first: int, last: int) -> list[str]:
    """The first ``first`` and last ``last`` hosts, with one line saying how many lie between."""
    if first + last >= hosts.count:
        return [str(address) for address in hosts]
    lines = [str(hosts[index]) for index in range(first)]
    lines.append(f"... {hosts.count - first - last:,} more ...")
    lines += [str(hosts[index]) for index in range(hosts.count - last, hosts.count)]
    return lines


def describe_membership(address: Address, network: Network) -> tuple[bool, str]:
    """Whether ``address`` is in ``network``, and one line that says so (and which host it is)."""
    if address.version != network.version or address not in network:
        return False, f"{address} is not in {network}"
    hosts = host_range(network)
    index = hosts.index_of(address)
    if index is not None:
        return True, f"{address} is in {network}: host {index + 1:,} of {hosts.count:,}"
    role = "network" if address == network.network_address else "broadcast"
    if network.version == 6:
        role = "Subnet-Router anycast"
    return True, f"{address} is in {network}, but as its {role} address, not a host"


def hosts_command(args: argparse.Namespace) -> int:
    """``wirecheck hosts``: print a network's hosts, or an interface's network, or membership."""
    if (args.network is None) == (args.interface is None):
        raise UsageError("give a network (CIDR, e.g. 127.0.0.8/29) or --interface ADDRESS/PREFIX, not both")
    for name in ("first", "last"):
        if getattr(args, name) is not None and getattr(args, name) < 0:
            raise UsageError(f"--{name} must be 0 or more, got {getattr(args, name)}")
    if args.interface is not None:
        interface = _parse_interface(args.interface)
        network = interface.network
        print(f"interface {interface}: address {interface.ip}, network {network}, netmask {network.netmask}")
    else:
        try:
            network = parse_network(args.network)
        except HostBitsSetError as exc:
            raise UsageError(f"{exc} (an address with its prefix is an interface: --interface {args.network})") from None
        except NetworkError as exc:
            raise UsageError(str(exc)) from None
    if args.contains is not None:
        contained, line = describe_membership(_parse_address(args.contains), network)
        print(line)
        return 0 if contained else EXIT_NOT_CONTAINED
    hosts = host_range(network)
    small = hosts.count <= LIST_EVERY_HOST_UP_TO
    first = args.first if args.first is not None else (hosts.count if small else DEFAULT_SHOWN_AT_EACH_END)
    last = args.last if args.last is not None else (0 if small else DEFAULT_SHOWN_AT_EACH_END)
    print(describe_network(network))
    for line in listing(hosts, first, last):
        print(line)
    return 0


def add_hosts_command(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register ``wirecheck hosts``."""
    parser = commands.add_parser(
        "hosts",
        help="a CIDR network's hosts, their count, membership, an interface's network",
        description="The chapter's ipaddress recipe, done right. Prints one line describing the "
        "network (hosts, addresses, netmask, the addresses it reserves), then its hosts: all of "
        f"them when there are at most {LIST_EVERY_HOST_UP_TO}, else the first and last "
        f"{DEFAULT_SHOWN_AT_EACH_END} (--first/--last to choose). Hosts follow ipaddress's hosts(): "
        "an IPv4 network's network and broadcast addresses are not hosts, except in a /31 or /32. "
        "A network with host bits set (123.45.67.89/27) is refused: it is an interface "
        "(--interface). No network is touched.",
        epilog="examples: wirecheck hosts 123.45.67.64/27; wirecheck hosts 10.0.0.0/8 --first 3 --last 3; "
        "wirecheck hosts 123.45.67.64/27 --contains 123.45.67.81 (exit 1 if not in it); "
        "wirecheck hosts --interface 123.45.67.73/27",
    )
    parser.add_argument("network", nargs="?", metavar="CIDR", help="a network, ADDRESS/PREFIX (IPv4 or IPv6)")
    parser.add_argument("--first", type=int, default=None, metavar="N", help="list the first N hosts")
    parser.add_argument("--last", type=int, default=None, metavar="N", help="list the last N hosts")
    parser.add_argument(
        "--contains",
        default=None,
        metavar="ADDRESS",
        help="say whether ADDRESS is in the network (and which host it is) instead of listing; "
        f"exit status {EXIT_NOT_CONTAINED} when it is not",
    )
    parser.add_argument(
        "--interface",
        default=None,
        metavar="ADDRESS/PREFIX",
        help="an interface (an address with its prefix, host bits and all): print its address and "
        "network, then that network's hosts (or membership, with --contains)",
    )
    parser.set_defaults(handler=hosts_command)

