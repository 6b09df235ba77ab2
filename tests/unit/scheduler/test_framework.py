from __future__ import annotations

import random

import pytest

from controlplane.scheduler.framework import (
    NO_NODES_AVAILABLE,
    SUCCESS,
    Code,
    FitError,
    Framework,
    NodeInfo,
    ScheduleResult,
    Snapshot,
    Status,
    WeightedScore,
    default_normalize,
    fit_error_message,
    histogram,
    unschedulable,
)
from controlplane.scheduler.inmemory import make_pod
from controlplane.scheduler.plugins import default_framework
from controlplane.scheduler.pod import PodInfo
from tests.unit.scheduler.builders import node, pod, taint

CP_TAINT = taint("node-role.kubernetes.io/control-plane")


def snapshot(*infos: NodeInfo) -> Snapshot:
    return Snapshot.of(infos)


def test_message_counts_and_sorts_reasons_like_upstream() -> None:
    statuses = [
        unschedulable("TaintToleration", "node(s) had untolerated taint(s)", unresolvable=True),
        unschedulable("NodeResourcesFit", "Insufficient cpu"),
        unschedulable("NodeResourcesFit", "Insufficient cpu", "Insufficient memory"),
    ]
    assert histogram(statuses) == [
        "1 Insufficient memory",
        "1 node(s) had untolerated taint(s)",
        "2 Insufficient cpu",
    ]
    assert fit_error_message(3, statuses) == (
        "0/3 nodes are available: 1 Insufficient memory, 1 node(s) had untolerated taint(s), "
        "2 Insufficient cpu."
    )
    assert fit_error_message(3, statuses, "preemption: x.") == (
        "0/3 nodes are available: 1 Insufficient memory, 1 node(s) had untolerated taint(s), "
        "2 Insufficient cpu. preemption: x."
    )


def test_sorting_is_by_string_so_10_sorts_before_2() -> None:
    statuses = [unschedulable("A", "a")] * 10 + [unschedulable("B", "b")] * 2
    assert histogram(statuses) == ["10 a", "2 b"]


def test_control_plane_taint_and_insufficient_cpu_full_message() -> None:
    cp = node("cp-1", cpu="4", taints=[CP_TAINT])
    workers = [
        node(
            f"node-{i}", cpu="1", placed=(make_pod(f"busy-{i}", cpu="900m", node_name=f"node-{i}"),)
        )
        for i in (1, 2)
    ]
    result = default_framework().schedule(pod(cpu="500m"), snapshot(cp, *workers))
    assert isinstance(result, FitError)
    assert result.message == (
        "0/3 nodes are available: 1 node(s) had untolerated taint(s), 2 Insufficient cpu. "
        "preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, "
        "2 No preemption victims found for incoming pod."
    )
    assert result.statuses["cp-1"].code is Code.UNSCHEDULABLE_AND_UNRESOLVABLE
    assert result.statuses["node-1"].code is Code.UNSCHEDULABLE


def test_too_large_pod_is_unresolvable_everywhere() -> None:
    result = default_framework().schedule(
        pod(cpu="64"), snapshot(node("a", cpu="4"), node("b", cpu="4"))
    )
    assert isinstance(result, FitError)
    assert result.unresolvable
    assert result.message == (
        "0/2 nodes are available: 2 Insufficient cpu. "
        "preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
    )


def test_lower_priority_victims_reported_without_preempting() -> None:
    low = make_pod("low", cpu="3", node_name="a", priority=-10)
    high = PodInfo.from_object(make_pod("high", cpu="2", priority=1000))
    result = default_framework().schedule(high, snapshot(node("a", cpu="4", placed=(low,))))
    assert isinstance(result, FitError)
    assert result.message == (
        "0/1 nodes are available: 1 Insufficient cpu. "
        "preemption: 0/1 nodes are available: 1 Preemption is not implemented in kubelab."
    )


def test_preemption_policy_never() -> None:
    p = PodInfo.from_object(make_pod("p", cpu="8", preemptionPolicy="Never"))
    result = default_framework().schedule(p, snapshot(node("a", cpu="4")))
    assert isinstance(result, FitError)
    assert result.message.endswith(
        "1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never."
    )


def test_no_nodes() -> None:
    result = default_framework().schedule(pod(), snapshot())
    assert isinstance(result, FitError)
    assert result.message == NO_NODES_AVAILABLE


def test_first_failing_filter_decides() -> None:
    calls: list[str] = []

    class Fails:
        def __init__(self, name: str) -> None:
            self.name = name

        def filter(self, pod: PodInfo, node: NodeInfo) -> Status:
            calls.append(self.name)
            return unschedulable(self.name, f"{self.name} says no")

    fw = Framework([Fails("first"), Fails("second")])
    result = fw.schedule(pod(), snapshot(node("a")))
    assert isinstance(result, FitError)
    assert calls == ["first"]
    assert result.message == "0/1 nodes are available: 1 first says no."


class Fixed:
    """A score plugin with fixed raw scores per node."""

    def __init__(self, name: str, raw: dict[str, int]) -> None:
        self.name = name
        self.raw = raw

    def score(self, pod: PodInfo, node: NodeInfo) -> int:
        return self.raw[node.name]

    def normalize(self, pod: PodInfo, scores: dict[str, int]) -> None:
        default_normalize(scores)


class PassAll:
    name = "PassAll"

    def filter(self, pod: PodInfo, node: NodeInfo) -> Status:
        return SUCCESS


def test_weighted_sum_picks_the_best() -> None:
    fw = Framework(
        [PassAll()],
        [
            WeightedScore(Fixed("a", {"n1": 10, "n2": 5, "n3": 0}), 1),
            WeightedScore(Fixed("b", {"n1": 0, "n2": 4, "n3": 2}), 2),
        ],
    )
    result = fw.schedule(pod(), snapshot(node("n1"), node("n2"), node("n3")))
    assert isinstance(result, ScheduleResult)
    # a: 100, 50, 0; b normalised: 0, 100, 50 weighted x2.
    assert result.scores == {"n1": 100, "n2": 250, "n3": 100}
    assert result.node == "n2"
    assert (result.feasible, result.evaluated) == (3, 3)


def test_ties_are_broken_by_the_seeded_random_source() -> None:
    nodes = snapshot(*(node(f"n{i}") for i in range(5)))
    picks = {
        seed: Framework([PassAll()], rng=random.Random(seed)).schedule(pod(), nodes)
        for seed in range(20)
    }
    chosen = {r.node for r in picks.values() if isinstance(r, ScheduleResult)}
    assert len(chosen) > 1  # ties spread over the nodes
    again = Framework([PassAll()], rng=random.Random(7)).schedule(pod(), nodes)
    assert again == picks[7]  # and are reproducible for a seed


def test_single_feasible_node_skips_scoring() -> None:
    class Boom:
        name = "Boom"

        def score(self, pod: PodInfo, node: NodeInfo) -> int:
            raise AssertionError("scored")

        def normalize(self, pod: PodInfo, scores: dict[str, int]) -> None:
            raise AssertionError("normalized")

    fw = Framework([PassAll()], [WeightedScore(Boom(), 1)])
    assert fw.schedule(pod(), snapshot(node("only"))) == ScheduleResult("only", 1, 1)


@pytest.mark.parametrize(
    ("raw", "reverse", "want"),
    [
        ({"a": 0, "b": 0}, False, {"a": 0, "b": 0}),
        ({"a": 0, "b": 0}, True, {"a": 100, "b": 100}),
        ({"a": 1, "b": 3}, False, {"a": 33, "b": 100}),
        ({"a": 1, "b": 3}, True, {"a": 67, "b": 0}),
    ],
    ids=["all zero", "all zero reversed", "scaled", "scaled reversed"],
)
def test_default_normalize(raw: dict[str, int], reverse: bool, want: dict[str, int]) -> None:
    default_normalize(raw, reverse=reverse)
    assert raw == want


def test_default_profile_prefers_untainted_and_emptier_nodes() -> None:
    soft = taint("maintenance", effect="PreferNoSchedule")
    busy = (make_pod("busy", cpu="3", memory="6Gi", node_name="busy"),)
    nodes = snapshot(node("busy", placed=busy), node("soft", taints=[soft]), node("free"))
    result = default_framework().schedule(pod(cpu="100m"), nodes)
    assert isinstance(result, ScheduleResult)
    assert result.node == "free"


def test_status_message_joins_reasons() -> None:
    status = unschedulable("X", "a", "b")
    assert status.message == "a, b"
    assert not status.is_success
