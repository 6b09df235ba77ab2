"""Prerequisites of `kubelab up`: root, system tools, components — one actionable line each."""

from __future__ import annotations

import pytest

from kubelab.lab.plan import plan
from kubelab.lab.prereqs import Probes, missing, modules_needed
from kubelab.lab.spec import ClusterSpec, Store

ALL_THERE = Probes(euid=0, which=lambda t: f"/usr/sbin/{t}", has_module=lambda m: True)

CASES = {
    "everything there": (ClusterSpec(control_planes=3), ALL_THERE, []),
    "not root": (
        ClusterSpec(),
        Probes(euid=1000, which=ALL_THERE.which, has_module=ALL_THERE.has_module),
        ["kubelab must run as root (namespaces, links, iptables): use sudo"],
    ),
    "no iptables": (
        ClusterSpec(),
        Probes(0, lambda t: None if t.startswith("iptables") else t, ALL_THERE.has_module),
        [
            "`iptables` not found: install it with `apt-get install iptables`",
            "`iptables-restore` not found: install it with `apt-get install iptables`",
        ],
    ),
    "haproxy only with several control planes": (
        ClusterSpec(control_planes=1),
        Probes(0, lambda t: None if t == "haproxy" else t, ALL_THERE.has_module),
        [],
    ),
    "no haproxy for HA": (
        ClusterSpec(control_planes=2),
        Probes(0, lambda t: None if t == "haproxy" else t, ALL_THERE.has_module),
        ["`haproxy` not found: install it with `apt-get install haproxy`"],
    ),
    "no etcd for --store etcd": (
        ClusterSpec(store=Store.ETCD),
        Probes(0, lambda t: None if t == "etcd" else t, ALL_THERE.has_module),
        ["`etcd` not found: install it with `apt-get install etcd-server`"],
    ),
    "components missing": (
        ClusterSpec(),
        Probes(0, ALL_THERE.which, lambda m: m.startswith("controlplane")),
        [
            "not built yet in this version: node_agent.kubelet, netlab.lifecycle, netlab.loader "
            "(the lab starts these components; see README.md, 'Status')"
        ],
    ),
}


@pytest.mark.parametrize(("spec", "probes", "problems"), CASES.values(), ids=CASES.keys())
def test_missing(spec: ClusterSpec, probes: Probes, problems: list[str]) -> None:
    assert missing(plan(spec), probes) == problems


def test_modules_come_from_the_plans_argv() -> None:
    assert modules_needed(plan(ClusterSpec(store=Store.ETCD)), network=False) == [
        "controlplane.apiserver",
        "controlplane.scheduler",
        "node_agent.kubelet",
    ]
