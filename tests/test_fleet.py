"""CIDR fleets: ``--target SERVICE=NETWORK:PORT`` is one target per host, each judged on its own.

The parsing tests are in-process and instant.
"""

from __future__ import annotations

import pytest

from harness.cases import Target, TargetOptionError, parse_target_fleet, parse_target_option, select_targets


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("echo-tcp=127.0.0.8/29:7007", [f"127.0.0.{n}:7007" for n in range(9, 15)]),
        ("echo-tcp=127.0.0.8/31:7", ["127.0.0.8:7", "127.0.0.9:7"]),
        ("echo-tcp=127.0.0.9/32:7", ["127.0.0.9:7"]),
        ("echo-tcp=[::1]/128:7007", ["[::1]:7007"]),
        ("echo-tcp=tls://127.0.0.8/30:7443", ["tls://127.0.0.9:7443", "tls://127.0.0.10:7443"]),
        ("time-tcp=tls://[::1]/128:37", ["tls://[::1]:37"]),
        ("echo-tcp=127.0.0.1:7", ["127.0.0.1:7"]),
    ],
)
def test_a_network_target_is_one_target_per_host(text: str, names: list[str]) -> None:
    fleet = parse_target_fleet(text)
    assert [target.name for target in fleet] == names
    assert all(target.runner is None and target.service == text.split("=")[0] for target in fleet)
    assert len({target.group for target in fleet}) == len(fleet)  # each host its own server
    assert len({target.test_id for target in fleet}) == len(fleet)


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("echo-tcp=10.0.0.8/29:7", "not wholly loopback"),
        ("echo-tcp=126.0.0.0/7:7", "not wholly loopback"),
        ("echo-tcp=[::]/127:7", "not wholly loopback"),
        ("echo-tcp=[2001:db8::]/126:7", "not wholly loopback"),
        ("echo-tcp=127.0.0.0/8:7", "a fleet is at most 256 hosts"),
        ("echo-tcp=127.0.0.9/29:7", "host bits set: the network it lies in is 127.0.0.8/29"),
        ("echo-tcp=127.0.0.8/33:7", "is not a network"),
        ("echo-tcp=127.0.0.8/29", "loopback network such as 127.0.0.8/29:PORT"),
        ("echo-tcp=[::1/128]:7", "loopback network such as"),
        ("echo-tcp=localhost/29:7", "is not a network"),
        ("echo-tcp=127.0.0.8/29:0", "outside 1-65535"),
        ("echo-udp=tls://127.0.0.8/29:7", "TLS carries byte streams"),
    ],
)
def test_a_network_target_is_refused_with_one_line_before_anything_is_sent(text: str, complaint: str) -> None:
    with pytest.raises(TargetOptionError, match=complaint) as raised:
        parse_target_fleet(text)
    assert "\n" not in str(raised.value)


def test_a_single_target_option_refuses_a_network() -> None:
    with pytest.raises(TargetOptionError, match="got a network"):
        parse_target_option("echo-tcp=127.0.0.9/32:7")


def test_select_targets_expands_a_fleet_and_keeps_other_targets() -> None:
    selected = select_targets(target_options=["echo-tcp=127.0.0.8/30:7", "echo-tcp=127.0.0.1:7", "time-udp=[::1]/128:37"])
    assert [target.name for target in selected["echo-tcp"]] == ["127.0.0.9:7", "127.0.0.10:7", "127.0.0.1:7"]
    assert selected["time-udp"] == [Target("time-udp", host="::1", port=37)]
