"""The process body (`app.serve`) with the in-memory cluster standing in for the client:
its Leases serve kubelab.client's leader election, as the apiserver does for the real process."""

from __future__ import annotations

import threading

import pytest

from controlplane.scheduler.app import EXIT_LOST_LEASE, EXIT_OK, ClusterAccess, serve
from controlplane.scheduler.inmemory import InMemoryCluster, MemoryLeases, make_node, make_pod
from controlplane.scheduler.options import parse_args
from tests.support import wait_until

pytestmark = pytest.mark.timeout(60)


def access(cluster: InMemoryCluster, leases: MemoryLeases) -> ClusterAccess:
    return ClusterAccess(cluster, cluster, cluster, leases, cluster.subscribe)


def start(
    argv: list[str], acc: ClusterAccess, stop: threading.Event
) -> tuple[threading.Thread, list[int]]:
    result: list[int] = []
    thread = threading.Thread(
        target=lambda: result.append(serve(parse_args(argv), acc, stop)), daemon=True
    )
    thread.start()
    return thread, result


@pytest.mark.parametrize("leader_elect", ["true", "false"])
def test_serve_schedules_until_stopped(leader_elect: str) -> None:
    cluster, stop = InMemoryCluster(), threading.Event()
    leases = cluster.leases
    cluster.add_node(make_node("node-1"))
    cluster.create_pod(make_pod("before"))
    argv = [
        f"--leader-elect={leader_elect}",
        "--identity",
        "cp-1",
        "--leader-elect-retry-period",
        "100ms",
    ]
    thread, result = start(argv, access(cluster, leases), stop)
    try:
        wait_until(lambda: cluster.node_of("default/before") == "node-1")
        cluster.create_pod(make_pod("after"))
        cluster.create_pod(make_pod("other", scheduler_name="someone-else"))
        wait_until(lambda: cluster.node_of("default/after") == "node-1")
        assert cluster.node_of("default/other") == ""
        if leader_elect == "true":
            lease = leases.lease()
            assert lease is not None
            assert lease["spec"]["holderIdentity"] == "cp-1"
            assert lease["spec"]["leaseDurationSeconds"] == 15
        else:
            assert leases.lease() is None
    finally:
        stop.set()
        thread.join(timeout=10)
    assert result == [EXIT_OK]
    if leader_elect == "true":
        assert leases.holder() == ""  # a clean stop releases the Lease for the next candidate


def test_serve_binds_with_a_pool_and_drains_it_on_stop() -> None:
    cluster, stop = InMemoryCluster(), threading.Event()
    for i in range(3):
        cluster.add_node(make_node(f"node-{i}", pods=5))
    for i in range(20):
        cluster.create_pod(make_pod(f"p{i}"))
    argv = ["--leader-elect=false", "--bind-workers=4"]
    thread, result = start(argv, access(cluster, cluster.leases), stop)
    try:
        wait_until(lambda: len(cluster.bindings) == 15)
        wait_until(lambda: len(cluster.events) >= 20)  # 15 Scheduled, 5 FailedScheduling
    finally:
        stop.set()
        thread.join(timeout=10)
    assert result == [EXIT_OK]
    per_node = {f"node-{i}": 0 for i in range(3)}
    for _, node in cluster.bindings:
        per_node[node] += 1
    assert per_node == {"node-0": 5, "node-1": 5, "node-2": 5}


def test_serve_exits_nonzero_when_the_lease_is_lost() -> None:
    cluster, stop = InMemoryCluster(), threading.Event()
    leases = cluster.leases
    argv = [
        "--identity",
        "cp-1",
        "--leader-elect-lease-duration",
        "1s",
        "--leader-elect-renew-deadline",
        "500ms",
        "--leader-elect-retry-period",
        "100ms",
    ]
    thread, result = start(argv, access(cluster, leases), stop)
    try:
        wait_until(lambda: leases.holder() == "cp-1")
        leases.fail = True
        thread.join(timeout=10)
        assert result == [EXIT_LOST_LEASE]
    finally:
        stop.set()
        thread.join(timeout=10)
