from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import netlab
from netlab.errors import TopologyError
from netlab.naming import IFNAMSIZ, PREFIX_RE, ifname_problem, local_ifname, root_ifname

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "netlab"


def test_veth_pair_names() -> None:
    plan = netlab.resolve(netlab.load(EXAMPLES / "veth-pair.yaml"))
    assert [h.netns for h in plan.hosts] == ["nlveth-red", "nlveth-blue"]
    (pair,) = plan.veths
    assert (pair.a.netns, pair.a.ifname, pair.a.addresses) == (
        "nlveth-red",
        "eth0",
        ("10.0.0.1/24",),
    )
    assert pair.label == "red:eth0 <-> blue:eth0"
    assert not plan.guards_root


def test_bridge_ports_live_with_their_bridge() -> None:
    plan = netlab.resolve(netlab.load(EXAMPLES / "bridge.yaml"))
    (br,) = plan.bridges
    assert (br.netns, br.ifname, br.addresses) == ("nlbridge-gw", "br0", ("10.10.0.1/24",))
    port = plan.veths[0].b
    assert (port.netns, port.ifname, port.master) == ("nlbridge-gw", "h1-eth0", "br0")
    gw = plan.host("gw")
    assert gw is not None
    assert gw.sysctls == (("net.ipv4.ip_forward", "1"),)
    assert plan.host("h1") is not None
    h1 = plan.host("h1")
    assert h1 is not None
    assert h1.routes[0].dst == "0.0.0.0/0"


def test_root_bridge_gets_the_prefix_and_long_ports_a_stable_hash() -> None:
    plan = netlab.resolve(netlab.load(EXAMPLES / "pod-network.yaml"))
    lan = next(b for b in plan.bridges if b.label == "lan")
    assert (lan.netns, lan.ifname) == (None, "nlpods-lan")
    port = plan.veths[0].b
    assert port.netns is None
    assert port.ifname == root_ifname("nlpods", "node1-eth0")
    assert port.ifname.startswith("nlpods-")
    assert len(port.ifname) == IFNAMSIZ
    assert port.master == "nlpods-lan"
    cbr0 = next(b for b in plan.bridges if b.label == "n2-cbr0")
    assert (cbr0.netns, cbr0.ifname) == ("nlpods-node2", "cbr0")
    pod_port = next(p.b for p in plan.veths if p.a.label == "pod2a:eth0")
    assert (pod_port.netns, pod_port.ifname, pod_port.master) == (
        "nlpods-node2",
        "pod2a-eth0",
        "cbr0",
    )


def test_kubelab_style_lan_with_host_access() -> None:
    topo = netlab.from_dict(
        {
            "name": "kl",
            "host_access": True,
            "hosts": {"cp-0": {}, "node-0": {}},
            "bridges": {"lan": {"addresses": ["10.250.0.1/24"]}},
            "links": [
                [{"node": "cp-0", "ifname": "eth0", "addresses": ["10.250.0.10/24"]}, "lan"],
                [{"node": "node-0", "ifname": "eth0", "addresses": ["10.250.0.20/24"]}, "lan"],
            ],
        }
    )
    plan = netlab.resolve(topo)
    assert [h.netns for h in plan.hosts] == ["kl-cp-0", "kl-node-0"]
    assert plan.bridges[0].ifname == "kl-lan"
    assert [p.b.ifname for p in plan.veths] == ["kl-cp-0-eth0", "kl-node-0-eth0"]
    assert plan.guards_root


def test_auto_interface_names_skip_taken_ones() -> None:
    topo = netlab.from_dict(
        {
            "name": "auto",
            "hosts": {"a": {}, "b": {}, "c": {}},
            "links": [["a", "b:eth0"], ["a:eth0", "c"]],
        }
    )
    plan = netlab.resolve(topo)
    assert [(p.a.label, p.b.label) for p in plan.veths] == [
        ("a:eth1", "b:eth0"),
        ("a:eth0", "c:eth0"),
    ]


def test_resolve_refuses_an_invalid_topology() -> None:
    topo, _ = netlab.loads("name: x1\nlinks: [[a, b]]\n")
    with pytest.raises(TopologyError, match="unknown node 'a'"):
        netlab.resolve(topo)


def test_pair_of_and_host_interfaces() -> None:
    plan = netlab.resolve(netlab.load(EXAMPLES / "router.yaml"))
    found = plan.pair_of("router:right")
    assert found is not None
    assert found[0].a.label == "right:eth0"
    assert {i.ifname for i in plan.host_interfaces("router")} == {"left", "right"}


names = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)


@settings(max_examples=60, deadline=None)
@given(
    prefix=st.from_regex(PREFIX_RE, fullmatch=True),
    hosts=st.lists(names, min_size=1, max_size=5, unique=True),
    bridge=names,
)
def test_resolve_always_yields_kernel_valid_names(
    prefix: str, hosts: list[str], bridge: str
) -> None:
    bridge = f"b{bridge}"[:6].rstrip("-")
    hosts = [h for h in hosts if h not in ("root", bridge)] or ["h"]
    data = {
        "name": "prop",
        "prefix": prefix,
        "hosts": {h: {} for h in hosts},
        "bridges": {bridge: {}},
        "links": [[h, bridge] for h in hosts] + [[hosts[0], hosts[-1]]] * (len(hosts) > 1),
    }
    plan = netlab.resolve(netlab.from_dict(data))
    for iface in plan.interfaces():
        assert ifname_problem(iface.ifname) is None, iface
        if iface.netns is None:
            assert iface.ifname.startswith(f"{prefix}-")


def test_long_labels_hash_stably() -> None:
    assert local_ifname("a-very-long-label-name") == local_ifname("a-very-long-label-name")
    assert len(local_ifname("a-very-long-label-name")) == IFNAMSIZ
    assert root_ifname("ab", "short") == "ab-short"
