"""Whatever a topology file holds, loading reports problems; it never crashes."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from netlab.loader import loads
from netlab.validate import validate

KEYS = [
    "name",
    "prefix",
    "host_access",
    "hosts",
    "bridges",
    "links",
    "vxlans",
    "endpoints",
    "node",
    "ifname",
    "addresses",
    "routes",
    "to",
    "via",
    "dev",
    "nat",
    "masquerade",
    "forwards",
    "port",
    "proto",
    "source",
    "out",
    "in",
    "sysctls",
    "host",
    "vni",
    "remote",
    "a",
    "b",
    "root",
    "eth0",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 70000),
    st.sampled_from(["a", "b", "root", "a:eth0", "10.0.0.1/24", "10.0.0.0/8", "default", "x" * 20]),
)
values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)
    ),
    max_leaves=30,
)


@settings(max_examples=120, deadline=None)
@given(st.dictionaries(st.sampled_from(KEYS), values, max_size=7))
def test_any_structure_gives_problems_not_exceptions(data: dict[str, Any]) -> None:
    topo, _problems = loads(yaml.safe_dump(data), "fuzz.yaml")
    validate(topo)


names = st.sampled_from(["a", "b", "c", "root", "br"])
endpoint = st.one_of(
    names,
    st.sampled_from(["a:eth0", "b:eth0", "br:x", "a:", ":x"]),
    st.dictionaries(st.sampled_from(["node", "ifname", "addresses"]), values, max_size=3),
    values,
)


@settings(max_examples=120, deadline=None)
@given(
    hosts=st.dictionaries(names, values, max_size=3),
    bridges=st.dictionaries(names, values, max_size=2),
    links=st.lists(
        st.one_of(
            st.lists(endpoint, min_size=2, max_size=2),
            st.fixed_dictionaries({"endpoints": st.lists(endpoint, max_size=3)}),
            values,
        ),
        max_size=4,
    ),
    vxlans=st.lists(st.dictionaries(st.sampled_from(KEYS), values, max_size=6), max_size=2),
)
def test_shaped_topologies_give_problems_not_exceptions(
    hosts: dict[str, Any], bridges: dict[str, Any], links: list[Any], vxlans: list[Any]
) -> None:
    data = {"name": "fz", "hosts": hosts, "bridges": bridges, "links": links, "vxlans": vxlans}
    topo, _problems = loads(yaml.safe_dump(data), "fuzz.yaml")
    validate(topo)
