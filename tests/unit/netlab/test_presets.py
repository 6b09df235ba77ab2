from __future__ import annotations

import pytest

import netlab
from netlab.errors import TopologyError


def test_machine_lan_follows_the_address_plan() -> None:
    topo = netlab.machine_lan(
        "demo", {"cp-0": "10.250.0.10", "node-0": "10.250.0.20"}, prefix="kldemo"
    )
    plan = netlab.resolve(topo)
    assert [h.netns for h in plan.hosts] == ["kldemo-cp-0", "kldemo-node-0"]
    (lan,) = plan.bridges
    assert (lan.netns, lan.ifname, lan.addresses) == (None, "kldemo-lan", ("10.250.0.1/24",))
    cp = plan.host_interfaces("cp-0")
    assert [(i.ifname, i.addresses) for i in cp] == [("eth0", ("10.250.0.10/24",))]
    assert plan.guards_root


def test_machine_lan_reports_bad_addresses() -> None:
    with pytest.raises(TopologyError, match="already used"):
        netlab.machine_lan("demo", {"a": "10.250.0.1"})
