from __future__ import annotations

from typing import Any

import pytest

from controlplane.scheduler.errors import InvalidPodError
from controlplane.scheduler.inmemory import make_node
from controlplane.scheduler.resources import (
    DEFAULT_MEMORY_REQUEST,
    DEFAULT_MILLI_CPU_REQUEST,
    node_allocatable,
    pod_requests,
)

GI = 1024**3


def container(
    name: str, cpu: str | None = None, memory: str | None = None, **extra: Any
) -> dict[str, Any]:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    return {"name": name, "resources": {"requests": requests}, **extra}


def pod_with(containers: list[Any], init: list[Any] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "p"},
        "spec": {"containers": containers, "initContainers": init or [], **spec},
    }


@pytest.mark.parametrize(
    ("pod", "want"),
    [
        (
            pod_with([container("a", "1", "1G"), container("b", "500m", "1G")]),
            {"cpu": 1500, "memory": 2 * 10**9},
        ),
        # Upstream's example: init 2 CPU/1G and 2 CPU/3G, app 2 CPU/1G + 1 CPU/1G -> 3 CPU, 3G.
        (
            pod_with(
                [container("c1", "2", "1G"), container("c2", "1", "1G")],
                [container("i1", "2", "1G"), container("i2", "2", "3G")],
            ),
            {"cpu": 3000, "memory": 3 * 10**9},
        ),
        (pod_with([container("a", "1")], [container("i", "4")]), {"cpu": 4000}),
        # A sidecar (restartPolicy Always) runs beside the app and the later init containers.
        (
            pod_with(
                [container("a", "1")],
                [container("side", "500m", restartPolicy="Always"), container("i", "2")],
            ),
            {"cpu": 2500},
        ),
        (pod_with([container("a", "1")], overhead={"cpu": "250m"}), {"cpu": 1250}),
        (pod_with([{"name": "a", "resources": {"limits": {"cpu": "2"}}}]), {"cpu": 2000}),
        (pod_with([{"name": "a"}]), {}),
        (
            pod_with([container("a", memory="1Gi")], [container("i", memory="2Gi")]),
            {"memory": 2 * GI},
        ),
    ],
    ids=[
        "app containers are summed",
        "init containers count by max (upstream example)",
        "one big init container",
        "sidecar init container adds to the sum",
        "pod overhead is added",
        "a limit without a request counts as the request",
        "best effort",
        "binary suffixes",
    ],
)
def test_pod_requests(pod: dict[str, Any], want: dict[str, int]) -> None:
    assert pod_requests(pod) == want


def test_non_zero_requests_default_per_container() -> None:
    pod = pod_with([{"name": "a"}, container("b", cpu="1")])
    assert pod_requests(pod, non_zero=True) == {
        "cpu": DEFAULT_MILLI_CPU_REQUEST + 1000,
        "memory": 2 * DEFAULT_MEMORY_REQUEST,
    }


def test_bad_quantity_names_the_field() -> None:
    with pytest.raises(InvalidPodError, match=r"spec.containers\[0\].resources.requests.cpu"):
        pod_requests(pod_with([container("a", cpu="lots")]))


def test_node_allocatable() -> None:
    assert node_allocatable(make_node("n", cpu="3500m", memory="1Gi", pods=10)) == {
        "cpu": 3500,
        "memory": GI,
        "pods": 10,
    }
