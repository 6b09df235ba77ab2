"""Two schedulers, one Lease: only the leader binds; the other takes over when it goes.

Election is kubelab.client's `LeaderElector` (through the scheduler's `LeaseElector`) over the
in-memory cluster's Leases, with short durations and real time."""

from __future__ import annotations

import threading

import pytest

from controlplane.scheduler.app import LeaseElector
from controlplane.scheduler.inmemory import InMemoryCluster, MemoryLeases, make_node, make_pod
from controlplane.scheduler.scheduler import Scheduler, run_leader_elected
from kubelab.client.leaderelection import LeaderElectionConfig
from tests.support import wait_until

pytestmark = pytest.mark.timeout(60)


def elector(leases: MemoryLeases, identity: str, **durations: float) -> LeaseElector:
    config = LeaderElectionConfig("kube-scheduler", "kube-system", identity, **durations)
    return LeaseElector(leases, config, poll=0.02)


class TaggingBinder:
    """Binds through the cluster and remembers which replica did it."""

    def __init__(self, cluster: InMemoryCluster, identity: str, log: list[str]) -> None:
        self.cluster = cluster
        self.identity = identity
        self.log = log

    def bind(self, namespace: str, name: str, node: str) -> None:
        self.cluster.bind(namespace, name, node)
        self.log.append(self.identity)


def test_only_the_leader_schedules_and_the_standby_takes_over() -> None:
    cluster = InMemoryCluster()
    store = cluster.leases
    binds: list[str] = []
    # Whole seconds: a Lease's leaseDurationSeconds is an integer.
    config = {"lease_duration": 1, "renew_deadline": 0.4, "retry_period": 0.05}
    replicas = {}
    for identity in ("a", "b"):
        scheduler = Scheduler(TaggingBinder(cluster, identity, binds), cluster, cluster)
        cluster.subscribe(scheduler)
        stop = threading.Event()
        result: list[bool] = []
        elect = elector(store, identity, **config)
        thread = threading.Thread(
            target=lambda s=scheduler, e=elect, st=stop, r=result: r.append(
                run_leader_elected(s, e, st)
            ),
            daemon=True,
        )
        replicas[identity] = (stop, thread, result)
        thread.start()
        if identity == "a":
            wait_until(lambda: store.holder() == "a")
    try:
        cluster.add_node(make_node("node-1"))
        for i in range(5):
            cluster.create_pod(make_pod(f"early-{i}"))
        wait_until(lambda: len(binds) == 5)
        assert set(binds) == {"a"}

        stop_a, thread_a, result_a = replicas["a"]
        stop_a.set()  # replica a stops cleanly: it releases the Lease
        thread_a.join(timeout=5)
        assert result_a == [False]
        for i in range(5):
            cluster.create_pod(make_pod(f"late-{i}"))
        wait_until(lambda: len(binds) == 10)
        assert binds[5:] == ["b"] * 5
        lease = store.lease()
        assert lease is not None
        assert (lease["spec"]["holderIdentity"], lease["spec"]["leaseTransitions"]) == ("b", 1)
    finally:
        for stop, thread, _ in replicas.values():
            stop.set()
            thread.join(timeout=5)
            assert not thread.is_alive()


def test_leader_that_cannot_renew_stops_scheduling() -> None:
    cluster = InMemoryCluster()
    store = cluster.leases
    scheduler = Scheduler(cluster, cluster, cluster)
    cluster.subscribe(scheduler)
    elect = elector(store, "a", lease_duration=1, renew_deadline=0.3, retry_period=0.05)
    stop = threading.Event()
    result: list[bool] = []
    thread = threading.Thread(
        target=lambda: result.append(run_leader_elected(scheduler, elect, stop)), daemon=True
    )
    thread.start()
    try:
        wait_until(lambda: elect.elector is not None and elect.elector.leader)
        store.fail = True
        thread.join(timeout=5)
        assert result == [True]
    finally:
        stop.set()
        thread.join(timeout=5)
