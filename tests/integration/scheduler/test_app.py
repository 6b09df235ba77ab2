"""The process body (`app.serve`) with the in-memory cluster standing in for the client."""

from __future__ import annotations

import threading

import pytest

from controlplane.scheduler.app import EXIT_LOST_LEASE, EXIT_OK, ClusterAccess, serve
from controlplane.scheduler.inmemory import InMemoryCluster, make_node, make_pod
from controlplane.scheduler.leaderelection import MemoryLeaseStore
from controlplane.scheduler.options import parse_args
from tests.support import wait_until

pytestmark = pytest.mark.timeout(60)


def access(cluster: InMemoryCluster, leases: MemoryLeaseStore) -> ClusterAccess:
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
    cluster, leases, stop = InMemoryCluster(), MemoryLeaseStore(), threading.Event()
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
            assert leases.record is not None
            assert leases.record.holder_identity == "cp-1"
            assert leases.record.lease_duration_seconds == 15
        else:
            assert leases.record is None
    finally:
        stop.set()
        thread.join(timeout=10)
    assert result == [EXIT_OK]


def test_serve_exits_nonzero_when_the_lease_is_lost() -> None:
    cluster, leases, stop = InMemoryCluster(), MemoryLeaseStore(), threading.Event()
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
        wait_until(lambda: leases.record is not None)
        leases.fail = True
        thread.join(timeout=10)
        assert result == [EXIT_LOST_LEASE]
    finally:
        stop.set()
        thread.join(timeout=10)
