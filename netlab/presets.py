"""Ready-made topologies other parts build on. Pure.

`machine_lan` is the layout `kubelab up` uses: one namespace per machine, each with `eth0` on a
LAN bridge in the root namespace where the machine itself has the first address (host access),
so the host reaches every machine and nothing reaches further.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from netlab.loader import from_dict
from netlab.model import Topology

LAN_BRIDGE = "lan"
LAN_IFNAME = "eth0"


def machine_lan_dict(
    name: str,
    machines: Mapping[str, str],
    *,
    prefix: str | None = None,
    subnet: str = "10.250.0.0/24",
    host_address: str = "10.250.0.1",
    sysctls: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The topology data of a LAN of `machines` (name -> address on `subnet`)."""
    bits = ipaddress.ip_network(subnet).prefixlen
    data: dict[str, Any] = {
        "name": name,
        "host_access": True,
        "hosts": {m: ({"sysctls": dict(sysctls)} if sysctls else {}) for m in machines},
        "bridges": {LAN_BRIDGE: {"addresses": [f"{host_address}/{bits}"]}},
        "links": [
            [{"node": m, "ifname": LAN_IFNAME, "addresses": [f"{ip}/{bits}"]}, LAN_BRIDGE]
            for m, ip in machines.items()
        ],
    }
    if prefix is not None:
        data["prefix"] = prefix
    return data


def machine_lan(
    name: str,
    machines: Mapping[str, str],
    *,
    prefix: str | None = None,
    subnet: str = "10.250.0.0/24",
    host_address: str = "10.250.0.1",
    sysctls: Mapping[str, str] | None = None,
) -> Topology:
    """A validated LAN topology: `netlab.up(machine_lan("demo", {"cp-0": "10.250.0.10"}))`.

    Machine `M` is namespace `<prefix>-M` with `eth0` on the bridge `<prefix>-lan`."""
    data = machine_lan_dict(
        name, machines, prefix=prefix, subnet=subnet, host_address=host_address, sysctls=sysctls
    )
    return from_dict(data, source=f"<machine_lan {name}>")
