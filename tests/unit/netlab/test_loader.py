from __future__ import annotations

from pathlib import Path

import pytest

import netlab
from netlab.errors import Pos, TopologyError
from netlab.loader import default_prefix, loads

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "netlab"

SMALL = """\
name: small
hosts:
  a:
    sysctls: {net.ipv4.ip_forward: 1}
    routes:
      - {to: default, via: 10.0.0.2}
  b: {}
links:
  - endpoints:
      - {node: a, ifname: eth0, addresses: [10.0.0.1/24]}
      - {node: b, addresses: 10.0.0.2/24}
  - [a, b:eth9]
"""


def test_parses_hosts_links_and_shorthands() -> None:
    topo, problems = loads(SMALL, "small.yaml")
    assert problems == []
    assert topo.name == "small"
    assert topo.prefix == "small"
    assert [h.name for h in topo.hosts] == ["a", "b"]
    a = topo.host("a")
    assert a is not None
    assert a.sysctls == (("net.ipv4.ip_forward", "1"),)
    assert a.routes[0].to == "default"
    assert a.routes[0].via == "10.0.0.2"
    first, second = topo.links
    assert first.a.ifname == "eth0"
    assert first.b.addresses == ("10.0.0.2/24",)
    assert (second.a.node, second.a.ifname) == ("a", None)
    assert (second.b.node, second.b.ifname) == ("b", "eth9")


def test_positions_point_at_the_yaml_lines() -> None:
    topo, _ = loads(SMALL, "small.yaml")
    assert topo.positions["hosts.a.routes[0]"] == Pos(6, 9)
    assert topo.pos("hosts.a.routes[0].via") == Pos(6, 23)
    assert topo.pos("links[1]") == Pos(12, 5)
    # an unknown sub-path falls back to its nearest known parent
    assert topo.pos("links[1].nothing.here") == Pos(12, 5)


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_every_example_loads(name: str) -> None:
    topo = netlab.load(EXAMPLES / name)
    assert topo.text.startswith("#")
    assert netlab.validate(topo) == []


SHAPE_CASES = [
    ("not yaml", "name: [unclosed\n", "<yaml>", "not valid YAML"),
    ("unknown top field", "name: x1\ncolour: red\n", "colour", "unknown field"),
    ("missing name", "hosts: {}\n", "name", "required field is missing"),
    ("hosts not a mapping", "name: x1\nhosts: [a, b]\n", "hosts", "expected a mapping"),
    ("duplicate host", "name: x1\nhosts:\n  a: {}\n  a: {}\n", "hosts.a", "duplicate key"),
    ("unknown host field", "name: x1\nhosts:\n  a: {colour: 1}\n", "hosts.a.colour", "unknown"),
    (
        "route without to",
        "name: x1\nhosts:\n  a: {routes: [{via: 1.2.3.4}]}\n",
        "hosts.a.routes[0].to",
        "required",
    ),
    ("link with 3 ends", "name: x1\nlinks:\n  - [a, b, c]\n", "links[0]", "exactly 2"),
    ("link without endpoints", "name: x1\nlinks:\n  - {}\n", "links[0].endpoints", "required"),
    ("host_access not bool", "name: x1\nhost_access: yes please\n", "host_access", "true or false"),
    (
        "port not int",
        "name: x1\nhosts:\n  a: {nat: {forwards: [{port: http, to: 1.1.1.1}]}}\n",
        "hosts.a.nat.forwards[0].port",
        "expected an integer",
    ),
    (
        "vxlan without vni",
        "name: x1\nvxlans:\n  - {host: a, ifname: vx0, remote: 1.1.1.1}\n",
        "vxlans[0].vni",
        "required",
    ),
    (
        "addresses not a list",
        "name: x1\nbridges:\n  b: {addresses: {a: 1}}\n",
        "bridges.b.addresses",
        "expected a list",
    ),
]


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [c[1:] for c in SHAPE_CASES],
    ids=[c[0] for c in SHAPE_CASES],
)
def test_shape_problems_name_the_field(text: str, field: str, words: str) -> None:
    _, problems = loads(text, "t.yaml")
    assert any(p.field == field and words in p.message for p in problems), problems


def test_load_reports_every_problem_at_once_with_positions(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: bad\n"
        "colour: red\n"
        "hosts:\n"
        "  a: {routes: [{to: default, via: 9.9.9.9}]}\n"
        "links:\n"
        "  - [a:eth0, ghost]\n"
    )
    with pytest.raises(TopologyError) as info:
        netlab.load(path)
    lines = str(info.value).splitlines()
    assert lines[0] == "3 problems in topology:"
    assert lines[1].startswith(f"  {path}:2:1: colour: unknown field")
    assert f"{path}:4:" in lines[2]
    assert "gateway 9.9.9.9" in lines[2]
    assert f"{path}:6:" in lines[3]
    assert "unknown node 'ghost'" in lines[3]


def test_missing_file_is_a_topology_error(tmp_path: Path) -> None:
    with pytest.raises(TopologyError, match="cannot read"):
        netlab.load(tmp_path / "nope.yaml")


def test_default_prefix_keeps_letters_and_digits() -> None:
    assert default_prefix("pod-network") == "podnetwo"
    assert default_prefix("A1") == "a1"


def test_from_dict_round_trips() -> None:
    topo = netlab.from_dict({"name": "d1", "hosts": {"a": {}, "b": {}}, "links": [["a", "b"]]})
    assert [h.name for h in topo.hosts] == ["a", "b"]
