"""`kubelab up --control-planes 3 --nodes 1` survives losing its store leader's machine.

One lab (kvstore, fast profile) with a unique short name, its own state root, its own
kubeconfig and a LAN no address of the host is in (tests/e2e/lab/support.py). The tests run
in order on the same lab:

1. find the store leader with `kubelab status`, `kill -9` every process the lab's supervisor
   records on that machine (only PIDs whose recorded identity still matches), then, with the
   real kubectl through the load-balanced API address: writes succeed again once the two
   survivors have elected a leader, and a pod is scheduled and Running on the worker;
   `kubelab status` names the new leader and shows the killed processes restarted (last exit
   -9); the old leader's replica rejoins and serves, from its own copy (etcdctl with
   serializable reads against its LAN address), a key written while it was down;
2. kill the scheduler that holds the `kube-scheduler` lease: another scheduler takes the lease
   and a new pod still gets bound;
3. `kubelab down` leaves no namespace, link, process or file.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from kubelab.lab import procs
from kubelab.lab.records import ProcessRecord, read_processes
from tests.e2e.lab.support import Lab, running_lab
from tests.support import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.netns, pytest.mark.slow, pytest.mark.timeout(420)]

CONTROL_PLANES = ("cp-1", "cp-2", "cp-3")


@dataclass(frozen=True)
class Status:
    """What `kubelab status` printed, parsed."""

    text: str
    leader: str | None
    processes: dict[str, dict[str, str]]  # key -> STATE, PID, UPTIME, RESTARTS, LAST EXIT
    scheduler_holder: str | None  # the machine holding the kube-scheduler lease
    nodes: dict[str, str]  # name -> STATUS


def parse_status(text: str) -> Status:
    leader = re.search(r"^store: leader (\S+) \(term \d+\)", text, re.M)
    holder = re.search(r"kube-scheduler held by (cp-\d+) \(", text)
    processes: dict[str, dict[str, str]] = {}
    nodes: dict[str, str] = {}
    header: list[str] = []
    for line in text.splitlines():
        cols = line.split()
        if cols[:1] in (["PROCESS"], ["NODE"]):
            header = cols
        elif not cols:
            header = []
        elif header[:1] == ["PROCESS"] and len(cols) == 6:
            processes[cols[0]] = dict(
                zip(["STATE", "PID", "UPTIME", "RESTARTS", "LAST EXIT"], cols[1:], strict=True)
            )
        elif header[:1] == ["NODE"]:
            nodes[cols[0]] = cols[1]
    return Status(
        text=text,
        leader=leader.group(1) if leader else None,
        processes=processes,
        scheduler_holder=holder.group(1) if holder else None,
        nodes=nodes,
    )


@dataclass
class HaLab:
    lab: Lab
    lan: str

    def status(self) -> Status:
        done = self.lab.kubelab("status", "--name", self.lab.name, timeout=60)
        assert done.returncode == 0, done.stderr
        return parse_status(done.stdout)

    def status_when(self, ok: Callable[[Status], bool], timeout: float, message: str) -> Status:
        def probe() -> Status | None:
            st = self.status()
            return st if ok(st) else None

        got = wait_until(probe, timeout, interval=0.5, message=message)
        assert got is not None
        return got

    def records(self) -> list[ProcessRecord]:
        return read_processes(self.lab.root / self.lab.name / "supervisor")

    def kill_machine_processes(self, machine: str, only: str | None = None) -> dict[str, int]:
        """`kill -9` the processes the supervisor runs on `machine` (or just process `only`).

        Only PIDs the lab recorded, and only while they still have the recorded start time."""
        killed = {}
        for rec in self.records():
            if rec.spec.machine != machine or (only is not None and rec.spec.name != only):
                continue
            if rec.ident is not None and procs.is_running(rec.ident):
                os.kill(rec.ident.pid, signal.SIGKILL)
                killed[rec.key] = rec.ident.pid
        return killed

    def ip(self, machine: str) -> str:
        index = CONTROL_PLANES.index(machine)
        ip = f"{self.lab.lan_prefix}{10 + index}"
        # etcdctl below talks only to an address on the lab's own LAN (the lab is sealed).
        assert ipaddress.ip_address(ip) in ipaddress.ip_network(self.lan)
        return ip

    def etcdctl_get(self, machine: str, key: str) -> str:
        """The value of `key` as the store replica on `machine` holds it (serializable read)."""
        done = subprocess.run(
            [
                "etcdctl", f"--endpoints={self.ip(machine)}:2379", "--dial-timeout=2s",
                "--command-timeout=3s", "get", key, "--consistency=s", "--print-value-only",
            ],
            env={**self.lab.env(), "ETCDCTL_API": "3"},
            capture_output=True,
            text=True,
            timeout=15,
        )  # fmt: skip
        if done.returncode != 0:
            raise AssertionError(f"etcdctl on {machine}: {done.stderr.strip()}")
        return done.stdout

    def free_pod(self, name: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name},
            "spec": {
                "terminationGracePeriodSeconds": 0,
                "containers": [{"name": "c", "image": "pause"}],
            },
        }


@pytest.fixture(scope="module")
def ha(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HaLab]:
    for tool in ("kubectl", "haproxy", "etcdctl"):
        if shutil.which(tool) is None:
            pytest.skip(f"needs {tool}")
    with running_lab(tmp_path_factory, tag="h", control_planes=3, nodes=1, store="kvstore") as (
        lab,
        lan,
    ):
        yield HaLab(lab, lan)


def test_writes_survive_killing_the_store_leaders_machine(ha: HaLab) -> None:
    lab = ha.lab
    before = ha.status_when(lambda s: s.leader in CONTROL_PLANES, 20, "a store leader")
    old = before.leader
    assert old is not None
    assert set(before.nodes.values()) == {"Ready"}, before.text

    killed = ha.kill_machine_processes(old)
    assert sorted(killed) == sorted(
        f"{old}/{p}" for p in ("kvstore", "apiserver", "scheduler", "kubelet")
    )

    # The two survivors elect a leader (a write during the election fails as etcd's would, with
    # "no leader"); from then on, writes through the load balancer succeed.
    attempts: list[str] = []

    def write() -> str:
        name = f"during-{len(attempts)}"
        attempts.append(name)
        lab.kubectl("create", "configmap", name, f"--from-literal=written={name}")
        return name

    during = wait_until(write, 30, interval=0.2, message="a write after killing the leader")
    for i in range(3):
        lab.kubectl("create", "configmap", f"after-{i}", f"--from-literal=i={i}")
    lab.apply(ha.free_pod("survivor"))
    try:
        pod = lab.wait_phase("survivor", "Running", timeout=60)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{ha.status().text}{lab.logs(4000)}") from None
    assert pod["spec"]["nodeName"] == "node-1"
    got = lab.kubectl("get", "configmap", during, "-o", "jsonpath={.data.written}").stdout
    assert got == during

    # `kubelab status`: a new leader among the survivors, the killed processes restarted.
    def recovered(st: Status) -> bool:
        rows = [st.processes[key] for key in killed]
        back = all(
            r["STATE"] == "running" and r["PID"] != str(killed[key]) and r["LAST EXIT"] == "-9"
            for key, r in zip(killed, rows, strict=True)
        )
        members_up = all(f"{m} up" in st.text for m in CONTROL_PLANES)
        return back and members_up and st.leader not in (None, old)

    try:
        after = ha.status_when(recovered, 60, "a new leader, the killed processes back")
    except TimeoutError:
        raise AssertionError(f"{ha.status().text}{lab.logs()}") from None
    for key in killed:
        assert int(after.processes[key]["RESTARTS"]) >= 1, after.text

    # The old leader's replica rejoined and holds what was written while it was down.
    value = wait_until(
        lambda: during in ha.etcdctl_get(old, f"/registry/configmaps/default/{during}"),
        30,
        interval=0.5,
        message=f"{during} on {old}'s replica",
    )
    assert value
    for i in range(3):
        assert "after-" in ha.etcdctl_get(old, f"/registry/configmaps/default/after-{i}")
    # ... and the whole cluster is Ready again (its kubelet came back too).
    wait_until(
        lambda: set(ha.status().nodes.values()) == {"Ready"}, 30, interval=1, message="all Ready"
    )


def test_another_scheduler_takes_over_the_lease(ha: HaLab) -> None:
    lab = ha.lab
    st = ha.status_when(lambda s: s.scheduler_holder is not None, 30, "a lease holder")
    holder = st.scheduler_holder
    assert holder is not None
    lease = lab.kubectl(
        "get",
        "lease",
        "-n",
        "kube-system",
        "kube-scheduler",
        "-o",
        "jsonpath={.spec.holderIdentity}",
    ).stdout
    assert lease
    assert lease in st.text

    killed = ha.kill_machine_processes(holder, only="scheduler")
    assert list(killed) == [f"{holder}/scheduler"]
    lab.apply(ha.free_pod("after-failover"))

    def new_holder() -> str:
        out = lab.kubectl(
            "get", "lease", "-n", "kube-system", "kube-scheduler",
            "-o", "jsonpath={.spec.holderIdentity}",
        ).stdout  # fmt: skip
        return out if out and out != lease else ""

    taken = wait_until(new_holder, 60, interval=0.5, message="a new kube-scheduler lease holder")
    assert taken != lease
    try:
        pod = lab.wait_phase("after-failover", "Running", timeout=60)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{ha.status().text}{lab.logs(4000)}") from None
    assert pod["spec"]["nodeName"] == "node-1"
    after = ha.status()
    assert after.processes[f"{holder}/scheduler"]["LAST EXIT"] == "-9", after.text
    assert taken in after.text  # status names the new holder (and its machine)
    assert after.scheduler_holder in CONTROL_PLANES


def test_down_leaves_nothing(ha: HaLab) -> None:
    ha.lab.down_and_check()
