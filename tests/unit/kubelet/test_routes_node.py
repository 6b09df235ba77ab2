from __future__ import annotations

from typing import Any

from node_agent.kubelet.node import Capacity, NodeConfig, lease_object, node_object
from node_agent.kubelet.routes import PodRoute, node_routes, route_diff


def node(name: str, ip: str | None, cidr: str | None) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"podCIDR": cidr} if cidr else {},
        "status": {"addresses": [{"type": "InternalIP", "address": ip}] if ip else []},
    }


def test_one_route_per_other_node_with_cidr_and_ip() -> None:
    nodes = [
        node("n1", "10.250.0.20", "10.244.1.0/24"),
        node("n2", "10.250.0.21", "10.244.2.0/24"),
        node("n3", None, "10.244.3.0/24"),
        node("n4", "10.250.0.23", None),
        node("n5", "10.250.0.24", "garbage"),
    ]
    assert node_routes(nodes, "n1") == [PodRoute("10.244.2.0/24", "10.250.0.21")]


def test_route_diff_replaces_changed_and_deletes_stale() -> None:
    want = [PodRoute("10.244.2.0/24", "10.250.0.21"), PodRoute("10.244.3.0/24", "10.250.0.22")]
    have = [PodRoute("10.244.2.0/24", "10.250.0.99"), PodRoute("10.244.9.0/24", "10.250.0.29")]
    add, delete = route_diff(want, have)
    assert add == want
    assert delete == [PodRoute("10.244.9.0/24", "10.250.0.29")]


def test_node_object_reports_capacity_addresses_and_ready() -> None:
    cfg = NodeConfig(
        "n1",
        "10.250.0.20",
        "10.244.1.0/24",
        Capacity(cpu_milli=2000, memory_bytes=4 * 2**30, pods=50),
        reserved_cpu_milli=500,
    )
    obj = node_object(cfg, now=0, ready=True)
    assert obj["spec"]["podCIDR"] == "10.244.1.0/24"
    assert obj["status"]["capacity"] == {"cpu": "2", "memory": "4194304Ki", "pods": "50"}
    assert obj["status"]["allocatable"]["cpu"] == "1500m"
    ready = next(c for c in obj["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True"
    assert ready["reason"] == "KubeletReady"
    assert {"type": "InternalIP", "address": "10.250.0.20"} in obj["status"]["addresses"]


def test_lease_is_in_kube_node_lease_held_by_the_node() -> None:
    lease = lease_object("n1", now=0)
    assert lease["metadata"] == {"name": "n1", "namespace": "kube-node-lease"}
    assert lease["spec"]["holderIdentity"] == "n1"
    assert lease["spec"]["renewTime"].startswith("1970-01-01T00:00:00")
