from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node_agent.kubelet.errors import IPAMExhaustedError, ManifestError
from node_agent.kubelet.ipam import HostLocalIPAM, gateway, next_free, parse_cidr

NET = ipaddress.IPv4Network("10.244.1.0/29")  # .1 gateway, .2-.6 pods, .7 broadcast


def test_first_pod_address_follows_the_gateway() -> None:
    assert gateway(NET) == ipaddress.IPv4Address("10.244.1.1")
    assert next_free(NET, [], None) == ipaddress.IPv4Address("10.244.1.2")


def test_round_robin_after_the_last_and_wraps() -> None:
    a = ipaddress.IPv4Address
    assert next_free(NET, [], a("10.244.1.3")) == a("10.244.1.4")
    assert next_free(NET, [], a("10.244.1.6")) == a("10.244.1.2")
    assert next_free(NET, [a("10.244.1.2")], a("10.244.1.6")) == a("10.244.1.3")


def test_exhaustion_is_an_error() -> None:
    used = [ipaddress.IPv4Address(f"10.244.1.{i}") for i in range(2, 7)]
    with pytest.raises(IPAMExhaustedError):
        next_free(NET, used, None)


@given(st.sets(st.integers(min_value=2, max_value=253), max_size=200), st.integers(0, 255))
def test_never_hands_out_an_address_in_use(used_hosts: set[int], last: int) -> None:
    net = ipaddress.IPv4Network("10.244.9.0/24")
    used = {net.network_address + h for h in used_hosts}
    got = next_free(net, used, net.network_address + last)
    assert got not in used
    assert got not in (net.network_address, gateway(net), net.broadcast_address)


def test_reservations_survive_a_new_allocator_and_are_stable_per_owner(tmp_path: Path) -> None:
    ipam = HostLocalIPAM(tmp_path, NET)
    a = ipam.allocate("pod-a")
    b = ipam.allocate("pod-b")
    assert a != b
    assert ipam.allocate("pod-a") == a
    again = HostLocalIPAM(tmp_path, NET)  # a restarted kubelet
    assert again.allocate("pod-a") == a
    c = again.allocate("pod-c")
    assert c not in (a, b)
    again.release("pod-a")
    assert "pod-a" not in again.reservations()
    assert again.reservations() == {"pod-b": str(b), "pod-c": str(c)}


def test_bad_cidr_names_the_flag() -> None:
    with pytest.raises(ManifestError, match="--pod-cidr"):
        parse_cidr("10.244.1.1/24")
