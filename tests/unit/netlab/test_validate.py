from __future__ import annotations

import pytest

from netlab import validate
from netlab.loader import loads

BASE = """\
name: v1
hosts:
  a: {}
  b: {}
links:
  - endpoints:
      - {node: a, ifname: eth0, addresses: [10.0.0.1/24]}
      - {node: b, ifname: eth0, addresses: [10.0.0.2/24]}
"""


def problems_of(text: str) -> list[tuple[str, str, int | None]]:
    topo, shape = loads(text, "v.yaml")
    assert shape == []
    return [(p.field, p.message, p.pos.line if p.pos else None) for p in validate(topo)]


def test_base_is_valid() -> None:
    assert problems_of(BASE) == []


def two_hosts(extra_a: str = "", link_a: str = "10.0.0.1/24", link_b: str = "10.0.0.2/24") -> str:
    return (
        "name: v1\nhosts:\n"
        f"  a: {{{extra_a}}}\n"
        "  b: {}\n"
        "links:\n"
        "  - endpoints:\n"
        f"      - {{node: a, ifname: eth0, addresses: [{link_a}]}}\n"
        f"      - {{node: b, ifname: eth0, addresses: [{link_b}]}}\n"
    )


CASES = [
    ("bad lab name", "name: Bad_Name\n", "name", "not a lab name"),
    ("bad prefix", "name: v1\nprefix: 9x\n", "prefix", "not a prefix"),
    ("prefix too long", "name: v1\nprefix: abcdefghi\n", "prefix", "2-8"),
    ("reserved host name", "name: v1\nhosts: {root: {}}\n", "hosts.root", "reserved"),
    ("bad host name", "name: v1\nhosts: {A_b: {}}\n", "hosts.A_b", "not accepted"),
    (
        "host and bridge share a name",
        "name: v1\nhosts: {x: {}}\nbridges: {x: {}}\n",
        "bridges.x",
        "already used by a host",
    ),
    (
        "root bridge name too long",
        "name: v1\nprefix: abcdefgh\nbridges: {longbridge: {}}\n",
        "bridges.longbridge",
        "the kernel allows 15",
    ),
    (
        "bridge in unknown host",
        "name: v1\nbridges: {br: {host: ghost}}\n",
        "bridges.br.host",
        "unknown host 'ghost'",
    ),
    (
        "root bridge address without host access",
        "name: v1\nbridges: {br: {addresses: [10.1.0.1/24]}}\n",
        "bridges.br.addresses",
        "host_access: true",
    ),
    (
        "link to unknown node",
        "name: v1\nhosts: {a: {}}\nlinks: [[a, ghost]]\n",
        "links[0][1]",
        "unknown node 'ghost'",
    ),
    (
        "bridge end with ifname",
        "name: v1\nhosts: {a: {}}\nbridges: {br: {}}\nlinks: [[a, br:x]]\n",
        "links[0][1]",
        "is a bridge",
    ),
    (
        "link to root without host access",
        "name: v1\nhosts: {a: {}}\nlinks: [[a, root]]\n",
        "links[0][1]",
        "host_access: true",
    ),
    (
        "interface name too long",
        "name: v1\nhosts: {a: {}, b: {}}\nlinks: [[a:abcdefghijklmnop, b]]\n",
        "links[0][0]",
        "the kernel allows 15",
    ),
    (
        "reserved interface name",
        "name: v1\nhosts: {a: {}, b: {}}\nlinks: [[a:lo, b]]\n",
        "links[0][0]",
        "reserved",
    ),
    (
        "bad interface characters",
        "name: v1\nhosts: {a: {}, b: {}}\nlinks: [['a:e/0', b]]\n",
        "links[0][0]",
        "not accepted",
    ),
    (
        "duplicate interface",
        "name: v1\nhosts: {a: {}, b: {}}\nlinks: [[a:e0, b], [a:e0, b]]\n",
        "links[1][0]",
        "defined twice",
    ),
    (
        "both ends one bridge",
        "name: v1\nbridges: {br: {}}\nlinks: [[br, br]]\n",
        "links[0]",
        "both ends",
    ),
    (
        "not an address",
        two_hosts(link_a="10.0.0.300/24"),
        "links[0].endpoints[0].addresses",
        "not an address",
    ),
    (
        "no prefix length",
        two_hosts(link_a="10.0.0.1"),
        "links[0].endpoints[0].addresses",
        "no prefix length",
    ),
    ("ipv6", two_hosts(link_a="fd00::1/64"), "links[0].endpoints[0].addresses", "only IPv4"),
    (
        "network address",
        two_hosts(link_a="10.0.0.0/24"),
        "links[0].endpoints[0].addresses",
        "network or broadcast",
    ),
    (
        "duplicate address",
        two_hosts(link_b="10.0.0.1/24"),
        "links[0].endpoints[1].addresses",
        "already used by a:eth0",
    ),
    (
        "sysctl not per namespace",
        two_hosts("sysctls: {kernel.pid_max: 5}"),
        "hosts.a.sysctls.kernel.pid_max",
        "not per-namespace",
    ),
    (
        "route to bad subnet",
        two_hosts("routes: [{to: 10.9.0.1/24, via: 10.0.0.2}]"),
        "hosts.a.routes[0].to",
        "not a subnet",
    ),
    (
        "route via off-subnet gateway",
        two_hosts("routes: [{to: default, via: 10.5.0.1}]"),
        "hosts.a.routes[0].via",
        "not on a subnet",
    ),
    (
        "route via not an IP",
        two_hosts("routes: [{to: default, via: gateway}]"),
        "hosts.a.routes[0].via",
        "not an IPv4 address",
    ),
    (
        "route dev unknown",
        two_hosts("routes: [{to: default, dev: eth7}]"),
        "hosts.a.routes[0].dev",
        "no interface 'eth7'",
    ),
    (
        "route needs via or dev",
        two_hosts("routes: [{to: default}]"),
        "hosts.a.routes[0]",
        "needs `via`",
    ),
    (
        "duplicate route",
        two_hosts("routes: [{to: default, dev: eth0}, {to: default, dev: eth0}]"),
        "hosts.a.routes[1].to",
        "already defined",
    ),
    (
        "masquerade out unknown",
        two_hosts("nat: {masquerade: [{source: 10.0.0.0/24, out: up}]}"),
        "hosts.a.nat.masquerade[0].out",
        "no interface 'up'",
    ),
    (
        "masquerade bad source",
        two_hosts("nat: {masquerade: [{source: x, out: eth0}]}"),
        "hosts.a.nat.masquerade[0].source",
        "not a subnet",
    ),
    (
        "forward bad proto",
        two_hosts("nat: {forwards: [{proto: icmp, port: 1, to: 10.0.0.2}]}"),
        "hosts.a.nat.forwards[0].proto",
        "tcp or udp",
    ),
    (
        "forward port range",
        two_hosts("nat: {forwards: [{port: 70000, to: 10.0.0.2}]}"),
        "hosts.a.nat.forwards[0].port",
        "outside 1-65535",
    ),
    (
        "forward bad target",
        two_hosts("nat: {forwards: [{port: 80, to: web}]}"),
        "hosts.a.nat.forwards[0].to",
        "not an IPv4",
    ),
    (
        "forward unknown in",
        two_hosts("nat: {forwards: [{port: 80, to: 10.0.0.2, in: x}]}"),
        "hosts.a.nat.forwards[0].in",
        "no interface 'x'",
    ),
    (
        "vxlan unknown host",
        "name: v1\nvxlans: [{host: z, ifname: vx0, vni: 1, remote: 1.1.1.1}]\n",
        "vxlans[0].host",
        "unknown host",
    ),
]
VX = "name: v1\nhosts: {a: {}, b: {}}\nlinks: [[a:eth0, b]]\nvxlans:\n  - {host: a, ifname: vx0, "
CASES += [
    ("vxlan vni range", VX + "vni: 0, remote: 1.1.1.1}\n", "vxlans[0].vni", "outside"),
    ("vxlan bad remote", VX + "vni: 5, remote: far}\n", "vxlans[0].remote", "not an IPv4"),
    (
        "vxlan foreign local",
        VX + "vni: 5, remote: 1.1.1.1, local: 2.2.2.2}\n",
        "vxlans[0].local",
        "not an address of host",
    ),
    (
        "vxlan unknown dev",
        VX + "vni: 5, remote: 1.1.1.1, dev: eth5}\n",
        "vxlans[0].dev",
        "no interface 'eth5'",
    ),
    (
        "vxlan unknown bridge",
        VX + "vni: 5, remote: 1.1.1.1, bridge: br}\n",
        "vxlans[0].bridge",
        "no bridge 'br'",
    ),
    ("vxlan port range", VX + "vni: 5, remote: 1.1.1.1, port: 0}\n", "vxlans[0].port", "outside"),
]


@pytest.mark.parametrize(
    ("text", "field", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_each_problem_names_field_and_line(text: str, field: str, words: str) -> None:
    found = problems_of(text)
    assert any(f == field and words in m and line is not None for f, m, line in found), found


def test_overlapping_subnets_in_one_host() -> None:
    text = (
        "name: v1\nhosts: {a: {}, b: {}, c: {}}\nlinks:\n"
        "  - [{node: a, ifname: e0, addresses: [10.0.0.1/16]}, b]\n"
        "  - [{node: a, ifname: e1, addresses: [10.0.1.1/24]}, c]\n"
    )
    found = problems_of(text)
    assert [(f, line) for f, m, line in found if "overlaps" in m] == [("links[1][0].addresses", 5)]


def test_every_problem_is_reported_at_once() -> None:
    text = (
        "name: v1\nhosts:\n  a: {routes: [{to: default, via: 10.9.9.9}]}\n"
        "links: [[a, ghost], [a:thisnameistoolong, b]]\n"
    )
    fields = {f for f, _, _ in problems_of(text)}
    assert {"hosts.a.routes[0].via", "links[0][1]", "links[1][0]", "links[1][1]"} <= fields
