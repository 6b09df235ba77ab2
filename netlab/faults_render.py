"""What the faults in force mean for each host's `NL-FAULT` chain. Pure.

A partition is enforced where packets arrive: a host of the receiving side drops what comes
from the addresses of the other side (both sides do so unless the partition is one-way). So a
partition cuts traffic addressed to the hosts themselves; traffic a host merely forwards is not
filtered. Packet loss drops a share of what arrives on one interface (`statistic` match).
"""

from __future__ import annotations

import ipaddress

from netlab.naming import netns_name
from netlab.plan import Plan
from netlab.rules import Drop
from netlab.state import Faults


def host_addresses(plan: Plan, host: str) -> list[str]:
    """Every address of `host`, as /32 CIDRs."""
    return [
        f"{ipaddress.ip_interface(cidr).ip}/32"
        for iface in plan.host_interfaces(host)
        for cidr in iface.addresses
    ]


def fault_drops(plan: Plan, faults: Faults) -> dict[str, list[Drop]]:
    """Host name -> its drop rules, for every host of the plan (empty when unaffected)."""
    drops: dict[str, list[Drop]] = {h.name: [] for h in plan.hosts}
    for part in faults.partitions:
        sides = [(part.b, part.a)] if part.oneway else [(part.b, part.a), (part.a, part.b)]
        for receivers, senders in sides:
            sources = [addr for s in senders for addr in host_addresses(plan, s)]
            for r in receivers:
                drops[r].extend(Drop(source=addr) for addr in sources)
    for label, percent in faults.loss:
        host, _, ifname = label.partition(":")
        if host in drops:
            drops[host].append(Drop(in_if=ifname, probability=percent / 100.0))
    return drops


def endpoint_labels(plan: Plan) -> list[str]:
    """Labels of the host interfaces faults can target (`h1:eth0`)."""
    hosts = {netns_name(plan.prefix, h.name) for h in plan.hosts}
    return sorted(i.label for i in plan.interfaces() if i.netns in hosts and ":" in i.label)
