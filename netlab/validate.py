"""`validate(topology) -> problems`: every semantic problem of a topology, at once. Pure.

Shape problems (wrong types, unknown fields) are found by the loader; this module checks what
the pieces mean together: references, names, addresses, subnets, routes, NAT and sysctls.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict

from netlab.errors import Problem
from netlab.model import ROOT, Host, Topology
from netlab.naming import (
    IFNAMSIZ,
    LAB_NAME_RE,
    NODE_NAME_RE,
    PREFIX_RE,
    SYSCTL_RE,
    ifname_problem,
)
from netlab.plan import Iface, layout

_IPV4 = "an IPv4 address such as 10.0.0.1"


class _Report:
    def __init__(self, topo: Topology) -> None:
        self.topo = topo
        self.problems: list[Problem] = []

    def __call__(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message, self.topo.pos(path), self.topo.source))


def _parse_iface(text: str) -> ipaddress.IPv4Interface | str:
    """The address, or why it is not one we accept."""
    try:
        addr = ipaddress.ip_interface(text)
    except ValueError:
        return f"{text!r} is not an address with a prefix length, such as 10.0.0.1/24"
    if not isinstance(addr, ipaddress.IPv4Interface):
        return f"{text!r}: only IPv4 addresses are supported"
    if "/" not in text:
        return f"{text!r} has no prefix length; write e.g. {text}/24"
    net = addr.network
    if net.prefixlen < 31 and addr.ip in (net.network_address, net.broadcast_address):
        return f"{text!r} is the network or broadcast address of {net}; use a host address"
    return addr


def _parse_ip(text: str) -> ipaddress.IPv4Address | None:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    return ip if isinstance(ip, ipaddress.IPv4Address) else None


def _parse_net(text: str) -> ipaddress.IPv4Network | str:
    try:
        net = ipaddress.ip_network(text)
    except ValueError as exc:
        return f"{text!r} is not a subnet such as 10.1.0.0/24 ({exc})"
    if not isinstance(net, ipaddress.IPv4Network):
        return f"{text!r}: only IPv4 subnets are supported"
    return net


def validate(topo: Topology) -> list[Problem]:
    """Every problem of `topo`, in no particular order (TopologyError sorts them by position)."""
    report = _Report(topo)
    _names(topo, report)
    _references(topo, report)
    lay = layout(topo)
    addrs = _interfaces(topo, report, lay.by_path)
    names: dict[str | None, set[str]] = defaultdict(set)
    for iface in lay.by_path.values():
        names[iface.netns].add(iface.ifname)
    _hosts(topo, report, addrs, names)
    _vxlans(topo, report, addrs, names)
    return report.problems


def _names(topo: Topology, report: _Report) -> None:
    if topo.name and not LAB_NAME_RE.match(topo.name):
        report("name", f"{topo.name!r} is not a lab name: use lowercase letters, digits and '-'")
    if not PREFIX_RE.match(topo.prefix):
        report(
            "prefix",
            f"{topo.prefix!r} is not a prefix: use 2-8 lowercase letters or digits, starting with"
            " a letter (set `prefix:` when the lab name does not give one)",
        )
    seen: dict[str, str] = {}
    for kind, items in (("host", topo.hosts), ("bridge", topo.bridges)):
        for item in items:
            if item.name == ROOT:
                report(item.path, f"{ROOT!r} is reserved for the machine's own namespace")
            elif not NODE_NAME_RE.match(item.name):
                report(
                    item.path,
                    f"{kind} name {item.name!r} is not accepted: use lowercase letters, digits and"
                    " '-', at most 32 characters",
                )
            if item.name in seen:
                report(item.path, f"name {item.name!r} is already used by a {seen[item.name]}")
            seen.setdefault(item.name, kind)
    for br in topo.bridges:
        if br.host is None:
            name = f"{topo.prefix}-{br.name}"
            if len(name) > IFNAMSIZ:
                report(
                    br.path,
                    f"bridge name {name!r} (prefix + name) is {len(name)} characters; the kernel"
                    f" allows {IFNAMSIZ}: shorten the bridge name",
                )
        elif problem := ifname_problem(br.local_name):
            report(f"{br.path}.ifname" if br.ifname else br.path, problem)
        if br.host is None and br.ifname is not None:
            report(
                f"{br.path}.ifname",
                "a bridge in the root namespace is always named <prefix>-<name>; `ifname` is only"
                " for bridges inside a host",
            )


def _references(topo: Topology, report: _Report) -> None:
    hosts = {h.name for h in topo.hosts}
    bridges = {b.name for b in topo.bridges}
    known = ", ".join(sorted(hosts | bridges | {ROOT})) or ROOT
    for br in topo.bridges:
        if br.host is not None and br.host not in hosts:
            report(
                f"{br.path}.host", f"unknown host {br.host!r}; hosts: {', '.join(sorted(hosts))}"
            )
        if br.host is None and br.addresses and not topo.host_access:
            report(
                f"{br.path}.addresses",
                "an address on a bridge in the root namespace gives the machine access to the lab;"
                " set `host_access: true` to ask for that, or put the bridge in a host",
            )
    for link in topo.links:
        for end in (link.a, link.b):
            if end.node not in hosts | bridges | {ROOT}:
                report(f"{end.path}", f"unknown node {end.node!r}; known: {known}")
            elif end.node in bridges and (end.ifname or end.addresses):
                report(
                    end.path,
                    f"{end.node!r} is a bridge: its port is named by netlab and takes no address;"
                    " put addresses on the bridge itself",
                )
            elif end.node == ROOT and not topo.host_access:
                report(
                    end.path,
                    "a link to the root namespace gives the machine access to the lab;"
                    " set `host_access: true` to ask for that",
                )
            if end.ifname and (problem := ifname_problem(end.ifname)):
                report(f"{end.path}", problem)
        if link.a.node == link.b.node and link.a.node in bridges:
            report(link.path, f"both ends are bridge {link.a.node!r}")


def _interfaces(
    topo: Topology, report: _Report, by_path: dict[str, Iface]
) -> dict[str | None, list[tuple[str, ipaddress.IPv4Interface]]]:
    """Check names and addresses of every interface; return namespace -> (ifname, address)."""
    per_ns: dict[str | None, dict[str, str]] = defaultdict(dict)
    owners: dict[ipaddress.IPv4Address, str] = {}
    addrs: dict[str | None, list[tuple[str, ipaddress.IPv4Interface]]] = defaultdict(list)
    for path, ifc in sorted(by_path.items(), key=lambda kv: _order(topo, kv[0])):
        where = "the root namespace" if ifc.netns is None else f"namespace {ifc.netns!r}"
        if ifc.ifname in per_ns[ifc.netns]:
            report(path, f"interface {ifc.ifname!r} is defined twice in {where}")
        per_ns[ifc.netns].setdefault(ifc.ifname, path)
        addr_path = f"{path}.addresses" if f"{path}.addresses" in topo.positions else path
        for text in ifc.addresses:
            parsed = _parse_iface(text)
            if isinstance(parsed, str):
                report(addr_path, parsed)
                continue
            if parsed.ip in owners:
                report(addr_path, f"address {parsed.ip} is already used by {owners[parsed.ip]}")
            owners.setdefault(parsed.ip, ifc.label or ifc.ifname)
            for other_if, other in addrs[ifc.netns]:
                if other_if != ifc.ifname and other.network.overlaps(parsed.network):
                    report(
                        addr_path,
                        f"subnet {parsed.network} of {ifc.ifname!r} overlaps {other.network} of"
                        f" {other_if!r} in {where}",
                    )
            addrs[ifc.netns].append((ifc.ifname, parsed))
    return addrs


def _order(topo: Topology, path: str) -> tuple[int, int]:
    pos = topo.pos(path)
    return (pos.line, pos.column) if pos else (0, 0)


def _hosts(
    topo: Topology,
    report: _Report,
    addrs: dict[str | None, list[tuple[str, ipaddress.IPv4Interface]]],
    names: dict[str | None, set[str]],
) -> None:
    for host in topo.hosts:
        netns = f"{topo.prefix}-{host.name}"
        ifnames = names.get(netns, set())
        mine = list(addrs.get(netns, []))
        for key, _value in host.sysctls:
            if not SYSCTL_RE.match(key):
                report(
                    f"{host.path}.sysctls.{key}",
                    f"sysctl {key!r} is not per-namespace; only net.* keys (e.g."
                    " net.ipv4.ip_forward) can be set for a host",
                )
        _routes(host, report, ifnames, mine)
        _nat(host, report, ifnames)


def _routes(
    host: Host,
    report: _Report,
    ifnames: set[str],
    mine: list[tuple[str, ipaddress.IPv4Interface]],
) -> None:
    known_ifs = ", ".join(sorted(ifnames)) or "none"
    destinations: set[str] = set()
    for route in host.routes:
        dst = "0.0.0.0/0" if route.to == "default" else route.to
        if route.to != "default":
            net = _parse_net(route.to)
            if isinstance(net, str):
                report(f"{route.path}.to", f"{net}; or `default`")
        if dst in destinations:
            report(f"{route.path}.to", f"a route to {route.to} is already defined")
        destinations.add(dst)
        if route.via is None and route.dev is None:
            report(route.path, "a route needs `via` (a gateway), `dev` (an interface) or both")
        if route.dev is not None and route.dev not in ifnames:
            report(
                f"{route.path}.dev",
                f"host {host.name!r} has no interface {route.dev!r}; it has: {known_ifs}",
            )
        if route.via is not None:
            gw = _parse_ip(route.via)
            if gw is None:
                report(f"{route.path}.via", f"{route.via!r} is not {_IPV4}")
            elif not any(gw in a.network for _, a in mine):
                report(
                    f"{route.path}.via",
                    f"gateway {gw} is not on a subnet of host {host.name!r}"
                    f" ({', '.join(str(a.network) for _, a in mine) or 'it has no addresses'})",
                )


def _nat(host: Host, report: _Report, ifnames: set[str]) -> None:
    known_ifs = ", ".join(sorted(ifnames)) or "none"
    for m in host.masquerade:
        if isinstance(msg := _parse_net(m.source), str):
            report(f"{m.path}.source", msg)
        if m.out not in ifnames:
            report(
                f"{m.path}.out",
                f"host {host.name!r} has no interface {m.out!r}; it has: {known_ifs}",
            )
    for f in host.forwards:
        if f.proto not in ("tcp", "udp"):
            report(f"{f.path}.proto", f"{f.proto!r} is not a protocol here; use tcp or udp")
        for field, port in (("port", f.port), ("to_port", f.to_port)):
            if not 1 <= port <= 65535:
                report(f"{f.path}.{field}", f"port {port} is outside 1-65535")
        if _parse_ip(f.to) is None:
            report(f"{f.path}.to", f"{f.to!r} is not {_IPV4}")
        if f.in_if is not None and f.in_if not in ifnames:
            report(
                f"{f.path}.in",
                f"host {host.name!r} has no interface {f.in_if!r}; it has: {known_ifs}",
            )


def _vxlans(
    topo: Topology,
    report: _Report,
    addrs: dict[str | None, list[tuple[str, ipaddress.IPv4Interface]]],
    names: dict[str | None, set[str]],
) -> None:
    hosts = {h.name for h in topo.hosts}
    for vx in topo.vxlans:
        if vx.host not in hosts:
            report(f"{vx.path}.host", f"unknown host {vx.host!r}")
            continue
        netns = f"{topo.prefix}-{vx.host}"
        ifnames = names.get(netns, set()) - {vx.ifname}
        if problem := ifname_problem(vx.ifname):
            report(f"{vx.path}.ifname", problem)
        if not 1 <= vx.vni <= 16777215:
            report(f"{vx.path}.vni", f"VNI {vx.vni} is outside 1-16777215")
        if not 1 <= vx.port <= 65535:
            report(f"{vx.path}.port", f"port {vx.port} is outside 1-65535")
        if _parse_ip(vx.remote) is None:
            report(f"{vx.path}.remote", f"{vx.remote!r} is not {_IPV4}")
        if vx.local is not None:
            local = _parse_ip(vx.local)
            if local is None:
                report(f"{vx.path}.local", f"{vx.local!r} is not {_IPV4}")
            elif not any(a.ip == local for _, a in addrs.get(netns, [])):
                report(f"{vx.path}.local", f"{vx.local} is not an address of host {vx.host!r}")
        if vx.dev is not None and vx.dev not in ifnames:
            report(f"{vx.path}.dev", f"host {vx.host!r} has no interface {vx.dev!r}")
        if vx.bridge is not None:
            br = topo.bridge(vx.bridge)
            if br is None or br.host != vx.host:
                report(f"{vx.path}.bridge", f"host {vx.host!r} has no bridge {vx.bridge!r}")
