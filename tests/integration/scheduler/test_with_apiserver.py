"""The scheduler process against a real apiserver over a real etcd.

Nodes and pods are created through kubelab.client; the scheduler (`python -m
controlplane.scheduler`, leader-elected through its Lease) binds what fits and reports what
does not with a FailedScheduling event and the PodScheduled=False condition.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controlplane.apiserver.server import Apiserver
from kubelab.client import EVENTS, LEASES, NODES, PODS, Client
from tests.integration.apiserver.cluster import grpc_client, run_apiserver, run_store
from tests.support import wait_until

pytestmark = [pytest.mark.timeout(120)]


def node(name: str, cpu: str = "2") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "status": {
            "capacity": {"cpu": cpu, "memory": "4Gi", "pods": "110"},
            "allocatable": {"cpu": cpu, "memory": "4Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def pod(name: str, cpu: str = "100m", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "containers": [
                {"name": "app", "image": "busybox", "resources": {"requests": {"cpu": cpu}}}
            ],
            **spec,
        },
    }


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Apiserver, Path]]:
    base = tmp_path_factory.mktemp("sched")
    with (
        run_store("etcd", base / "store") as store,
        run_apiserver(store.endpoints, base / "pki", bookmark_interval=0.5) as server,
    ):
        yield server, base / "pki"


@pytest.fixture(scope="module")
def client(cluster: tuple[Apiserver, Path]) -> Iterator[Client]:
    server, pki = cluster
    c = grpc_client(server, pki)
    yield c
    c.close()


def start_scheduler(
    server: Apiserver, pki: Path, identity: str, log: Path
) -> subprocess.Popen[bytes]:
    argv = [
        sys.executable, "-m", "controlplane.scheduler",
        "--kubeconfig", str(pki / "admin.kubeconfig"),
        "--apiserver", f"127.0.0.1:{server.grpc_port}",
        "--identity", identity,
        "--leader-elect-lease-duration=4s",
        "--leader-elect-renew-deadline=3s",
        "--leader-elect-retry-period=1s",
    ]  # fmt: skip
    with log.open("wb") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("schedlog")


@pytest.fixture(scope="module")
def scheduler(cluster: tuple[Apiserver, Path], logs: Path) -> Iterator[subprocess.Popen[bytes]]:
    server, pki = cluster
    proc = start_scheduler(server, pki, "sched-a", logs / "a.log")
    try:
        yield proc
    finally:
        stop(proc)


def node_of(client: Client, name: str) -> str:
    return str(client.get(PODS, name, namespace="default")["spec"].get("nodeName") or "")


def events_for(client: Client, name: str, reason: str) -> list[dict[str, Any]]:
    items = client.list(EVENTS, namespace="default").items
    return [
        e for e in items if e["involvedObject"].get("name") == name and e.get("reason") == reason
    ]


def test_pods_are_bound_and_events_written(
    client: Client, scheduler: subprocess.Popen[bytes]
) -> None:
    for name in ("n1", "n2"):
        client.create(NODES, node(name))
    client.create(PODS, pod("web-1"))
    client.create(PODS, pod("pinned", nodeSelector={"kubernetes.io/hostname": "n2"}))
    assert wait_until(lambda: node_of(client, "web-1"), 30, message="web-1 bound") in ("n1", "n2")
    assert wait_until(lambda: node_of(client, "pinned"), 30, message="pinned bound") == "n2"
    scheduled = wait_until(lambda: events_for(client, "pinned", "Scheduled"), 10)
    assert scheduled[0]["message"] == "Successfully assigned default/pinned to n2"
    lease = client.get(LEASES, "kube-scheduler", namespace="kube-system")
    assert lease["spec"]["holderIdentity"] == "sched-a"
    assert scheduler.poll() is None


def test_too_large_pod_gets_failed_scheduling(
    client: Client, scheduler: subprocess.Popen[bytes]
) -> None:
    client.create(PODS, pod("huge", cpu="64"))
    failed = wait_until(lambda: events_for(client, "huge", "FailedScheduling"), 30)
    assert failed[0]["type"] == "Warning"
    assert failed[0]["message"].startswith("0/2 nodes are available: 2 Insufficient cpu.")

    def condition() -> dict[str, Any] | None:
        got = client.get(PODS, "huge", namespace="default")
        conds = (got.get("status") or {}).get("conditions") or []
        return next((c for c in conds if c["type"] == "PodScheduled"), None)

    cond = wait_until(condition, 10, message="PodScheduled condition")
    assert cond is not None
    assert (cond["status"], cond["reason"]) == ("False", "Unschedulable")
    assert node_of(client, "huge") == ""


def test_unschedulable_pod_is_retried_when_a_node_arrives(
    client: Client, scheduler: subprocess.Popen[bytes]
) -> None:
    client.create(PODS, pod("waits", cpu="8"))
    wait_until(lambda: events_for(client, "waits", "FailedScheduling"), 30)
    client.create(NODES, node("big", cpu="16"))
    assert wait_until(lambda: node_of(client, "waits"), 30, message="waits bound") == "big"


def holder(client: Client) -> str:
    lease = client.get(LEASES, "kube-scheduler", namespace="kube-system")
    return str(lease["spec"].get("holderIdentity") or "")


def test_standby_takes_over_when_the_leader_stops(
    cluster: tuple[Apiserver, Path],
    client: Client,
    scheduler: subprocess.Popen[bytes],
    logs: Path,
) -> None:
    server, pki = cluster
    standby = start_scheduler(server, pki, "sched-b", logs / "b.log")
    try:
        wait_until(lambda: holder(client) == "sched-a", 10, message="sched-a leads")
        stop(scheduler)  # a clean stop releases the Lease
        assert scheduler.returncode == 0
        wait_until(lambda: holder(client) == "sched-b", 20, message="sched-b takes over")
        client.create(PODS, pod("after-failover"))
        assert wait_until(lambda: node_of(client, "after-failover"), 30) in ("n1", "n2", "big")
        assert standby.poll() is None
    finally:
        stop(standby)
