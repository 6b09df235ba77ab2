"""kubelab.api.resources: a pod's effective requests, as Kubernetes computes them."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubelab.api.resources import (
    DEFAULT_MEMORY_REQUEST,
    DEFAULT_MILLI_CPU_REQUEST,
    ResourceError,
    container_limits,
    container_requests,
    ordered,
    parse_list,
    pod_requests,
)
from tests.support.pods import container, pod_with

GI = 1024**3


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
        (
            pod_with(
                [container("a", "1")],
                [container("side", "500m", restartPolicy="Always"), container("i", "2")],
            ),
            {"cpu": 2500},
        ),
        # An init container that runs before the sidecar starts does not count it.
        (
            pod_with(
                [container("a", "1")],
                [container("i", "2"), container("side", "500m", restartPolicy="Always")],
            ),
            {"cpu": 2000},
        ),
        (pod_with([container("a", "1")], overhead={"cpu": "250m"}), {"cpu": 1250}),
        (pod_with([{"name": "a", "resources": {"limits": {"cpu": "2"}}}]), {"cpu": 2000}),
        (
            pod_with(
                [{"name": "a", "resources": {"limits": {"cpu": "2"}, "requests": {"cpu": 1}}}]
            ),
            {"cpu": 1000},
        ),
        (pod_with([{"name": "a"}]), {}),
        (pod_with([container("a", "0")]), {}),
        (
            pod_with([container("a", memory="1Gi")], [container("i", memory="2Gi")]),
            {"memory": 2 * GI},
        ),
        (
            pod_with([{"name": "a", "resources": {"requests": {"example.com/gpu": "2"}}}]),
            {"example.com/gpu": 2},
        ),
        ({"metadata": {"name": "p"}}, {}),
    ],
    ids=[
        "app containers are summed",
        "init containers count by max (upstream example)",
        "one big init container",
        "sidecar init container adds to the sum",
        "init container before the sidecar runs without it",
        "pod overhead is added",
        "a limit without a request counts as the request",
        "a request wins over the limit",
        "best effort",
        "zero is left out",
        "binary suffixes",
        "extended resources in whole units",
        "no spec",
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


@pytest.mark.parametrize(
    ("pod", "field", "value"),
    [
        (
            pod_with([container("a", cpu="lots")]),
            "spec.containers[0].resources.requests.cpu",
            "lots",
        ),
        (
            pod_with([], [{"name": "i", "resources": {"limits": {"memory": "1Q"}}}]),
            "spec.initContainers[0].resources.limits.memory",
            "1Q",
        ),
        (pod_with([container("a")], overhead={"cpu": True}), "spec.overhead.cpu", True),
        (pod_with([{"name": "a", "resources": "big"}]), "spec.containers[0].resources", "big"),
        (pod_with(["a"]), "spec.containers[0]", "a"),
        ({"spec": {"containers": {"a": 1}}}, "spec.containers", {"a": 1}),
        (
            pod_with([{"name": "a", "resources": {"requests": ["1"]}}]),
            "spec.containers[0].resources.requests",
            ["1"],
        ),
    ],
    ids=[
        "bad request",
        "bad init limit",
        "bad overhead",
        "resources not an object",
        "container not an object",
        "containers not a list",
        "requests not a map",
    ],
)
def test_bad_input_names_the_field_and_value(pod: dict[str, Any], field: str, value: Any) -> None:
    with pytest.raises(ResourceError) as err:
        pod_requests(pod)
    assert (err.value.field, err.value.value) == (field, value)
    assert field in str(err.value)


def test_a_bad_limit_hidden_by_a_request_is_not_read() -> None:
    # Only limits standing in for a missing request are counted, so only they are parsed.
    c = {"name": "a", "resources": {"limits": {"cpu": "x"}, "requests": {"cpu": "1"}}}
    assert container_requests(c, field="c") == {"cpu": 1000}
    with pytest.raises(ResourceError, match=r"c\.resources\.limits\.cpu"):
        container_limits(c, field="c")


def test_container_limits() -> None:
    c = {"name": "a", "resources": {"limits": {"cpu": "1500m", "memory": "64Mi"}}}
    assert container_limits(c, field="spec.containers[0]") == {"cpu": 1500, "memory": 64 << 20}
    assert container_limits({"name": "b"}) == {}


def test_parse_list_and_order() -> None:
    parsed = parse_list({"pods": "110", "memory": "1Ki", "cpu": "0.1", "a/b": "1"})
    assert parsed == {"pods": 110, "memory": 1024, "cpu": 100, "a/b": 1}
    assert ordered(parsed) == ["cpu", "memory", "a/b", "pods"]


millicores = st.integers(min_value=0, max_value=64_000)


@given(
    apps=st.lists(millicores, min_size=1, max_size=5),
    inits=st.lists(millicores, max_size=5),
    overhead=millicores,
)
def test_effective_request_is_the_larger_of_the_phases_plus_overhead(
    apps: list[int], inits: list[int], overhead: int
) -> None:
    pod = pod_with(
        [container(f"a{i}", cpu=f"{m}m") for i, m in enumerate(apps)],
        [container(f"i{i}", cpu=f"{m}m") for i, m in enumerate(inits)],
        overhead={"cpu": f"{overhead}m"},
    )
    want = max([sum(apps), *inits]) + overhead
    assert pod_requests(pod).get("cpu", 0) == want
