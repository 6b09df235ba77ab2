"""The netlink adapter on its own: bridge, pod sandboxes, routes to other nodes' pod CIDRs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from node_agent.kubelet.ipam import HostLocalIPAM, parse_cidr
from node_agent.kubelet.network import BridgeNetwork, entered
from node_agent.kubelet.routes import PodRoute
from tests.support.netns import NetnsFactory

pytestmark = [pytest.mark.netns, pytest.mark.timeout(60)]


def sh(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


def test_sandbox_setup_teardown_and_route_sync(netns: NetnsFactory, tmp_path: Path) -> None:
    node = netns("node")
    cidr = parse_cidr("10.244.1.0/24")
    net = BridgeNetwork(
        cidr, HostLocalIPAM(tmp_path, cidr), bridge=f"{netns.tag}br", netns_prefix=f"{netns.tag}-p-"
    )
    uid = "0123456789abcdef0123456789abcdef"
    sh("ip", "-n", node, "link", "add", "lan0", "type", "bridge")
    sh("ip", "-n", node, "addr", "add", "10.250.0.20/24", "dev", "lan0")
    sh("ip", "-n", node, "link", "set", "lan0", "up")
    sh("ip", "-n", node, "route", "add", "10.244.9.0/24", "via", "10.250.0.29")  # not ours
    try:
        with entered(f"/run/netns/{node}"):
            net.ensure_node()
            net.ensure_node()  # idempotent
            box = net.setup(uid)
            assert net.setup(uid) == box  # retrying a setup is harmless
            assert net.sandbox_for(uid) == box
            assert net.pod_uids() == {uid}
            net.sync_routes([PodRoute("10.244.2.0/24", "10.250.0.21")])
            net.sync_routes([PodRoute("10.244.2.0/24", "10.250.0.21")])
        assert box.ip == "10.244.1.2"
        inside = sh("ip", "-n", box.netns, "-o", "-4", "addr", "show", "eth0")
        assert "10.244.1.2/24" in inside
        assert "default via 10.244.1.1" in sh("ip", "-n", box.netns, "route")
        assert "hairpin on" in sh("ip", "netns", "exec", node, "bridge", "-d", "link", "show")
        ping = subprocess.run(
            ["ip", "netns", "exec", box.netns, "ping", "-c1", "-W2", "10.244.1.1"],
            capture_output=True,
        )
        assert ping.returncode == 0
        routes = sh("ip", "-n", node, "route")
        assert "10.244.2.0/24 via 10.250.0.21 dev lan0 proto 77" in routes
        with entered(f"/run/netns/{node}"):
            net.sync_routes([PodRoute("10.244.3.0/24", "10.250.0.22")])
        routes = sh("ip", "-n", node, "route")
        assert "10.244.2.0/24" not in routes
        assert "10.244.3.0/24 via 10.250.0.22" in routes
        assert "10.244.9.0/24 via 10.250.0.29" in routes  # someone else's route stays
        with entered(f"/run/netns/{node}"):
            net.teardown(uid)
            net.teardown(uid)  # idempotent
            assert net.sandbox_for(uid) is None
        assert not os.path.exists(f"/run/netns/{box.netns}")
        assert box.host_veth not in sh("ip", "-n", node, "link")
        assert net.ipam.reservations() == {}
    finally:
        subprocess.run(["ip", "netns", "del", f"{netns.tag}-p-{uid}"], capture_output=True)
