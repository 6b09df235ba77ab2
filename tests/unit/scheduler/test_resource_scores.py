from __future__ import annotations

import pytest

from controlplane.scheduler.inmemory import make_pod
from controlplane.scheduler.plugins import balanced_allocation, least_allocated
from tests.unit.scheduler.builders import node, pod


@pytest.mark.parametrize(
    ("requested", "capacity", "want"),
    [(0, 4000, 100), (1000, 4000, 75), (4000, 4000, 0), (5000, 4000, 0), (1, 0, 0)],
    ids=["empty", "quarter used", "full", "over capacity", "no capacity"],
)
def test_least_requested_score(requested: int, capacity: int, want: int) -> None:
    assert least_allocated.least_requested_score(requested, capacity) == want


@pytest.mark.parametrize(
    ("pod_cpu", "pod_mem", "placed", "want"),
    [
        # Upstream's table: node 4000m/10000 bytes, pod 3000m/5000 -> cpu 25, mem 50 -> 37.
        ("3000m", "5000", (), 37),
        ("0", "0", (), 100),
        ("1", "2000", (make_pod("a", cpu="1", memory="3000", node_name="node-1"),), 50),
    ],
    ids=["upstream example", "zero requests", "with a placed pod"],
)
def test_least_allocated(pod_cpu: str, pod_mem: str, placed: tuple[object, ...], want: int) -> None:
    n = node(cpu="4", memory="10000", placed=placed)  # type: ignore[arg-type]
    assert least_allocated.score(pod(cpu=pod_cpu, memory=pod_mem), n) == want


def test_least_allocated_counts_best_effort_pods_with_defaults() -> None:
    # 100m of 1000m and 200Mi of 2000Mi: (90 + 90) / 2.
    n = node(cpu="1", memory="2000Mi")
    assert least_allocated.score(pod(), n) == 90


@pytest.mark.parametrize(
    ("pod_cpu", "pod_mem", "want"),
    [
        ("1", "2500", 100),  # 25% cpu, 25% memory: perfectly balanced
        ("3", "1000", 67),  # 75% vs 10%: std 0.325 -> int(67.5)
        ("4", "0", 50),  # 100% vs 0%
        ("8", "0", 50),  # fractions are capped at 1
    ],
    ids=["balanced", "unbalanced", "fully one-sided", "over capacity capped"],
)
def test_balanced_allocation(pod_cpu: str, pod_mem: str, want: int) -> None:
    n = node(cpu="4", memory="10000")
    assert balanced_allocation.score(pod(cpu=pod_cpu, memory=pod_mem), n) == want
