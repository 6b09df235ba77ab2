"""`resolve(topology) -> Plan`: the concrete kernel objects a lab consists of. Pure.

A `Plan` names every namespace and interface as the kernel will see it (see `netlab.naming`)
and carries addresses, routes, sysctls and NAT in a form the appliers can carry out without
further decisions. `layout()` is the tolerant half that validation shares: it skips references
to unknown hosts and bridges instead of failing, so validation can report those itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from netlab.model import ROOT, Endpoint, Masquerade, PortForward, Topology
from netlab.naming import local_ifname, netns_name, root_ifname


@dataclass(frozen=True)
class Iface:
    """One interface: where it lives (None is the root namespace), its name and addresses."""

    netns: str | None
    ifname: str
    addresses: tuple[str, ...] = ()
    master: str | None = None  # a bridge's ifname in the same namespace
    label: str = ""  # how the topology calls it: `h1:eth0`, `br0`, `root:uplink`

    @property
    def where(self) -> str:
        return f"{self.netns or 'root'}/{self.ifname}"


@dataclass(frozen=True)
class VethPair:
    a: Iface
    b: Iface

    @property
    def label(self) -> str:
        return f"{self.a.label} <-> {self.b.label}"


@dataclass(frozen=True)
class VxlanPlan:
    iface: Iface
    vni: int
    remote: str
    local: str | None
    dev: str | None
    port: int


@dataclass(frozen=True)
class RoutePlan:
    dst: str  # CIDR; the default route is 0.0.0.0/0
    via: str | None
    dev: str | None


@dataclass(frozen=True)
class HostPlan:
    name: str
    netns: str
    sysctls: tuple[tuple[str, str], ...]
    routes: tuple[RoutePlan, ...]
    masquerade: tuple[Masquerade, ...]
    forwards: tuple[PortForward, ...]


@dataclass(frozen=True)
class Plan:
    name: str
    prefix: str
    host_access: bool
    hosts: tuple[HostPlan, ...]
    bridges: tuple[Iface, ...]
    veths: tuple[VethPair, ...]
    vxlans: tuple[VxlanPlan, ...]

    def host(self, name: str) -> HostPlan | None:
        return next((h for h in self.hosts if h.name == name), None)

    def interfaces(self) -> tuple[Iface, ...]:
        ends = [end for pair in self.veths for end in (pair.a, pair.b)]
        return (*self.bridges, *ends, *(v.iface for v in self.vxlans))

    def host_interfaces(self, host: str) -> tuple[Iface, ...]:
        netns = netns_name(self.prefix, host)
        return tuple(i for i in self.interfaces() if i.netns == netns)

    def pair_of(self, label: str) -> tuple[VethPair, Iface] | None:
        """The veth pair one of whose ends the topology calls `label` (`h1:eth0`)."""
        for pair in self.veths:
            for end in (pair.a, pair.b):
                if end.label == label:
                    return pair, end
        return None

    @property
    def guards_root(self) -> bool:
        """True when the lab has addresses in the root namespace (host access)."""
        return any(i.netns is None and i.addresses for i in self.interfaces())


@dataclass(frozen=True)
class Layout:
    """Interfaces per namespace key (a host name, or ROOT) as resolution would create them."""

    veths: tuple[VethPair, ...]
    bridges: tuple[Iface, ...]
    vxlans: tuple[Iface, ...]
    # endpoint path -> the Iface it became; used to point problems at the right place
    by_path: dict[str, Iface]


def _auto_names(topo: Topology) -> dict[str, str]:
    """Endpoint path -> interface name, for host ends that did not name their interface."""
    hosts = {h.name for h in topo.hosts}
    taken: dict[str, set[str]] = {h: set() for h in hosts}
    for link in topo.links:
        for end in (link.a, link.b):
            if end.node in hosts and end.ifname:
                taken[end.node].add(end.ifname)
    for vx in topo.vxlans:
        if vx.host in taken:
            taken[vx.host].add(vx.ifname)
    for br in topo.bridges:
        if br.host in taken:
            taken[br.host].add(br.local_name)
    names: dict[str, str] = {}
    for link in topo.links:
        for end in (link.a, link.b):
            if end.node in hosts and not end.ifname:
                n = 0
                while f"eth{n}" in taken[end.node]:
                    n += 1
                names[end.path] = f"eth{n}"
                taken[end.node].add(f"eth{n}")
    return names


def layout(topo: Topology) -> Layout:
    hosts = {h.name for h in topo.hosts}
    bridges = {b.name: b for b in topo.bridges}
    auto = _auto_names(topo)
    prefix = topo.prefix

    def ns_of_host(host: str | None) -> str | None:
        return None if host is None else netns_name(prefix, host)

    def bridge_ifname(name: str) -> str:
        br = bridges[name]
        return root_ifname(prefix, name) if br.host is None else br.local_name

    def far_label(end: Endpoint) -> str:
        if end.node in hosts:
            return f"{end.node}-{end.ifname or auto[end.path]}"
        if end.node == ROOT:
            return f"root-{end.ifname}" if end.ifname else "root"
        return end.node

    def iface(end: Endpoint, other: Endpoint) -> Iface | None:
        if end.node in hosts:
            ifname = end.ifname or auto[end.path]
            return Iface(ns_of_host(end.node), ifname, end.addresses, None, f"{end.node}:{ifname}")
        if end.node in bridges:
            br = bridges[end.node]
            label = far_label(other)
            name = root_ifname(prefix, label) if br.host is None else local_ifname(label)
            return Iface(ns_of_host(br.host), name, (), bridge_ifname(end.node), end.node)
        if end.node == ROOT:
            name = root_ifname(prefix, end.ifname or far_label(other))
            return Iface(None, name, end.addresses, None, f"root:{end.ifname or name}")
        return None

    pairs = []
    by_path: dict[str, Iface] = {}
    for link in topo.links:
        a, b = iface(link.a, link.b), iface(link.b, link.a)
        if a is None or b is None:
            continue
        by_path[link.a.path], by_path[link.b.path] = a, b
        pairs.append(VethPair(a, b))
    brs = []
    for br in topo.bridges:
        if br.host is None or br.host in hosts:
            ifc = Iface(ns_of_host(br.host), bridge_ifname(br.name), br.addresses, None, br.name)
            brs.append(ifc)
            by_path[br.path] = ifc
    vxs = []
    for vx in topo.vxlans:
        if vx.host in hosts:
            master = bridge_ifname(vx.bridge) if vx.bridge in bridges else None
            label = f"{vx.host}:{vx.ifname}"
            ifc = Iface(ns_of_host(vx.host), vx.ifname, vx.addresses, master, label)
            vxs.append(ifc)
            by_path[vx.path] = ifc
    return Layout(tuple(pairs), tuple(brs), tuple(vxs), by_path)
