"""Every example comes up, connects as its walkthrough says, and goes away without a trace."""

from __future__ import annotations

import itertools

import pytest

import netlab
from tests.integration.netlab.conftest import NOTHING, Labs, kernel_objects
from tests.support import wait_until

pytestmark = [pytest.mark.netns, pytest.mark.timeout(120)]


def test_veth_pair(labs: Labs) -> None:
    plan = labs.up(labs.example("veth-pair.yaml"))
    objects = kernel_objects(labs.prefix)
    assert sorted(objects["netns"]) == sorted(h.netns for h in plan.hosts)
    assert objects["links"] == []  # nothing of this lab lives in the root namespace
    assert labs.ping("red", "10.0.0.2")
    assert labs.ping("blue", "10.0.0.1")
    labs.serve("blue", 7000)
    assert wait_until(lambda: labs.connect("red", "10.0.0.2", 7000)) == "10.0.0.1"
    netlab.down(labs.prefix)
    assert kernel_objects(labs.prefix) == NOTHING


def test_up_twice_is_harmless_and_down_twice_too(labs: Labs) -> None:
    topo = labs.example("veth-pair.yaml")
    labs.up(topo)
    labs.up(topo)
    assert labs.ping("red", "10.0.0.2")
    netlab.down(topo)
    netlab.down(topo)
    assert kernel_objects(labs.prefix) == NOTHING


def test_bridge_nat_and_port_forward(labs: Labs) -> None:
    labs.up(labs.example("bridge.yaml"))
    for host, other in itertools.permutations(["h1", "h2", "h3", "h4"], 2):
        assert labs.ping(host, f"10.10.0.1{other[1]}"), (host, other)
    # LAN -> upstream leaves masqueraded behind the gateway's upstream address
    labs.serve("wan", 7001)
    assert wait_until(lambda: labs.connect("h2", "203.0.113.2", 7001)) == "203.0.113.1"
    # upstream -> gateway:8080 is forwarded to h1:80
    labs.serve("h1", 80)
    assert wait_until(lambda: labs.connect("wan", "203.0.113.1", 8080)) == "203.0.113.2"
    # without a route to the LAN, upstream cannot reach h1 directly
    assert labs.unreachable("wan", "10.10.0.11")


def test_pod_network_every_pod_reaches_every_pod_without_nat(labs: Labs) -> None:
    labs.up(labs.example("pod-network.yaml"))
    pods = {f"pod{n}{s}": f"10.244.{n}.{10 if s == 'a' else 11}" for n in (1, 2, 3) for s in "ab"}
    for src, dst in itertools.permutations(pods, 2):
        assert labs.ping(src, pods[dst]), (src, dst)
    labs.serve("pod3b", 7002)
    # the server sees the pod's own address: nothing was translated on the way
    assert wait_until(lambda: labs.connect("pod1a", pods["pod3b"], 7002)) == pods["pod1a"]


def test_router_joins_two_subnets(labs: Labs) -> None:
    labs.up(labs.example("router.yaml"))
    assert labs.ping("left", "192.168.2.10")
    assert labs.ping("right", "192.168.1.10")
    labs.serve("right", 7003)
    assert wait_until(lambda: labs.connect("left", "192.168.2.10", 7003)) == "192.168.1.10"
