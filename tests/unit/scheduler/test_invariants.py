"""Properties of the whole loop over random clusters (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from controlplane.scheduler.inmemory import InMemoryCluster, make_node, make_pod
from controlplane.scheduler.resources import pod_requests
from controlplane.scheduler.scheduler import Outcome, Scheduler
from tests.unit.scheduler.fakeclock import FakeClock

nodes_st = st.lists(
    st.tuples(st.integers(1, 8), st.integers(1, 16), st.integers(1, 6), st.booleans()),
    min_size=1,
    max_size=5,
)
pods_st = st.lists(
    st.tuples(st.integers(0, 3000), st.integers(0, 4096), st.booleans()),
    min_size=1,
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(nodes=nodes_st, pods=pods_st, held=st.booleans())
def test_never_overcommits_and_respects_taints(
    nodes: list[tuple[int, int, int, bool]],
    pods: list[tuple[int, int, bool]],
    held: bool,
) -> None:
    cluster = InMemoryCluster(deliver="manual" if held else "sync")
    scheduler = Scheduler(cluster, cluster, cluster, clock=FakeClock())
    cluster.subscribe(scheduler)
    tainted = set()
    for i, (cpu, mem_gi, max_pods, taint) in enumerate(nodes):
        taints = [{"key": "dedicated", "value": "x", "effect": "NoSchedule"}] if taint else None
        if taint:
            tainted.add(f"n{i}")
        cluster.add_node(
            make_node(f"n{i}", cpu=str(cpu), memory=f"{mem_gi}Gi", pods=max_pods, taints=taints)
        )
    for i, (milli, mem_mi, tolerates) in enumerate(pods):
        tolerations = [{"key": "dedicated", "operator": "Exists"}] if tolerates else []
        cluster.create_pod(
            make_pod(f"p{i}", cpu=f"{milli}m", memory=f"{mem_mi}Mi", tolerations=tolerations)
        )
    cluster.flush()
    attempts = scheduler.run_until_idle()
    assert {a.outcome for a in attempts} <= {Outcome.BOUND, Outcome.UNSCHEDULABLE}

    used: dict[str, dict[str, int]] = {}
    for key, node in cluster.bindings:
        pod = cluster.pods[key]
        if node in tainted:
            assert pod["spec"]["tolerations"], f"{key} landed on tainted {node}"
        totals = used.setdefault(node, {"cpu": 0, "memory": 0, "pods": 0})
        for name, qty in pod_requests(pod).items():
            totals[name] += qty
        totals["pods"] += 1
    for i, (cpu, mem_gi, max_pods, _) in enumerate(nodes):
        totals = used.get(f"n{i}", {"cpu": 0, "memory": 0, "pods": 0})
        assert totals["cpu"] <= cpu * 1000
        assert totals["memory"] <= mem_gi * 1024**3
        assert totals["pods"] <= max_pods
    # Every pod was decided exactly once: bound, or reported with a FailedScheduling event.
    for key in cluster.pods:
        bound = cluster.node_of(key) != ""
        failed = bool(cluster.events_for(key, "FailedScheduling"))
        assert bound != failed
