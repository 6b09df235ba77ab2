"""Topology files (YAML) -> `Topology`, with the file position of every node.

`loads()` is pure: it checks shapes and types (unknown keys, a string where a list belongs, ...)
and collects every problem instead of stopping at the first; `load()` reads a file, then runs
`netlab.validate` too, and raises one `TopologyError` that lists everything wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from netlab.errors import Pos, Problem, TopologyError
from netlab.model import (
    Bridge,
    Endpoint,
    Host,
    Link,
    Masquerade,
    PortForward,
    Route,
    Topology,
    Vxlan,
)
from netlab.validate import validate

T = TypeVar("T")

_PREFIX_CHARS = re.compile(r"[^a-z0-9]")


def default_prefix(name: str) -> str:
    """The kernel-object prefix for a lab name: its letters and digits, at most 8 of them."""
    return _PREFIX_CHARS.sub("", name.lower())[:8]


class _Reader:
    """Turns a composed YAML node tree into plain values, remembering where each came from."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.positions: dict[str, Pos] = {}
        self.problems: list[Problem] = []
        self._scalars = yaml.constructor.SafeConstructor()

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(path or "<top>", message, self.pos(path), self.source))

    def pos(self, path: str) -> Pos | None:
        while path not in self.positions and path:
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        return self.positions.get(path)

    def plain(self, node: yaml.Node, path: str) -> Any:
        mark = node.start_mark
        self.positions[path] = Pos(mark.line + 1, mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = str(self._scalars.construct_object(key_node))
                sub = f"{path}.{key}" if path else key
                if key in out:
                    kmark = key_node.start_mark
                    self.positions[sub] = Pos(kmark.line + 1, kmark.column + 1)
                    self.problem(sub, f"duplicate key {key!r}")
                    continue
                out[key] = self.plain(value_node, sub)
                # Point at the key: "line 7: via" reads better than the value's column.
                kmark = key_node.start_mark
                self.positions[sub] = Pos(kmark.line + 1, kmark.column + 1)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.plain(item, f"{path}[{i}]") for i, item in enumerate(node.value)]
        return self._scalars.construct_object(node)

    # Typed accessors: each records a problem and returns a fallback when the type is wrong.

    def keys(self, value: dict[str, Any], path: str, allowed: set[str]) -> None:
        for key in value:
            if key not in allowed:
                accepted = ", ".join(sorted(allowed))
                self.problem(
                    f"{path}.{key}" if path else key, f"unknown field; accepted: {accepted}"
                )

    def mapping(self, value: Any, path: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(path, f"expected a mapping, got {_kind(value)} {value!r}")
            return {}
        return value

    def sequence(self, value: Any, path: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(path, f"expected a list, got {_kind(value)} {value!r}")
            return []
        return value

    def string(self, value: Any, path: str, *, required: bool = False) -> str | None:
        if value is None:
            if required:
                self.problem(path, "required field is missing")
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.problem(path, f"expected a string, got {_kind(value)} {value!r}")
            return None
        return str(value)

    def integer(self, value: Any, path: str, default: int | None = None) -> int | None:
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(path, f"expected an integer, got {_kind(value)} {value!r}")
            return None
        return value

    def strings(self, value: Any, path: str) -> tuple[str, ...]:
        if isinstance(value, str):
            return (value,)
        out = []
        for i, item in enumerate(self.sequence(value, path)):
            text = self.string(item, f"{path}[{i}]")
            if text is not None:
                out.append(text)
        return tuple(out)


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", bool: "a boolean", int: "an integer"}.get(
        type(value), "a string" if isinstance(value, str) else type(value).__name__
    )


_TOP = {"name", "prefix", "host_access", "hosts", "bridges", "links", "vxlans"}
_HOST = {"sysctls", "routes", "nat"}
_NAT = {"masquerade", "forwards"}
_ROUTE = {"to", "via", "dev"}
_MASQ = {"source", "out"}
_FWD = {"proto", "port", "to", "to_port", "in"}
_BRIDGE = {"host", "addresses", "ifname"}
_LINK = {"endpoints"}
_ENDPOINT = {"node", "ifname", "addresses"}
_VXLAN = {"host", "ifname", "vni", "remote", "local", "dev", "port", "addresses", "bridge"}


def loads(text: str, source: str = "<topology>") -> tuple[Topology, list[Problem]]:
    """Parse topology text. Returns the topology (problem parts left out) and shape problems."""
    reader = _Reader(source)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        pos = Pos(mark.line + 1, mark.column + 1) if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc)
        empty = Topology("", "", False, (), (), (), (), source)
        return empty, [Problem("<yaml>", f"not valid YAML: {reason}", pos, source)]
    data = reader.mapping(reader.plain(node, "") if node is not None else None, "")
    reader.keys(data, "", _TOP)
    name = reader.string(data.get("name"), "name", required=True) or ""
    prefix = reader.string(data.get("prefix"), "prefix") or default_prefix(name)
    host_access = data.get("host_access", False)
    if not isinstance(host_access, bool):
        reader.problem("host_access", f"expected true or false, got {host_access!r}")
        host_access = False
    hosts = _each_named(reader, data.get("hosts"), "hosts", _host)
    bridges = _each_named(reader, data.get("bridges"), "bridges", _bridge)
    links = _each_listed(reader, data.get("links"), "links", _link)
    vxlans = _each_listed(reader, data.get("vxlans"), "vxlans", _vxlan)
    topo = Topology(
        name=name,
        prefix=prefix,
        host_access=host_access,
        hosts=tuple(hosts),
        bridges=tuple(bridges),
        links=tuple(links),
        vxlans=tuple(vxlans),
        source=source,
        text=text,
        positions=dict(reader.positions),
    )
    return topo, reader.problems


def load(path: str | Path) -> Topology:
    """Read, parse and validate a topology file; raise `TopologyError` listing every problem."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        problem = Problem("<file>", f"cannot read: {exc.strerror}", None, str(path))
        raise TopologyError([problem]) from None
    return load_text(text, str(path))


def from_dict(data: dict[str, Any], source: str = "<dict>") -> Topology:
    """A validated topology from plain data shaped like a topology file (for programs)."""
    return load_text(yaml.safe_dump(data, sort_keys=False), source)


def load_text(text: str, source: str = "<topology>") -> Topology:
    """Parse and validate topology text; raise `TopologyError` listing every problem."""
    topo, problems = loads(text, source)
    problems = [*problems, *validate(topo)]
    if problems:
        raise TopologyError(problems)
    return topo


def _each_named(
    reader: _Reader, value: Any, path: str, build: Callable[[_Reader, str, Any, str], T | None]
) -> list[T]:
    out = []
    for name, body in reader.mapping(value, path).items():
        item = build(reader, name, body, f"{path}.{name}")
        if item is not None:
            out.append(item)
    return out


def _each_listed(
    reader: _Reader, value: Any, path: str, build: Callable[[_Reader, Any, str], T | None]
) -> list[T]:
    out = []
    for i, body in enumerate(reader.sequence(value, path)):
        item = build(reader, body, f"{path}[{i}]")
        if item is not None:
            out.append(item)
    return out


def _host(reader: _Reader, name: str, body: Any, path: str) -> Host:
    data = reader.mapping(body, path)
    reader.keys(data, path, _HOST)
    sysctls = []
    for key, raw in reader.mapping(data.get("sysctls"), f"{path}.sysctls").items():
        text = reader.string(int(raw) if isinstance(raw, bool) else raw, f"{path}.sysctls.{key}")
        if text is not None:
            sysctls.append((key, text))
    routes = _each_listed(reader, data.get("routes"), f"{path}.routes", _route)
    nat = reader.mapping(data.get("nat"), f"{path}.nat")
    reader.keys(nat, f"{path}.nat", _NAT)
    masq = _each_listed(reader, nat.get("masquerade"), f"{path}.nat.masquerade", _masquerade)
    fwds = _each_listed(reader, nat.get("forwards"), f"{path}.nat.forwards", _forward)
    return Host(name, tuple(sysctls), tuple(routes), tuple(masq), tuple(fwds), path)


def _route(reader: _Reader, body: Any, path: str) -> Route | None:
    data = reader.mapping(body, path)
    reader.keys(data, path, _ROUTE)
    to = reader.string(data.get("to"), f"{path}.to", required=True)
    via = reader.string(data.get("via"), f"{path}.via")
    dev = reader.string(data.get("dev"), f"{path}.dev")
    if to is None:
        return None
    return Route(to, via, dev, path)


def _masquerade(reader: _Reader, body: Any, path: str) -> Masquerade | None:
    data = reader.mapping(body, path)
    reader.keys(data, path, _MASQ)
    source = reader.string(data.get("source"), f"{path}.source", required=True)
    out = reader.string(data.get("out"), f"{path}.out", required=True)
    if source is None or out is None:
        return None
    return Masquerade(source, out, path)


def _forward(reader: _Reader, body: Any, path: str) -> PortForward | None:
    data = reader.mapping(body, path)
    reader.keys(data, path, _FWD)
    proto = reader.string(data.get("proto", "tcp"), f"{path}.proto") or "tcp"
    port = reader.integer(data.get("port"), f"{path}.port")
    to = reader.string(data.get("to"), f"{path}.to", required=True)
    to_port = reader.integer(data.get("to_port"), f"{path}.to_port", default=port)
    in_if = reader.string(data.get("in"), f"{path}.in")
    if port is None:
        if "port" not in data:
            reader.problem(f"{path}.port", "required field is missing")
        return None
    if to is None or to_port is None:
        return None
    return PortForward(proto, port, to, to_port, in_if, path)


def _bridge(reader: _Reader, name: str, body: Any, path: str) -> Bridge:
    data = reader.mapping(body, path)
    reader.keys(data, path, _BRIDGE)
    host = reader.string(data.get("host"), f"{path}.host")
    addresses = reader.strings(data.get("addresses"), f"{path}.addresses")
    ifname = reader.string(data.get("ifname"), f"{path}.ifname")
    return Bridge(name, host, addresses, path, ifname)


def _link(reader: _Reader, body: Any, path: str) -> Link | None:
    if isinstance(body, list):
        ends_value: Any = body
        ends_path = path
    else:
        data = reader.mapping(body, path)
        reader.keys(data, path, _LINK)
        ends_value = data.get("endpoints")
        ends_path = f"{path}.endpoints"
        if ends_value is None:
            reader.problem(ends_path, "required field is missing")
            return None
    ends = reader.sequence(ends_value, ends_path)
    if len(ends) != 2:
        if isinstance(ends_value, list):
            reader.problem(ends_path, f"a link has exactly 2 endpoints, got {len(ends)}")
        return None
    a = _endpoint(reader, ends[0], f"{ends_path}[0]")
    b = _endpoint(reader, ends[1], f"{ends_path}[1]")
    if a is None or b is None:
        return None
    return Link(a, b, path)


def _endpoint(reader: _Reader, body: Any, path: str) -> Endpoint | None:
    if isinstance(body, str):
        host, _, name = body.partition(":")
        return Endpoint(host, name or None, (), path)
    data = reader.mapping(body, path)
    if not data:
        if isinstance(body, dict):
            reader.problem(path, "an endpoint needs at least `node`")
        return None
    reader.keys(data, path, _ENDPOINT)
    node = reader.string(data.get("node"), f"{path}.node", required=True)
    ifname = reader.string(data.get("ifname"), f"{path}.ifname")
    addresses = reader.strings(data.get("addresses"), f"{path}.addresses")
    if node is None:
        return None
    if ifname is None and ":" in node:
        node, _, rest = node.partition(":")
        ifname = rest or None
    return Endpoint(node, ifname, addresses, path)


def _vxlan(reader: _Reader, body: Any, path: str) -> Vxlan | None:
    data = reader.mapping(body, path)
    reader.keys(data, path, _VXLAN)
    host = reader.string(data.get("host"), f"{path}.host", required=True)
    ifname = reader.string(data.get("ifname"), f"{path}.ifname", required=True)
    vni = reader.integer(data.get("vni"), f"{path}.vni")
    remote = reader.string(data.get("remote"), f"{path}.remote", required=True)
    local = reader.string(data.get("local"), f"{path}.local")
    dev = reader.string(data.get("dev"), f"{path}.dev")
    port = reader.integer(data.get("port"), f"{path}.port", default=4789)
    addresses = reader.strings(data.get("addresses"), f"{path}.addresses")
    bridge = reader.string(data.get("bridge"), f"{path}.bridge")
    if vni is None and "vni" not in data:
        reader.problem(f"{path}.vni", "required field is missing")
    if host is None or ifname is None or vni is None or remote is None or port is None:
        return None
    return Vxlan(host, ifname, vni, remote, local, dev, port, addresses, bridge, path)
