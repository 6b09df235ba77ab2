"""BalancedAllocation (NodeResourcesBalancedAllocation): prefer nodes whose cpu and memory would
be used in similar fractions after placing the pod: `(1 - std(fractions)) * 100`, where a
fraction is requested / allocatable capped at 1 and, for two resources, std = |f1 - f2| / 2."""

from __future__ import annotations

import math

from controlplane.scheduler import resources
from controlplane.scheduler.framework import MAX_NODE_SCORE, NodeInfo
from controlplane.scheduler.pod import PodInfo

NAME = "NodeResourcesBalancedAllocation"
RESOURCES = (resources.CPU, resources.MEMORY)


def score(pod: PodInfo, node: NodeInfo) -> int:
    fractions = []
    for name in RESOURCES:
        capacity = node.allocatable.get(name, 0)
        if capacity == 0:
            continue
        requested = node.requested.get(name, 0) + pod.requests.get(name, 0)
        fractions.append(min(requested / capacity, 1.0))
    std = 0.0
    if len(fractions) == 2:
        std = abs(fractions[0] - fractions[1]) / 2
    elif len(fractions) > 2:
        mean = sum(fractions) / len(fractions)
        std = math.sqrt(sum((f - mean) ** 2 for f in fractions) / len(fractions))
    return int((1 - std) * MAX_NODE_SCORE)


class BalancedAllocation:
    name = NAME

    def score(self, pod: PodInfo, node: NodeInfo) -> int:
        return score(pod, node)

    def normalize(self, pod: PodInfo, scores: dict[str, int]) -> None:
        """Already 0..100."""
