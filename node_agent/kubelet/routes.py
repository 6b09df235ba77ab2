"""Routes to other nodes' pod CIDRs, from Node objects (the routing-table model). Pure.

`node_routes(nodes, self_name)` -> one `PodRoute(cidr, via)` per other node that has a
`spec.podCIDR` and an InternalIP address; the network adapter makes the table match.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, order=True)
class PodRoute:
    cidr: str
    via: str


def node_internal_ip(node: dict[str, Any]) -> str | None:
    for addr in node.get("status", {}).get("addresses", []) or []:
        if addr.get("type") == "InternalIP" and addr.get("address"):
            return str(addr["address"])
    return None


def node_routes(nodes: Iterable[dict[str, Any]], self_name: str) -> list[PodRoute]:
    out = set()
    for node in nodes:
        if node.get("metadata", {}).get("name") == self_name:
            continue
        cidr = node.get("spec", {}).get("podCIDR")
        via = node_internal_ip(node)
        if not cidr or not via:
            continue
        try:
            net = ipaddress.ip_network(cidr, strict=True)
            ipaddress.ip_address(via)
        except ValueError:
            continue
        out.add(PodRoute(str(net), via))
    return sorted(out)


def route_diff(
    desired: Iterable[PodRoute], present: Iterable[PodRoute]
) -> tuple[list[PodRoute], list[PodRoute]]:
    """(to add or replace, to delete): routes are keyed by destination CIDR."""
    want = {r.cidr: r for r in desired}
    have = {r.cidr: r for r in present}
    add = [r for cidr, r in sorted(want.items()) if have.get(cidr) != r]
    delete = [r for cidr, r in sorted(have.items()) if cidr not in want]
    return add, delete
