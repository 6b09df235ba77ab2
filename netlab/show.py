"""What is running: the labs on this machine and, for one lab, hosts, interfaces and routes.

Reads the kernel (through `netlab.rtnl`) and the lab records; changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from netlab import nsfs, state
from netlab.errors import LabNotFoundError
from netlab.loader import loads
from netlab.naming import netns_name
from netlab.rtnl import Rtnl


@dataclass(frozen=True)
class IfaceStatus:
    ifname: str
    up: bool
    carrier: bool
    addresses: tuple[str, ...]
    master: str | None


@dataclass(frozen=True)
class HostStatus:
    name: str
    netns: str
    present: bool
    interfaces: tuple[IfaceStatus, ...]
    routes: tuple[str, ...]


@dataclass(frozen=True)
class LabStatus:
    name: str
    prefix: str
    source: str
    hosts: tuple[HostStatus, ...]
    faults: state.Faults


def labs() -> list[tuple[str, str, int]]:
    """(name, prefix, namespaces present) of every recorded lab."""
    return [(r.name, r.prefix, len(nsfs.listed(f"{r.prefix}-"))) for r in state.records()]


def _host(rt: Rtnl, name: str, netns: str) -> HostStatus:
    if not nsfs.exists(netns):
        return HostStatus(name, netns, False, (), ())
    names = {}
    ifaces = []
    links = rt.links(netns)
    for link in links:
        names[link["index"]] = link.get_attr("IFLA_IFNAME")
    addrs: dict[int, list[str]] = {}
    for a in rt.addresses(netns):
        if a["family"] == 2:
            addrs.setdefault(a["index"], []).append(f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}")
    for link in links:
        ifname = link.get_attr("IFLA_IFNAME")
        if ifname == "lo":
            continue
        flags = link["flags"]
        master = link.get_attr("IFLA_MASTER")
        ifaces.append(
            IfaceStatus(
                ifname,
                bool(flags & 1),
                link.get_attr("IFLA_CARRIER") == 1,
                tuple(addrs.get(link["index"], [])),
                names.get(master) if master else None,
            )
        )
    routes = []
    for r in rt.routes(netns):
        if r.get_attr("RTA_TABLE") != 254:
            continue
        dst = r.get_attr("RTA_DST")
        text = f"{dst}/{r['dst_len']}" if dst else "default"
        if gw := r.get_attr("RTA_GATEWAY"):
            text += f" via {gw}"
        if oif := r.get_attr("RTA_OIF"):
            text += f" dev {names.get(oif, oif)}"
        routes.append(text)
    rt.forget(netns)
    return HostStatus(name, netns, True, tuple(ifaces), tuple(routes))


def status(lab: str) -> LabStatus:
    """The live state of lab `lab` (a name or prefix)."""
    record = state.find(lab)
    if record is None:
        raise LabNotFoundError(lab)
    topo, _ = loads(record.text, record.source)
    with Rtnl() as rt:
        hosts = tuple(_host(rt, h.name, netns_name(record.prefix, h.name)) for h in topo.hosts)
    return LabStatus(record.name, record.prefix, record.source, hosts, record.faults)
