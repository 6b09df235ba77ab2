from __future__ import annotations

from controlplane.scheduler.cache import Cache
from controlplane.scheduler.inmemory import make_node, make_pod
from controlplane.scheduler.pod import PodInfo


def requested(cache: Cache, node: str) -> dict[str, int]:
    infos = {n.name: n for n in cache.snapshot().nodes}
    return infos[node].requested


def test_assumed_pod_counts_until_forgotten() -> None:
    cache = Cache()
    cache.add_node(make_node("n1"))
    pod = PodInfo.from_object(make_pod("web", cpu="1"))
    cache.assume(pod, "n1")
    assert cache.is_assumed(pod.key)
    assert requested(cache, "n1")["cpu"] == 1000
    cache.forget(pod.key)
    assert not cache.is_assumed(pod.key)
    assert requested(cache, "n1").get("cpu", 0) == 0


def test_observed_binding_confirms_the_assumption_without_double_counting() -> None:
    cache = Cache()
    cache.add_node(make_node("n1"))
    cache.assume(PodInfo.from_object(make_pod("web", cpu="1")), "n1")
    cache.add_pod(make_pod("web", cpu="1", node_name="n1"))
    assert not cache.is_assumed("default/web")  # type: ignore[arg-type]
    assert requested(cache, "n1")["cpu"] == 1000
    cache.forget("default/web")  # type: ignore[arg-type]  # confirmed pods are not forgotten
    assert requested(cache, "n1")["cpu"] == 1000


def test_binding_observed_on_another_node_moves_the_pod() -> None:
    cache = Cache()
    cache.add_node(make_node("n1"))
    cache.add_node(make_node("n2"))
    cache.assume(PodInfo.from_object(make_pod("web", cpu="1")), "n1")
    cache.add_pod(make_pod("web", cpu="1", node_name="n2"))
    assert requested(cache, "n1").get("cpu", 0) == 0
    assert requested(cache, "n2")["cpu"] == 1000


def test_pods_on_an_unknown_node_count_once_it_arrives() -> None:
    cache = Cache()
    cache.add_pod(make_pod("early", cpu="2", node_name="late"))
    assert cache.snapshot().nodes == ()
    cache.add_node(make_node("late"))
    assert requested(cache, "late")["cpu"] == 2000


def test_removed_pod_frees_its_requests() -> None:
    cache = Cache()
    cache.add_node(make_node("n1"))
    pod = make_pod("web", cpu="1", node_name="n1")
    cache.add_pod(pod)
    cache.remove_pod(pod)
    assert requested(cache, "n1").get("cpu", 0) == 0


def test_snapshot_is_a_copy() -> None:
    cache = Cache()
    cache.add_node(make_node("n1"))
    snap = cache.snapshot()
    cache.add_pod(make_pod("web", cpu="1", node_name="n1"))
    assert snap.nodes[0].requested.get("cpu", 0) == 0


def test_removed_node_with_pods_leaves_the_snapshot() -> None:
    cache = Cache()
    cache.add_node(make_node("n1"))
    cache.add_pod(make_pod("web", node_name="n1"))
    cache.remove_node("n1")
    assert cache.snapshot().nodes == ()
    assert cache.node_count() == 0


def test_snapshot_reuses_unchanged_nodes_and_refreshes_changed_ones() -> None:
    cache = Cache()
    cache.add_node(make_node("n1"))
    cache.add_node(make_node("n2"))
    first = {n.name: n for n in cache.snapshot().nodes}
    cache.add_pod(make_pod("web", cpu="1", node_name="n2"))
    second = {n.name: n for n in cache.snapshot().nodes}
    assert second["n1"] is first["n1"]
    assert second["n2"] is not first["n2"]
    assert second["n2"].requested["cpu"] == 1000
    assert first["n2"].requested.get("cpu", 0) == 0
    cache.update_node(make_node("n1", labels={"disk": "ssd"}))
    third = {n.name: n for n in cache.snapshot().nodes}
    assert third["n1"].labels["disk"] == "ssd"
