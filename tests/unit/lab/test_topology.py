"""The netlab topology of a lab: machines on one LAN, pod routes, host + VIP on the bridge."""

from __future__ import annotations

from kubelab.lab.plan import plan
from kubelab.lab.spec import ClusterSpec
from kubelab.lab.topology import topology


def test_one_control_plane_two_workers() -> None:
    topo = topology(plan(ClusterSpec(name="demo", control_planes=1, workers=2)))
    assert (topo["name"], topo["prefix"], topo["host_access"]) == ("demo", "demo", True)
    assert topo["bridges"] == {"lan": {"addresses": ["10.250.0.1/24"]}}
    assert list(topo["hosts"]) == ["cp-1", "node-1", "node-2"]
    assert topo["hosts"]["node-1"] == {
        "sysctls": {"net.ipv4.ip_forward": 1},
        "routes": [
            {"to": "10.244.0.0/24", "via": "10.250.0.10"},
            {"to": "10.244.2.0/24", "via": "10.250.0.21"},
        ],
    }
    assert topo["links"][2] == [
        {"node": "node-2", "ifname": "eth0", "addresses": ["10.250.0.21/24"]},
        "lan",
    ]


def test_ha_puts_the_vip_on_the_bridge_and_stays_sealed() -> None:
    topo = topology(plan(ClusterSpec(control_planes=3, workers=1)))
    assert topo["bridges"]["lan"]["addresses"] == ["10.250.0.1/24", "10.250.0.2/24"]
    for host in topo["hosts"].values():
        assert "nat" not in host
        assert all(r["to"] != "default" for r in host["routes"])
        assert len(host["routes"]) == 3
