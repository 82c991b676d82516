"""docker's bridge gateway, found as dockerd resolves ``host-gateway``, for every inspect shape."""

from __future__ import annotations

import pytest

from tracebed.stack.collector_overlay import OverlayError, bridge_gateway, interface_ipv4


def _no_interface(name: str) -> str | None:
    return None


def test_the_ipam_gateway_wins() -> None:
    network = {"IPAM": {"Config": [{"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1"}]}}
    assert bridge_gateway(network, lambda name: "10.9.9.9") == "172.17.0.1"


def test_a_fresh_dockerd_without_ipam_gateway_uses_the_bridge_interface() -> None:
    # dockerd 20.10 just started: `[{"Subnet":"172.17.0.0/16"}]`, while docker0 has its address.
    seen: list[str] = []

    def address(name: str) -> str | None:
        seen.append(name)
        return "172.18.0.1"

    network = {
        "IPAM": {"Config": [{"Subnet": "172.17.0.0/16"}]},
        "Options": {"com.docker.network.bridge.name": "docker0"},
    }
    assert bridge_gateway(network, address) == "172.18.0.1"
    assert seen == ["docker0"]


def test_the_interface_defaults_to_docker0() -> None:
    seen: list[str] = []
    bridge_gateway({"IPAM": {"Config": [{"Subnet": "172.17.0.0/16"}]}}, lambda n: seen.append(n) or "1.2.3.4")
    assert seen == ["docker0"]


def test_no_gateway_and_no_interface_falls_back_to_the_subnets_first_host() -> None:
    network = {"IPAM": {"Config": [{"Subnet": "192.168.77.0/24"}]}}
    assert bridge_gateway(network, _no_interface) == "192.168.77.1"


def test_ipv6_configs_are_not_taken_for_the_ipv4_gateway() -> None:
    network = {
        "IPAM": {"Config": [{"Subnet": "fd00::/64", "Gateway": "fd00::1"}, {"Subnet": "10.5.0.0/16"}]}
    }
    assert bridge_gateway(network, _no_interface) == "10.5.0.1"


def test_nothing_to_go_on_names_what_was_tried() -> None:
    with pytest.raises(OverlayError) as err:
        bridge_gateway({"IPAM": {"Config": []}, "Options": {}}, _no_interface)
    message = str(err.value)
    assert "IPAM gateway: none" in message
    assert "interface docker0" in message
    assert "subnet: none" in message
    assert "\n" not in message


def test_interface_lookup_reads_a_real_interface() -> None:
    assert interface_ipv4("lo") == "127.0.0.1"
    assert interface_ipv4("no-such-if0") is None
