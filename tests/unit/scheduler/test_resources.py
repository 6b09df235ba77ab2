"""The scheduler's view of resources: the rules are kubelab.api.resources' (tested in
tests/unit/api/test_resources.py); here, that the scheduler uses them and names the pod or node
in its error."""

from __future__ import annotations

import pytest

from controlplane.scheduler.errors import InvalidPodError
from controlplane.scheduler.inmemory import make_node
from controlplane.scheduler.pod import PodInfo
from controlplane.scheduler.resources import (
    DEFAULT_MEMORY_REQUEST,
    DEFAULT_MILLI_CPU_REQUEST,
    node_allocatable,
    pod_requests,
)
from tests.support.pods import container, pod_with

GI = 1024**3


def test_pod_requests_follow_the_shared_rule() -> None:
    # Upstream's example: init 2 CPU/1G and 2 CPU/3G, app 2 CPU/1G + 1 CPU/1G -> 3 CPU, 3G;
    # plus overhead.
    pod = pod_with(
        [container("c1", "2", "1G"), container("c2", "1", "1G")],
        [container("i1", "2", "1G"), container("i2", "2", "3G")],
        overhead={"cpu": "250m"},
    )
    assert pod_requests(pod) == {"cpu": 3250, "memory": 3 * 10**9}
    info = PodInfo.from_object(pod)
    assert list(info.requests) == ["cpu", "memory"]  # upstream's check order
    assert info.non_zero_requests == {"cpu": 3250, "memory": 3 * 10**9}


def test_non_zero_requests_default_per_container() -> None:
    pod = pod_with([{"name": "a"}, container("b", cpu="1")])
    assert pod_requests(pod, non_zero=True) == {
        "cpu": DEFAULT_MILLI_CPU_REQUEST + 1000,
        "memory": 2 * DEFAULT_MEMORY_REQUEST,
    }


def test_bad_quantity_names_the_pod_and_the_field() -> None:
    with pytest.raises(InvalidPodError, match=r"spec.containers\[0\].resources.requests.cpu") as e:
        pod_requests(pod_with([container("a", cpu="lots")]))
    assert (e.value.pod, e.value.value) == ("default/p", "lots")


def test_node_allocatable() -> None:
    assert node_allocatable(make_node("n", cpu="3500m", memory="1Gi", pods=10)) == {
        "cpu": 3500,
        "memory": GI,
        "pods": 10,
    }


def test_unreadable_allocatable_names_the_node() -> None:
    node = make_node("n")
    node["status"]["allocatable"]["cpu"] = "many"
    with pytest.raises(InvalidPodError, match=r"node n: status.allocatable.cpu='many'"):
        node_allocatable(node)
