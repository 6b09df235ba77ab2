"""The binding cycle beside the scheduling cycle (`bind_workers > 0`): pods are assumed at once,
bindings are posted by a bounded pool, and a failed binding forgets the pod and requeues it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from controlplane.scheduler.errors import BindError
from controlplane.scheduler.inmemory import InMemoryCluster, make_node, make_pod
from controlplane.scheduler.pod import PodKey
from controlplane.scheduler.queue import SchedulingQueue
from controlplane.scheduler.scheduler import Outcome, Scheduler, run_in_thread
from tests.support import wait_until
from tests.unit.scheduler.fakeclock import FakeClock

pytestmark = pytest.mark.timeout(60)


class GatedBinder:
    """Binds through the cluster once the gate opens; refuses or breaks on request."""

    def __init__(self, cluster: InMemoryCluster) -> None:
        self.cluster = cluster
        self.gate = threading.Event()
        self.calls: list[str] = []
        self.refuse: set[str] = set()
        self.explode: set[str] = set()
        self._lock = threading.Lock()

    def bind(self, namespace: str, name: str, node: str) -> None:
        key = f"{namespace}/{name}"
        with self._lock:
            self.calls.append(key)
        if not self.gate.wait(10):
            raise BindError(key, node, "gate never opened")
        if key in self.refuse:
            self.refuse.discard(key)
            raise BindError(key, node, "apiserver unavailable")
        if key in self.explode:
            self.explode.discard(key)
            raise RuntimeError("unexpected client failure")
        self.cluster.bind(namespace, name, node)


@pytest.fixture
def world() -> Iterator[tuple[InMemoryCluster, GatedBinder, Scheduler, FakeClock]]:
    clock = FakeClock()
    cluster = InMemoryCluster()
    binder = GatedBinder(cluster)
    scheduler = Scheduler(binder, cluster, cluster, clock=clock, bind_workers=4)
    cluster.subscribe(scheduler)
    try:
        yield cluster, binder, scheduler, clock
    finally:
        binder.gate.set()
        scheduler.close(timeout=10)


def cpu_requested(scheduler: Scheduler) -> dict[str, int]:
    return {n.name: n.requested.get("cpu", 0) for n in scheduler.cache.snapshot().nodes}


def test_scheduling_goes_on_while_bindings_are_in_flight(
    world: tuple[InMemoryCluster, GatedBinder, Scheduler, FakeClock],
) -> None:
    cluster, binder, scheduler, _ = world
    cluster.add_node(make_node("n1", cpu="2"))
    for i in range(3):
        cluster.create_pod(make_pod(f"p{i}", cpu="1"))
    outcomes = [a.outcome for a in scheduler.run_until_idle()]
    # Two bindings wait at the gate; their pods are assumed, so the third does not fit.
    assert outcomes == [Outcome.BINDING, Outcome.BINDING, Outcome.UNSCHEDULABLE]
    wait_until(lambda: len(binder.calls) == 2)
    assert scheduler.bindings_in_flight() == 2
    assert cpu_requested(scheduler) == {"n1": 2000}
    binder.gate.set()
    assert scheduler.wait_for_bindings(10)
    assert sorted(node for _, node in cluster.bindings) == ["n1", "n1"]
    assert cpu_requested(scheduler) == {"n1": 2000}  # confirmed, not counted twice
    for key, _ in cluster.bindings:
        [event] = cluster.events_for(key, "Scheduled")
        assert event["note"] == f"Successfully assigned {key} to n1"


def test_at_most_bind_workers_bindings_are_in_flight() -> None:
    cluster = InMemoryCluster()
    binder = GatedBinder(cluster)
    scheduler = Scheduler(binder, cluster, cluster, bind_workers=2)
    cluster.subscribe(scheduler)
    cluster.add_node(make_node("n1"))
    for i in range(3):
        cluster.create_pod(make_pod(f"p{i}"))
    third = threading.Thread(target=scheduler.run_until_idle, daemon=True)
    try:
        third.start()
        wait_until(lambda: len(binder.calls) == 2)
        third.join(timeout=0.3)
        assert third.is_alive()  # waiting for a free slot, its pod assumed but not posted
        assert len(binder.calls) == 2
        binder.gate.set()
        third.join(timeout=10)
        assert not third.is_alive()
        assert scheduler.wait_for_bindings(10)
        assert len(cluster.bindings) == 3
    finally:
        binder.gate.set()
        scheduler.close(timeout=10)


@pytest.mark.parametrize("failure", ["refused", "exception"])
def test_failed_binding_forgets_the_pod_requeues_it_and_frees_the_node(
    world: tuple[InMemoryCluster, GatedBinder, Scheduler, FakeClock], failure: str
) -> None:
    cluster, binder, scheduler, clock = world
    cluster.add_node(make_node("n1", cpu="1"))
    (binder.refuse if failure == "refused" else binder.explode).add("default/first")
    cluster.create_pod(make_pod("first", cpu="1"))
    cluster.create_pod(make_pod("second", cpu="1"))
    outcomes = [a.outcome for a in scheduler.run_until_idle()]
    assert outcomes == [Outcome.BINDING, Outcome.UNSCHEDULABLE]
    binder.gate.set()
    assert scheduler.wait_for_bindings(10)
    assert not scheduler.cache.is_assumed(PodKey("default/first"))
    assert cpu_requested(scheduler) == {"n1": 0}
    [event] = cluster.events_for("default/first", "FailedScheduling")
    verb = "rejected" if failure == "refused" else "failed"
    assert event["note"].startswith(f'Binding {verb}: running Bind plugin "DefaultBinder"')
    # The freed capacity moves the unschedulable pod out of the pool (into back-off, as its
    # own attempt was a second ago); the failed pod backs off too.
    assert scheduler.queue.pending() == {
        "active": [],
        "backoff": ["default/first", "default/second"],
        "unschedulable": [],
    }
    assert scheduler.run_until_idle() == []
    clock.advance(1.0)
    values = sorted(a.outcome.value for a in scheduler.run_until_idle())
    assert values == ["binding", "unschedulable"]
    assert scheduler.wait_for_bindings(10)
    assert len(cluster.bindings) == 1
    assert cpu_requested(scheduler) == {"n1": 1000}


def test_threaded_loop_with_a_bind_pool_never_overcommits() -> None:
    cluster = InMemoryCluster()
    queue = SchedulingQueue(time.monotonic, initial_backoff=0.05, max_backoff=0.2)
    scheduler = Scheduler(cluster, cluster, cluster, queue=queue, bind_workers=8)
    cluster.subscribe(scheduler)
    for i in range(3):
        cluster.add_node(make_node(f"n{i}", pods=10))
    stop = threading.Event()
    thread = run_in_thread(scheduler, stop)
    try:
        for i in range(40):
            cluster.create_pod(make_pod(f"p{i}", cpu="100m"))
        wait_until(lambda: len(cluster.bindings) == 30)
        per_node: dict[str, int] = {}
        for _, node in cluster.bindings:
            per_node[node] = per_node.get(node, 0) + 1
        assert per_node == {"n0": 10, "n1": 10, "n2": 10}
        unbound = [k for k, p in cluster.pods.items() if not p["spec"].get("nodeName")]
        assert len(unbound) == 10
        wait_until(
            lambda: all(cluster.events_for(k, "FailedScheduling") for k in unbound), timeout=10
        )
    finally:
        stop.set()
        scheduler.wake()
        thread.join(timeout=5)
        scheduler.close(timeout=10)
    assert not thread.is_alive()
