"""The lab's machines as a netlab topology (pure): what `kubelab up` asks netlab to build.

One host (network namespace) per machine, named after it; one bridge `lan` in the host
namespace holding the host's address and, with several control planes, the API VIP
(`host_access: true`: the host is part of the lab, so kubectl reaches the API); one veth per
machine into the LAN (`eth0`); IP forwarding on every machine, and on each a route to every
other node's pod subnet via that node's LAN address (the routing-table model). The netlab prefix
is the lab's name, so netlab names everything `<name>-...` (see kubelab.lab.spec).

Nothing here routes or NATs anywhere outside the lab: there is no default route and no
masquerade, which keeps the lab sealed.
"""

from __future__ import annotations

from typing import Any

from kubelab.lab.plan import Plan

LAN_BRIDGE = "lan"


def topology(plan: Plan) -> dict[str, Any]:
    """The netlab topology document (YAML-shaped) for `plan`."""
    lan_len = plan.spec.lan.prefixlen
    bridge_addrs = [f"{plan.host_ip}/{lan_len}"]
    if plan.vip is not None:
        bridge_addrs.append(f"{plan.vip}/{lan_len}")
    hosts: dict[str, Any] = {}
    links: list[Any] = []
    for m in plan.machines:
        routes = [
            {"to": str(other.pod_cidr), "via": str(other.ip)}
            for other in plan.machines
            if other.name != m.name
        ]
        hosts[m.name] = {"sysctls": {"net.ipv4.ip_forward": 1}, "routes": routes}
        links.append(
            [{"node": m.name, "ifname": "eth0", "addresses": [f"{m.ip}/{lan_len}"]}, LAN_BRIDGE]
        )
    return {
        "name": plan.spec.name,
        "prefix": plan.spec.name,
        "host_access": True,
        "hosts": hosts,
        "bridges": {LAN_BRIDGE: {"addresses": bridge_addrs}},
        "links": links,
    }
