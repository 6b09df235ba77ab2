"""The topology graph: frozen dataclasses and nothing else.

A `Topology` is what a user wrote, after type checks but before semantic validation
(`netlab.validate`) and before names and addresses are made concrete (`netlab.resolve`).
Every object keeps the dotted path of the YAML node it came from (`hosts.gw.routes[0]`);
`Topology.positions` maps those paths (and their fields, `hosts.gw.routes[0].via`) to file
positions, so validation can point at the line that is wrong.

Must not touch the kernel, the file system or the clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from netlab.errors import Pos

# The root network namespace (the machine itself) as a link endpoint.
ROOT = "root"


@dataclass(frozen=True)
class Route:
    to: str  # "default" or a CIDR
    via: str | None
    dev: str | None
    path: str


@dataclass(frozen=True)
class Masquerade:
    source: str  # CIDR whose traffic is rewritten
    out: str  # interface the rewritten traffic leaves by
    path: str


@dataclass(frozen=True)
class PortForward:
    proto: str  # tcp | udp
    port: int
    to: str  # address inside the lab
    to_port: int
    in_if: str | None  # interface the traffic arrives on (None: any)
    path: str


@dataclass(frozen=True)
class Host:
    """A network namespace."""

    name: str
    sysctls: tuple[tuple[str, str], ...]
    routes: tuple[Route, ...]
    masquerade: tuple[Masquerade, ...]
    forwards: tuple[PortForward, ...]
    path: str


@dataclass(frozen=True)
class Bridge:
    """A Linux bridge in a host's namespace, or in the root namespace when `host` is None."""

    name: str
    host: str | None
    addresses: tuple[str, ...]
    path: str
    ifname: str | None = None  # its name inside `host` when not `name` (e.g. cbr0 on each node)

    @property
    def local_name(self) -> str:
        return self.ifname or self.name


@dataclass(frozen=True)
class Endpoint:
    """One end of a link: a host's interface, a bridge (a port on it), or the root namespace."""

    node: str
    ifname: str | None
    addresses: tuple[str, ...]
    path: str


@dataclass(frozen=True)
class Link:
    """A veth pair."""

    a: Endpoint
    b: Endpoint
    path: str


@dataclass(frozen=True)
class Vxlan:
    """A VXLAN interface inside a host, over an underlay interface of that host."""

    host: str
    ifname: str
    vni: int
    remote: str
    local: str | None
    dev: str | None
    port: int
    addresses: tuple[str, ...]
    bridge: str | None
    path: str


@dataclass(frozen=True)
class Topology:
    name: str
    prefix: str
    host_access: bool
    hosts: tuple[Host, ...]
    bridges: tuple[Bridge, ...]
    links: tuple[Link, ...]
    vxlans: tuple[Vxlan, ...]
    source: str = "<topology>"
    text: str = field(default="", compare=False)  # the file's text, kept in the lab's record
    positions: Mapping[str, Pos] = field(default_factory=dict, compare=False, hash=False)

    def pos(self, path: str) -> Pos | None:
        """The position of `path`, or of its nearest enclosing node."""
        while path:
            if path in self.positions:
                return self.positions[path]
            cut = max(path.rfind("."), path.rfind("["))
            if cut <= 0:
                break
            path = path[:cut]
        return self.positions.get(path)

    def host(self, name: str) -> Host | None:
        return next((h for h in self.hosts if h.name == name), None)

    def bridge(self, name: str) -> Bridge | None:
        return next((b for b in self.bridges if b.name == name), None)
