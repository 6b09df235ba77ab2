"""The whole scheduling loop in its own thread against an in-memory cluster.

The cluster delivers watch events the way informers do (here synchronously from the writer's
thread) while the scheduler's worker runs `Scheduler.run()`, so locking, waking on events and
back-off timers are exercised with real time. The apiserver itself is not involved.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from controlplane.scheduler.inmemory import InMemoryCluster, make_node, make_pod
from controlplane.scheduler.queue import SchedulingQueue
from controlplane.scheduler.scheduler import Scheduler, run_in_thread
from tests.support import wait_until

CP = "node-role.kubernetes.io/control-plane"
pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def cluster() -> Iterator[InMemoryCluster]:
    cluster = InMemoryCluster()
    queue = SchedulingQueue(time.monotonic, initial_backoff=0.05, max_backoff=0.2)
    scheduler = Scheduler(cluster, cluster, cluster, queue=queue)
    cluster.subscribe(scheduler)
    stop = threading.Event()
    thread = run_in_thread(scheduler, stop)
    try:
        yield cluster
    finally:
        stop.set()
        scheduler.wake()
        thread.join(timeout=5)
        assert not thread.is_alive()


def failed_message(cluster: InMemoryCluster, key: str) -> str:
    events = cluster.events_for(key, "FailedScheduling")
    return str(events[-1]["note"]) if events else ""


def test_cluster_lifecycle(cluster: InMemoryCluster) -> None:
    cluster.add_node(
        make_node("cp-1", labels={CP: ""}, taints=[{"key": CP, "effect": "NoSchedule"}])
    )
    cluster.add_node(make_node("node-1", cpu="2", labels={"disk": "ssd"}))
    cluster.add_node(make_node("node-2", cpu="2"))

    # Ordinary pods land on the workers, never on the tainted control plane.
    for i in range(6):
        cluster.create_pod(make_pod(f"web-{i}", cpu="250m"))
    wait_until(lambda: all(cluster.node_of(f"default/web-{i}") for i in range(6)))
    assert {cluster.node_of(f"default/web-{i}") for i in range(6)} <= {"node-1", "node-2"}
    for i in range(6):
        [event] = cluster.events_for(f"default/web-{i}", "Scheduled")
        assert event["note"] == f"Successfully assigned default/web-{i} to " + cluster.node_of(
            f"default/web-{i}"
        )

    # A pod that tolerates the taint and selects the control plane goes there.
    cluster.create_pod(
        make_pod(
            "agent",
            nodeSelector={CP: ""},
            tolerations=[{"key": CP, "operator": "Exists", "effect": "NoSchedule"}],
        )
    )
    wait_until(lambda: cluster.node_of("default/agent") == "cp-1")

    # nodeSelector pins a pod to node-1.
    cluster.create_pod(make_pod("db", nodeSelector={"disk": "ssd"}))
    wait_until(lambda: cluster.node_of("default/db") == "node-1")

    # A pod too large for any node stays Pending with upstream's message.
    cluster.create_pod(make_pod("huge", cpu="3"))
    # 3 cpu is more than any worker has at all, so preemption cannot help anywhere.
    wait_until(lambda: failed_message(cluster, "default/huge"))
    assert failed_message(cluster, "default/huge") == (
        "0/3 nodes are available: 1 node(s) had untolerated taint(s), 2 Insufficient cpu. "
        "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    )
    assert cluster.node_of("default/huge") == ""
    condition = cluster.pods["default/huge"]["status"]["conditions"][-1]
    assert (condition["status"], condition["reason"]) == ("False", "Unschedulable")

    # A bigger node joins: the pending pod is retried and bound there.
    cluster.add_node(make_node("node-3", cpu="8"))
    wait_until(lambda: cluster.node_of("default/huge") == "node-3")


def test_freed_capacity_schedules_the_waiting_pod(cluster: InMemoryCluster) -> None:
    cluster.add_node(make_node("node-1", cpu="1"))
    cluster.create_pod(make_pod("first", cpu="800m"))
    wait_until(lambda: cluster.node_of("default/first"))
    cluster.create_pod(make_pod("second", cpu="800m"))
    wait_until(lambda: failed_message(cluster, "default/second"))
    assert failed_message(cluster, "default/second").startswith(
        "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: "
        "1 No preemption victims found for incoming pod."
    )
    cluster.delete_pod("default/first")
    wait_until(lambda: cluster.node_of("default/second") == "node-1")


def test_uncordon_makes_room(cluster: InMemoryCluster) -> None:
    cluster.add_node(make_node("node-1", unschedulable=True))
    cluster.create_pod(make_pod("web"))
    wait_until(lambda: failed_message(cluster, "default/web"))
    assert failed_message(cluster, "default/web").startswith(
        "0/1 nodes are available: 1 node(s) were unschedulable."
    )
    cluster.update_node(make_node("node-1"))
    wait_until(lambda: cluster.node_of("default/web") == "node-1")


def test_burst_respects_capacity(cluster: InMemoryCluster) -> None:
    for i in range(3):
        cluster.add_node(make_node(f"node-{i}", cpu="1", pods=10))
    for i in range(40):
        cluster.create_pod(make_pod(f"p-{i}", cpu="100m"))
    wait_until(lambda: len(cluster.bindings) == 30)
    per_node: dict[str, int] = {}
    for _, node in cluster.bindings:
        per_node[node] = per_node.get(node, 0) + 1
    assert per_node == {"node-0": 10, "node-1": 10, "node-2": 10}
    pending = [k for k, p in cluster.pods.items() if not p["spec"].get("nodeName")]
    assert len(pending) == 10
    wait_until(lambda: all(failed_message(cluster, k) for k in pending))
    assert all(
        failed_message(cluster, k).startswith("0/3 nodes are available: 3 Insufficient cpu")
        for k in pending
    )
