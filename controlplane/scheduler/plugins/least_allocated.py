"""LeastAllocated (NodeResourcesFit's default scoring strategy): prefer the node with the most
room left, per resource `(allocatable - requested) * 100 / allocatable`, averaged over cpu and
memory with weight 1 each. Requested includes the incoming pod, with non-zero defaults."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from controlplane.scheduler import resources
from controlplane.scheduler.framework import MAX_NODE_SCORE, NodeInfo
from controlplane.scheduler.pod import PodInfo

NAME = "NodeResourcesLeastAllocated"
DEFAULT_RESOURCES: tuple[tuple[str, int], ...] = ((resources.CPU, 1), (resources.MEMORY, 1))


def least_requested_score(requested: int, capacity: int) -> int:
    if capacity == 0 or requested > capacity:
        return 0
    return (capacity - requested) * MAX_NODE_SCORE // capacity


def requested_with(pod: Mapping[str, int], node: Mapping[str, int], name: str) -> int:
    return node.get(name, 0) + pod.get(name, 0)


def score(
    pod: PodInfo, node: NodeInfo, weights: Sequence[tuple[str, int]] = DEFAULT_RESOURCES
) -> int:
    total = weight_sum = 0
    for name, weight in weights:
        capacity = node.allocatable.get(name, 0)
        if capacity == 0:
            continue
        requested = requested_with(pod.non_zero_requests, node.non_zero_requested, name)
        total += least_requested_score(requested, capacity) * weight
        weight_sum += weight
    return total // weight_sum if weight_sum else 0


class LeastAllocated:
    name = NAME

    def score(self, pod: PodInfo, node: NodeInfo) -> int:
        return score(pod, node)

    def normalize(self, pod: PodInfo, scores: dict[str, int]) -> None:
        """Already 0..100."""
