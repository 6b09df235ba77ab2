"""The scheduler's plugins, one per module, and the default profile built from them.

Filter order follows upstream's default profile: NodeUnschedulable, NodeName, TaintToleration,
NodeAffinity (here NodeSelector then NodeAffinity), NodeResourcesFit. Score weights too:
TaintToleration 3, NodeAffinity 2, LeastAllocated 1, BalancedAllocation 1.
"""

from __future__ import annotations

import random

from controlplane.scheduler.framework import Framework, WeightedScore
from controlplane.scheduler.plugins.balanced_allocation import BalancedAllocation
from controlplane.scheduler.plugins.least_allocated import LeastAllocated
from controlplane.scheduler.plugins.node_affinity import NodeAffinity
from controlplane.scheduler.plugins.node_name import NodeName
from controlplane.scheduler.plugins.node_resources_fit import NodeResourcesFit
from controlplane.scheduler.plugins.node_selector import NodeSelector
from controlplane.scheduler.plugins.node_unschedulable import NodeUnschedulable
from controlplane.scheduler.plugins.taint_toleration import TaintToleration
from controlplane.scheduler.preemption import preemption_message


def default_framework(seed: int = 0) -> Framework:
    return Framework(
        filters=(
            NodeUnschedulable(),
            NodeName(),
            TaintToleration(),
            NodeSelector(),
            NodeAffinity(),
            NodeResourcesFit(),
        ),
        scores=(
            WeightedScore(TaintToleration(), 3),
            WeightedScore(NodeAffinity(), 2),
            WeightedScore(LeastAllocated(), 1),
            WeightedScore(BalancedAllocation(), 1),
        ),
        post_filter=preemption_message,
        rng=random.Random(seed),  # noqa: S311 - tie-breaking, not security
    )


__all__ = [
    "BalancedAllocation",
    "LeastAllocated",
    "NodeAffinity",
    "NodeName",
    "NodeResourcesFit",
    "NodeSelector",
    "NodeUnschedulable",
    "TaintToleration",
    "default_framework",
]
