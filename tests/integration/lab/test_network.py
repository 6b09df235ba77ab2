"""The lab's machines built by netlab from kubelab.lab.topology (root; needs netlab's lifecycle).

Skipped until netlab's lifecycle API is part of the tree. Uses its own LAN and pod ranges so it
never meets another lab on this machine; the machines run stand-in processes.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubelab.lab import lifecycle, steps
from kubelab.lab.plan import Plan, ProcessSpec, Tools, plan
from kubelab.lab.prereqs import Probes
from kubelab.lab.spec import ClusterSpec
from tests.support.netns import list_netns

pytestmark = [pytest.mark.netns, pytest.mark.timeout(120)]

ADMIN = (
    "import json, pathlib, sys, time; d = pathlib.Path(sys.argv[1]); "
    "d.mkdir(parents=True, exist_ok=True); (d / 'admin.kubeconfig').write_text(json.dumps("
    "{'clusters': [{'name': 'c', 'cluster': {'server': 'https://x:6443'}}], "
    "'users': [{'name': 'u', 'user': {'token': 't'}}]})); time.sleep(300)"
)


LISTEN = "import socket, time; s = socket.create_server(('0.0.0.0', 2379)); time.sleep(300)"


def stand_in(proc: ProcessSpec) -> tuple[str, ...]:
    if proc.name == "kvstore":  # listens, so `up` sees a quorum of stores over the lab LAN
        return (sys.executable, "-c", LISTEN)
    if proc.name == "apiserver":
        return (sys.executable, "-c", ADMIN, proc.argv[proc.argv.index("--cert-dir") + 1])
    return ("sleep", "300")


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Plan]:
    pytest.importorskip("netlab.lifecycle")
    name = f"t{secrets.token_hex(3)}"
    spec = ClusterSpec(
        name=name,
        control_planes=1,
        workers=2,
        lan=ClusterSpec.lan.__class__("10.253.7.0/24"),
        pod_cidr=ClusterSpec.pod_cidr.__class__("10.252.0.0/16"),
    )
    the_plan = plan(spec, root=tmp_path / "root", tools=Tools(python=sys.executable))
    try:
        yield the_plan
    finally:
        lifecycle.down(tmp_path / "root", name, tmp_path / "kc")


def in_machine(netns: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", netns, *argv], capture_output=True, text=True)


def test_machines_reach_each_other_and_the_host_over_the_lab_lan(lab: Plan, tmp_path: Path) -> None:
    lifecycle.up(
        steps.with_argv(lab, stand_in),
        kubeconfig_path=tmp_path / "kc",
        tools=Tools(python=sys.executable),
        probes=Probes(euid=0, which=lambda t: t, has_module=lambda m: True),
        out=lambda line: None,
        wait_timeout=30,
        nodes_ready=lambda plan: {m.name for m in plan.machines},  # stand-in kubelets
    )
    name = lab.spec.name
    assert {m.netns for m in lab.machines} <= set(list_netns())
    cp1, node1, node2 = lab.machines
    for src, dst in ((cp1, lab.host_ip), (node1, cp1.ip), (node2, node1.ip)):
        ping = in_machine(src.netns, "ping", "-c", "1", "-W", "2", str(dst))
        assert ping.returncode == 0, ping.stdout + ping.stderr
    routes = in_machine(node1.netns, "ip", "-4", "route").stdout
    assert f"{node2.pod_cidr} via {node2.ip}" in routes
    assert "default" not in routes  # sealed: nowhere to go but the lab

    report = lifecycle.down(lab.paths.lab.parent, name, tmp_path / "kc")
    assert report.failed == []
    assert not [n for n in list_netns() if n.startswith(f"{name}-")]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert f" {name}-" not in links
