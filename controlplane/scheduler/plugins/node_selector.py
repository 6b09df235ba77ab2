"""NodeSelector: every `spec.nodeSelector` label must be on the node with the same value.

Upstream checks this inside NodeAffinity; it is its own plugin here, with the same reason.
"""

from __future__ import annotations

from controlplane.scheduler.framework import SUCCESS, NodeInfo, Status, unschedulable
from controlplane.scheduler.pod import PodInfo

NAME = "NodeSelector"
REASON = "node(s) didn't match Pod's node affinity/selector"


def fits(pod: PodInfo, node: NodeInfo) -> bool:
    labels = node.labels
    return all(labels.get(k) == v for k, v in pod.node_selector.items())


class NodeSelector:
    name = NAME

    def filter(self, pod: PodInfo, node: NodeInfo) -> Status:
        return SUCCESS if fits(pod, node) else unschedulable(NAME, REASON, unresolvable=True)
