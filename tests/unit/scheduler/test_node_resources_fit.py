from __future__ import annotations

import pytest

from controlplane.scheduler.framework import Code
from controlplane.scheduler.inmemory import make_pod
from controlplane.scheduler.plugins import node_resources_fit
from controlplane.scheduler.pod import Object, PodInfo
from tests.unit.scheduler.builders import node, pod


def placed(name: str, cpu: str | None = None, memory: str | None = None) -> Object:
    return make_pod(name, cpu=cpu, memory=memory, node_name="node-1")


@pytest.mark.parametrize(
    (
        "pod_cpu",
        "pod_memory",
        "node_cpu",
        "node_memory",
        "max_pods",
        "existing",
        "reasons",
        "unresolvable",
    ),
    [
        (None, None, "10", "20", 110, (), (), False),
        ("1", "1", "10", "20", 110, (placed("a", "5", "19"),), (), False),
        ("8", "1", "10", "20", 110, (placed("a", "5", "5"),), ("Insufficient cpu",), False),
        ("1", "2", "10", "20", 110, (placed("a", "5", "19"),), ("Insufficient memory",), False),
        (
            "8",
            "2",
            "10",
            "20",
            110,
            (placed("a", "5", "19"),),
            ("Insufficient cpu", "Insufficient memory"),
            False,
        ),
        ("11", "1", "10", "20", 110, (), ("Insufficient cpu",), True),
        (None, None, "10", "20", 1, (placed("a"),), ("Too many pods",), False),
        (
            "1",
            "1",
            "10",
            "20",
            1,
            (placed("a", "10", "1"),),
            ("Too many pods", "Insufficient cpu"),
            False,
        ),
        ("5", "1", "10", "20", 110, (placed("a", "5", "1"),), (), False),
        ("100m", None, "0", "20", 110, (), ("Insufficient cpu",), True),
    ],
    ids=[
        "no resources requested always fits",
        "fits with existing pods",
        "too much cpu",
        "too much memory",
        "too much cpu and memory",
        "more cpu than the node has at all (unresolvable)",
        "too many pods (best effort too)",
        "too many pods and cpu",
        "fits exactly",
        "node without allocatable cpu",
    ],
)
def test_fit(  # noqa: PLR0917 - one parameter per table column
    pod_cpu: str | None,
    pod_memory: str | None,
    node_cpu: str,
    node_memory: str,
    max_pods: int,
    existing: tuple[Object, ...],
    reasons: tuple[str, ...],
    unresolvable: bool,
) -> None:
    p = pod(cpu=pod_cpu, memory=pod_memory)
    n = node(cpu=node_cpu, memory=node_memory, pods=max_pods, placed=existing)
    assert node_resources_fit.fits(p, n) is (not reasons)
    status = node_resources_fit.NodeResourcesFit().filter(p, n)
    assert status.reasons == reasons
    if reasons:
        want = Code.UNSCHEDULABLE_AND_UNRESOLVABLE if unresolvable else Code.UNSCHEDULABLE
        assert status.code is want


def test_extended_resources_are_checked() -> None:
    p = pod()
    p.obj["spec"]["containers"][0]["resources"] = {"requests": {"example.com/gpu": "2"}}
    gpu_pod = PodInfo.from_object(p.obj)
    n = node()
    status = node_resources_fit.NodeResourcesFit().filter(gpu_pod, n)
    assert status.reasons == ("Insufficient example.com/gpu",)
