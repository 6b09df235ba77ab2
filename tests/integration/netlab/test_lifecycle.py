"""Transactional `up`, `clean` without a record, host access, VXLAN and the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import netlab
from netlab import state
from tests.integration.netlab.conftest import EXAMPLES, NOTHING, Labs, kernel_objects
from tests.support import wait_until

pytestmark = [pytest.mark.netns, pytest.mark.timeout(120)]


def test_a_failed_up_undoes_every_earlier_step(labs: Labs) -> None:
    data = yaml.safe_load((EXAMPLES / "pod-network.yaml").read_text())
    # Valid on paper, refused by the kernel late in the build (after namespaces, links, routes).
    data["hosts"]["node3"]["sysctls"]["net.ipv4.no_such_knob"] = 1
    with pytest.raises(netlab.ApplyError) as info:
        netlab.up(labs.topology(data))
    assert info.value.step == f"set sysctl net.ipv4.no_such_knob=1 in {labs.prefix}-node3"
    assert "No such file or directory" in str(info.value)
    assert kernel_objects(labs.prefix) == NOTHING
    assert state.find(labs.prefix) is None


def test_clean_by_prefix_needs_no_record_and_stops_processes(labs: Labs) -> None:
    labs.up(labs.example("pod-network.yaml"))
    sleeper = netlab.popen(labs.prefix, "pod1a", ["sleep", "300"])
    state.remove(labs.prefix)  # as if the record was lost in a crash
    removed = netlab.clean(labs.prefix)
    assert len(removed[0].namespaces) == 9
    assert sleeper.wait(timeout=10) != 0
    assert kernel_objects(labs.prefix) == NOTHING


def kubelab_lan(labs: Labs) -> netlab.Topology:
    machines = {"cp-0": "10.250.0.10", "node-0": "10.250.0.20"}
    return labs.topology(netlab.machine_lan_dict(labs.prefix, machines))


def test_host_access_lan_is_guarded_and_cleaned(labs: Labs) -> None:
    plan = labs.up(kubelab_lan(labs))
    p = labs.prefix
    objects = kernel_objects(p)
    root_names = sorted(i.ifname for i in plan.interfaces() if i.netns is None)
    assert sorted(objects["links"]) == root_names
    assert f"{p}-lan" in root_names
    guard = "\n".join(objects["iptables"])
    assert f'-A FORWARD -m comment --comment "netlab:{p}" -j {p}-guard' in guard
    assert f"-A {p}-guard -i {p}-+ ! -o {p}-+" in guard
    # the machine reaches the lab, and the lab the machine, over the lab's own bridge
    ping = subprocess.run(["ping", "-c1", "-W1", "10.250.0.10"], capture_output=True)
    assert ping.returncode == 0
    assert labs.ping("node-0", "10.250.0.1")
    labs.up(kubelab_lan(labs))  # idempotent: the guard's jump is not added twice
    assert len([ln for ln in kernel_objects(p)["iptables"] if ln.startswith("-A FORWARD")]) == 1
    netlab.down(p)
    assert kernel_objects(p) == NOTHING


def test_vxlan_over_a_veth_underlay(labs: Labs) -> None:
    topo = labs.topology(
        {
            "hosts": {"a": {}, "b": {}},
            "links": [
                {
                    "endpoints": [
                        {"node": "a", "ifname": "eth0", "addresses": ["172.30.0.1/24"]},
                        {"node": "b", "ifname": "eth0", "addresses": ["172.30.0.2/24"]},
                    ]
                }
            ],
            "vxlans": [
                {
                    "host": "a",
                    "ifname": "vx0",
                    "vni": 42,
                    "remote": "172.30.0.2",
                    "local": "172.30.0.1",
                    "dev": "eth0",
                    "addresses": ["10.99.0.1/24"],
                },
                {
                    "host": "b",
                    "ifname": "vx0",
                    "vni": 42,
                    "remote": "172.30.0.1",
                    "local": "172.30.0.2",
                    "dev": "eth0",
                    "addresses": ["10.99.0.2/24"],
                },
            ],
        }
    )
    labs.up(topo)
    assert labs.ping("a", "10.99.0.2")
    details = labs.run("a", "ip", "-d", "link", "show", "vx0").stdout
    assert "vxlan id 42" in details


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-c", "from netlab.cli import main; main()", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def test_cli_up_show_exec_fault_down(labs: Labs, tmp_path: Path) -> None:
    data = yaml.safe_load((EXAMPLES / "router.yaml").read_text())
    data.update(name=labs.prefix, prefix=labs.prefix)
    path = tmp_path / "router.yaml"
    path.write_text(yaml.safe_dump(data))
    assert cli("up", str(path)).returncode == 0
    shown = cli("show", labs.prefix).stdout
    assert "192.168.1.1/24" in shown
    assert "route default via 192.168.1.1" in shown
    assert labs.prefix in cli("show").stdout
    out = cli("exec", labs.prefix, "left", "--", "ping", "-c1", "-W1", "192.168.2.10")
    assert out.returncode == 0, out.stderr
    assert cli("fault", "partition", labs.prefix, "--a", "left", "--b", "right").returncode == 0
    assert "partition left <-> right" in cli("show", labs.prefix).stdout
    assert cli("exec", labs.prefix, "left", "--", "ping", "-c1", "-W1", "192.168.2.10").returncode
    assert cli("fault", "heal", labs.prefix).returncode == 0
    delay = cli("fault", "delay", labs.prefix, "left:eth0", "10")
    if delay.returncode != 0:
        assert "netem" in delay.stderr
    assert cli("down", str(path)).returncode == 0
    assert kernel_objects(labs.prefix) == NOTHING


def test_cli_reports_topology_problems_without_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nhosts: {a: {}}\nlinks: [[a, ghost]]\n")
    out = cli("up", str(path))
    assert out.returncode == 1
    assert f"{path}:3:" in out.stderr
    assert "unknown node 'ghost'" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_prefix_belongs_to_one_lab(labs: Labs) -> None:
    labs.up(labs.example("veth-pair.yaml"))
    data = yaml.safe_load((EXAMPLES / "router.yaml").read_text())
    data.update(name="someone-else", prefix=labs.prefix)
    with pytest.raises(netlab.ApplyError, match="belongs to running lab"):
        netlab.up(netlab.from_dict(data))
    assert labs.ping("red", "10.0.0.2")


def test_prune_removes_hosts_the_topology_dropped(labs: Labs) -> None:
    data = yaml.safe_load((EXAMPLES / "pod-network.yaml").read_text())
    labs.up(labs.topology(data))
    before = kernel_objects(labs.prefix)
    del data["hosts"]["pod3b"]
    data["links"] = [ln for ln in data["links"] if ln[0]["node"] != "pod3b"]
    plan = netlab.up(labs.topology(data), prune=True)
    after = kernel_objects(labs.prefix)
    assert set(before["netns"]) - set(after["netns"]) == {f"{labs.prefix}-pod3b"}
    assert sorted(after["netns"]) == sorted(h.netns for h in plan.hosts)
    assert labs.ping("pod1a", "10.244.3.10")


def test_clean_after_a_crash_in_the_middle_of_up(labs: Labs, tmp_path: Path) -> None:
    data = {
        "name": labs.prefix,
        "prefix": labs.prefix,
        "hosts": {f"h{i}": {} for i in range(60)},
        "bridges": {"lan": {}},
        "links": [[f"h{i}", "lan"] for i in range(60)],
    }
    path = tmp_path / "big.yaml"
    path.write_text(yaml.safe_dump(data))
    proc = subprocess.Popen(
        [sys.executable, "-c", "from netlab.cli import main; main()", "up", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: len(kernel_objects(labs.prefix)["netns"]) >= 5, timeout=30)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert state.find(labs.prefix) is None  # it died before writing its record
    netlab.clean(labs.prefix)
    assert kernel_objects(labs.prefix) == NOTHING


def test_link_to_the_root_namespace_with_host_access(labs: Labs) -> None:
    plan = labs.up(
        labs.topology(
            {
                "host_access": True,
                "hosts": {"gw": {}},
                "links": [
                    [
                        {"node": "gw", "ifname": "tohost", "addresses": ["10.251.0.2/30"]},
                        {"node": "root", "ifname": "gw", "addresses": ["10.251.0.1/30"]},
                    ]
                ],
            }
        )
    )
    (pair,) = plan.veths
    assert pair.b.ifname == f"{labs.prefix}-gw"
    assert kernel_objects(labs.prefix)["links"] == [pair.b.ifname]
    assert labs.ping("gw", "10.251.0.1")


def test_vxlan_bridges_two_nodes_into_one_l2_segment(labs: Labs) -> None:
    vx = {"vni": 7, "dev": "eth0", "ifname": "vx7"}
    labs.up(
        labs.topology(
            {
                "hosts": {"n1": {}, "n2": {}, "p1": {}, "p2": {}},
                "bridges": {
                    "b1": {"host": "n1", "ifname": "br0"},
                    "b2": {"host": "n2", "ifname": "br0"},
                },
                "links": [
                    [
                        {"node": "n1", "ifname": "eth0", "addresses": ["172.31.0.1/24"]},
                        {"node": "n2", "ifname": "eth0", "addresses": ["172.31.0.2/24"]},
                    ],
                    [{"node": "p1", "ifname": "eth0", "addresses": ["10.98.0.1/24"]}, "b1"],
                    [{"node": "p2", "ifname": "eth0", "addresses": ["10.98.0.2/24"]}, "b2"],
                ],
                "vxlans": [
                    {**vx, "host": "n1", "remote": "172.31.0.2", "bridge": "b1"},
                    {**vx, "host": "n2", "remote": "172.31.0.1", "bridge": "b2"},
                ],
            }
        )
    )
    assert labs.ping("p1", "10.98.0.2")
    assert "master br0" in labs.run("n1", "ip", "-o", "link", "show", "vx7").stdout
