"""A whole lab's lifecycle with stand-in processes (root): up, status, restart, stop, start, down.

The components are not part of this test: every process of the plan is replaced by a stand-in
(`sleep`, and an "apiserver" that writes the admin kubeconfig as the real one does), and the
machines are bare namespaces instead of netlab's network. Everything else is the real thing: the
steps, the supervisor, the records, the kubeconfig merge, the CLI, and `down`'s prefix scan.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubelab.cli import cli
from kubelab.lab import cleanup, kubeconfig, lifecycle, nodes, procs, steps
from kubelab.lab.errors import LabError, LabExistsError
from kubelab.lab.plan import Plan, ProcessSpec, Tools, plan
from kubelab.lab.prereqs import Probes
from kubelab.lab.records import ProcessRecord, read_processes
from kubelab.lab.spec import ClusterSpec
from tests.support import wait_until
from tests.support.netns import list_netns, run

pytestmark = [pytest.mark.netns, pytest.mark.timeout(120)]

APISERVER = """
import json, pathlib, sys, time
d = pathlib.Path(sys.argv[1]); d.mkdir(parents=True, exist_ok=True)
cfg = {"clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443",
                                             "certificate-authority-data": "Q0E="}}],
       "users": [{"name": "admin", "user": {"token": "t0k"}}],
       "contexts": [{"name": "a", "context": {"cluster": "c", "user": "admin"}}],
       "current-context": "a"}
(d / "admin.kubeconfig").write_text(json.dumps(cfg))
time.sleep(300)
"""
MUTE_APISERVER = "import time; time.sleep(300)"


def stand_in(write_admin: bool) -> Callable[[ProcessSpec], tuple[str, ...]]:
    def argv(proc: ProcessSpec) -> tuple[str, ...]:
        if proc.name == "apiserver":
            cert_dir = proc.argv[proc.argv.index("--cert-dir") + 1]
            script = APISERVER if write_admin else MUTE_APISERVER
            return (sys.executable, "-c", script, cert_dir)
        return ("sleep", "300")

    return argv


@dataclass(frozen=True)
class BareMachines:
    """Stands in for netlab: one empty namespace per machine."""

    name: str = "create bare machine namespaces"

    def execute(self, ctx: steps.Context) -> None:
        for m in ctx.plan.machines:
            run("ip", "netns", "add", m.netns)

    def undo(self, ctx: steps.Context) -> None:
        for m in ctx.plan.machines:
            run("ip", "netns", "del", m.netns, check=False)


PROBES = Probes(euid=0, which=lambda tool: f"/usr/bin/{tool}", has_module=lambda m: True)


@dataclass(frozen=True)
class Lab:
    plan: Plan
    root: Path
    kubeconfig: Path

    @property
    def name(self) -> str:
        return self.plan.spec.name

    def env(self) -> dict[str, str]:
        return {"KUBELAB_ROOT": str(self.root)}

    @staticmethod
    def stand_ins(plan: Plan) -> Plan:
        return steps.with_argv(plan, stand_in(True))

    def up(self, write_admin: bool = True, wait_timeout: float = 30.0) -> None:
        lifecycle.up(
            steps.with_argv(self.plan, stand_in(write_admin)),
            kubeconfig_path=self.kubeconfig,
            tools=Tools(python=sys.executable),
            probes=PROBES,
            out=lambda line: None,
            network=BareMachines(),
            wait_timeout=wait_timeout,
            port_open=lambda host, port: True,  # bare machines have no LAN to probe
            nodes_ready=lambda plan: {m.name for m in plan.machines},  # no kubelets either
        )

    def cli(self, *args: str) -> tuple[int, str]:
        result = CliRunner().invoke(cli, [*args, "--name", self.name], env=self.env())
        return result.exit_code, result.output


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    name = f"t{secrets.token_hex(3)}"
    root = tmp_path / "root"
    spec = ClusterSpec(name=name, control_planes=2, workers=1, fast=True)
    the_lab = Lab(plan(spec, root=root, tools=Tools(python=sys.executable)), root, tmp_path / "kc")
    try:
        yield the_lab
    finally:
        lifecycle.down(root, name, the_lab.kubeconfig)


def net_inode(rec: ProcessRecord) -> int:
    assert rec.ident is not None
    return os.stat(f"/proc/{rec.ident.pid}/ns/net").st_ino


def in_netns(rec: ProcessRecord, inode: int) -> bool:
    return net_inode(rec) == inode


def all_netns() -> list[str]:
    return sorted(list_netns())


def lab_netns(name: str) -> set[str]:
    return {n for n in list_netns() if n.startswith(f"{name}-")}


def recorded(lab: Lab) -> list[procs.ProcessIdentity]:
    return [r.ident for r in read_processes(lab.plan.paths.supervisor) if r.ident is not None]


def test_up_status_restart_stop_start_down(lab: Lab) -> None:
    # The user's kubeconfig already has another cluster: it must survive.
    kubeconfig.save(lab.kubeconfig, kubeconfig.merge({}, "other", {"server": "https://x"}, {}))
    lab.up()

    code, out = lab.cli("status")
    assert code == 0, out
    for key in ("host/haproxy", "cp-1/kvstore", "cp-2/apiserver", "node-1/kubelet"):
        line = next(line for line in out.splitlines() if line.startswith(key + " "))
        assert " running " in line, line
    assert f"{lab.name}-cp-1 (present)" in out
    assert len(recorded(lab)) == 10  # haproxy + 2 x 4 control-plane processes + 1 kubelet

    # Every machine process runs in its machine's namespace.
    for rec in read_processes(lab.plan.paths.supervisor):
        assert rec.ident is not None
        if rec.spec.netns:
            want = os.stat(f"/run/netns/{rec.spec.netns}").st_ino
            wait_until(partial(in_netns, rec, want), 10)

    # The user's kubeconfig: the lab's context is current, the other cluster is intact.
    config = kubeconfig.load(lab.kubeconfig)
    assert config["current-context"] == f"kubelab-{lab.name}"
    assert [c["name"] for c in config["clusters"]] == ["kubelab-other", f"kubelab-{lab.name}"]
    lab_cluster = config["clusters"][1]["cluster"]
    assert lab_cluster["server"] == "https://10.250.0.2:6443"  # the VIP
    node_kc = kubeconfig.load(lab.plan.paths.kubeconfig("cp-2"))
    assert node_kc["clusters"][0]["cluster"]["server"] == "https://10.250.0.11:6443"

    # A dead kubelet is restarted by the supervisor.
    [kubelet] = [r for r in read_processes(lab.plan.paths.supervisor) if r.key == "node-1/kubelet"]
    assert kubelet.ident is not None
    os.kill(kubelet.ident.pid, signal.SIGKILL)

    def restarted() -> bool:
        [rec] = [r for r in read_processes(lab.plan.paths.supervisor) if r.key == kubelet.key]
        return rec.restarts == 1 and rec.ident is not None and rec.ident != kubelet.ident

    wait_until(restarted, 15, message="kubelet restarted")

    # stop: every process goes, the machines and data stay.
    before = recorded(lab)
    code, out = lab.cli("stop")
    assert code == 0, out
    assert f"lab {lab.name}: stopped 10 processes" in out
    assert not any(procs.is_running(i) for i in before)
    assert lab_netns(lab.name) == {m.netns for m in lab.plan.machines}
    assert lab.plan.paths.record.exists()
    code, out = lab.cli("status")
    assert "supervisor: not running" in out

    # start: the same processes come back (the CLI would start the real components, which
    # need the components' modules: it says so).
    code, out = lab.cli("start")
    if code != 0:
        assert "not built yet" in out
    lifecycle.start(
        lab.root, lab.name, PROBES, all_netns, adapt=lab.stand_ins, port_open=lambda h, p: True
    )
    assert len([i for i in recorded(lab) if procs.is_running(i)]) == 10
    assert lab.cli("stop")[0] == 0

    # down: nothing of the lab is left, and the user's other context is back in place.
    code, out = lab.cli("down", "--kubeconfig", str(lab.kubeconfig))
    assert code == 0, out
    assert "stopped 0 processes; removed " in out
    assert not lab_netns(lab.name)
    assert not lab.plan.paths.lab.exists()
    config = kubeconfig.load(lab.kubeconfig)
    assert [c["name"] for c in config["clusters"]] == ["kubelab-other"]
    assert config["current-context"] == ""
    code, out = lab.cli("down", "--kubeconfig", str(lab.kubeconfig))
    assert (code, out.strip()) == (0, f"lab {lab.name}: nothing to remove")


def test_start_refuses_when_the_network_is_gone(lab: Lab) -> None:
    lab.up()
    assert lab.cli("stop")[0] == 0
    for m in lab.plan.machines:
        run("ip", "netns", "del", m.netns)
    with pytest.raises(LabError, match=r"network of lab .* is gone.*kubelab down"):
        lifecycle.start(lab.root, lab.name, PROBES, all_netns, adapt=lab.stand_ins)


def test_a_failed_up_leaves_nothing_behind(lab: Lab) -> None:
    with pytest.raises(LabError, match="did not write"):
        lab.up(write_admin=False, wait_timeout=1.0)
    assert not lab_netns(lab.name)
    assert not lab.plan.paths.lab.exists()
    # Everything the half-built lab had started is gone: no stand-in is left running.
    left = subprocess.run(["pgrep", "-f", str(lab.root)], capture_output=True, text=True)
    assert left.stdout == ""
    assert not lab.kubeconfig.exists() or f"kubelab-{lab.name}" not in lab.kubeconfig.read_text()


def test_up_refuses_an_existing_name_and_touches_nothing(lab: Lab) -> None:
    lab.up()
    before = recorded(lab)
    with pytest.raises(LabExistsError, match="already exists"):
        lab.up()
    assert recorded(lab) == before
    assert all(procs.is_running(i) for i in before)
    code, out = lab.cli("up", "--dry-run")
    assert code == 0  # a dry run only prints
    code, out = lab.cli("up", "--kubeconfig", str(lab.kubeconfig))
    assert code == 1
    assert "already exists" in out
    assert json.loads(lab.plan.paths.record.read_text())["spec"]["name"] == lab.name


def bring_up_missing_machines(plan: Plan) -> None:
    present = set(list_netns())
    for m in plan.machines:
        if m.netns not in present:
            run("ip", "netns", "add", m.netns)


def test_node_add_and_remove(lab: Lab) -> None:
    lab.up()
    added = nodes.node_add(
        lab.root, lab.name, PROBES, all_netns,
        network=bring_up_missing_machines, adapt=lab.stand_ins,
    )  # fmt: skip
    assert (added.name, str(added.ip), str(added.pod_cidr)) == (
        "node-2", "10.250.0.21", "10.244.3.0/24",
    )  # fmt: skip
    assert added.netns in lab_netns(lab.name)
    assert lab.plan.paths.kubeconfig("node-2").exists()
    code, out = lab.cli("status")
    assert any(
        line.startswith("node-2/kubelet ") and " running " in line for line in out.splitlines()
    )

    # node-1's kubelet runtime dir (on tmpfs, named by its root dir) goes with the machine.
    run_dir = cleanup.KUBELET_RUN_ROOTS[1] / f"t{secrets.token_hex(8)}"
    run_dir.mkdir(parents=True)
    (run_dir / cleanup.RUN_OWNER_FILE).write_text(str(lab.plan.paths.machine("node-1") / "kubelet"))
    code, out = lab.cli("node", "remove", "node-9")
    assert code == 1
    assert "NODE=node-9: not a worker of lab" in out
    code, out = lab.cli("node", "remove", "node-1")
    assert code == 0, out
    assert f"lab {lab.name}: removed node-1; Node node-1 not deleted (the lab's LAN" in out
    assert f"{lab.name}-node-1" not in lab_netns(lab.name)
    assert not run_dir.exists()
    keys = [r.key for r in read_processes(lab.plan.paths.supervisor)]
    assert "node-1/kubelet" not in keys
    assert "node-2/kubelet" in keys

    # A node added later gets a new name, address and pod subnet: node-1's are not reused.
    again = nodes.node_add(
        lab.root, lab.name, PROBES, all_netns,
        network=bring_up_missing_machines, adapt=lab.stand_ins,
    )  # fmt: skip
    assert (again.name, str(again.ip), str(again.pod_cidr)) == (
        "node-3", "10.250.0.22", "10.244.4.0/24",
    )  # fmt: skip
    record = lifecycle.require_record(lab.root, lab.name)
    assert [m.name for m in record.plan.workers] == ["node-2", "node-3"]
    assert record.plan.removed == ("node-1",)
