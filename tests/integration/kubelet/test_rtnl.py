"""The rtnetlink client against the real kernel, one operation at a time, checked with `ip`."""

from __future__ import annotations

import errno
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from node_agent.kubelet.network import entered
from node_agent.kubelet.rtnl import NetlinkError, Route, RtnlSocket
from tests.support.netns import NetnsFactory

pytestmark = [pytest.mark.netns, pytest.mark.timeout(60)]


def ip(*argv: str) -> str:
    return subprocess.run(["ip", *argv], capture_output=True, text=True, check=True).stdout


@contextmanager
def rtnl_in(ns: str) -> Iterator[RtnlSocket]:
    """A socket opened inside `ns` (it stays bound there after the thread steps back)."""
    with entered(f"/run/netns/{ns}"):
        sock = RtnlSocket()
    with sock:
        yield sock


def test_links_bridge_veth_master_hairpin_and_delete(netns: NetnsFactory) -> None:
    node, pod = netns("node"), netns("pod")
    with rtnl_in(node) as nl:
        assert nl.link_index("lo") == 1
        with pytest.raises(NetlinkError) as missing:
            nl.link_index("nosuch0")
        assert missing.value.errno == errno.ENODEV

        nl.add_bridge("br0")
        with pytest.raises(NetlinkError) as twice:
            nl.add_bridge("br0")
        assert twice.value.errno == errno.EEXIST
        br = nl.link_index("br0")
        nl.set_link(br, up=True)

        nl.add_veth("vh0", "eth0", f"/run/netns/{pod}")
        veth = nl.link_index("vh0")
        nl.set_link(veth, master=br, up=True)
        nl.set_hairpin(veth)

    links = ip("-n", node, "-o", "link", "show", "vh0")
    assert "master br0" in links
    assert ",UP" in links
    bridge = subprocess.run(
        ["ip", "netns", "exec", node, "bridge", "-d", "link", "show", "dev", "vh0"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "hairpin on" in bridge
    assert "eth0@" in ip("-n", pod, "-o", "link", "show", "eth0")

    with rtnl_in(node) as nl:
        nl.set_hairpin(veth, on=False)
        nl.set_link(veth, up=False)
        nl.del_link("vh0")
        with pytest.raises(NetlinkError) as gone:
            nl.del_link("vh0")
        assert gone.value.errno == errno.ENODEV
    assert "vh0" not in ip("-n", node, "-o", "link")
    assert "eth0" not in ip("-n", pod, "-o", "link")  # a veth goes as a pair


def test_veth_created_on_the_bridge_and_up_in_one_request(netns: NetnsFactory) -> None:
    node, pod = netns("node"), netns("pod")
    ip("-n", node, "link", "add", "br0", "type", "bridge")
    with rtnl_in(node) as nl:
        nl.add_veth("vh1", "eth0", f"/run/netns/{pod}", master=nl.link_index("br0"), up=True)
    host = ip("-n", node, "-o", "link", "show", "vh1")
    assert "master br0" in host
    assert "MULTICAST,UP>" in host  # administratively up; no carrier while the peer is down
    assert "state DOWN" in ip("-n", pod, "-o", "link", "show", "eth0")  # the peer: left down


def test_addresses_and_routes(netns: NetnsFactory) -> None:
    node = netns("node")
    ip("-n", node, "link", "add", "br0", "type", "bridge")
    with rtnl_in(node) as nl:
        br = nl.link_index("br0")
        nl.add_addr(br, "10.250.0.20", 24)
        with pytest.raises(NetlinkError) as again:
            nl.add_addr(br, "10.250.0.20", 24)
        assert again.value.errno == errno.EEXIST
        nl.set_link(br, up=True)
        nl.add_route("0.0.0.0", 0, "10.250.0.1")
        nl.replace_route("10.244.2.0", 24, "10.250.0.21", proto=77)
        nl.replace_route("10.244.2.0", 24, "10.250.0.22", proto=77)  # replaced, not added
        routes = nl.routes()
    assert "inet 10.250.0.20/24" in ip("-n", node, "-o", "-4", "addr", "show", "br0")
    table = ip("-n", node, "route")
    assert "default via 10.250.0.1 dev br0" in table
    assert "10.244.2.0/24 via 10.250.0.22 dev br0 proto 77" in table
    assert "10.250.0.21" not in table
    assert Route("10.244.2.0", 24, "10.250.0.22", 77, 254) in routes
    assert Route("0.0.0.0", 0, "10.250.0.1", 3, 254) in routes
    assert any(r.table == 255 for r in routes)  # the local table comes with a dump

    with rtnl_in(node) as nl:
        nl.del_route("10.244.2.0", 24, proto=77)
        with pytest.raises(NetlinkError) as gone:
            nl.del_route("10.244.2.0", 24, proto=77)
        assert gone.value.errno == errno.ESRCH
        with pytest.raises(NetlinkError) as unreachable:
            nl.add_route("10.244.5.0", 24, "192.0.2.1")  # gateway not on any link
        assert unreachable.value.errno == errno.ENETUNREACH
    assert "10.244.2.0" not in ip("-n", node, "route")


def test_many_routes_dump_across_datagrams(netns: NetnsFactory) -> None:
    node = netns("node")
    ip("-n", node, "link", "add", "br0", "type", "bridge")
    ip("-n", node, "addr", "add", "10.250.0.20/24", "dev", "br0")
    ip("-n", node, "link", "set", "br0", "up")
    with rtnl_in(node) as nl:
        for i in range(600):
            nl.replace_route(f"10.{100 + i // 256}.{i % 256}.0", 24, "10.250.0.21", proto=77)
        ours = [r for r in nl.routes() if r.proto == 77]
        assert len(ours) == 600
        assert nl.link_index("br0") > 0  # the socket is still in step after the long dump
