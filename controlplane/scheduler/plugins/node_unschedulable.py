"""NodeUnschedulable: a cordoned node (`spec.unschedulable`) takes only pods that tolerate
the `node.kubernetes.io/unschedulable:NoSchedule` taint."""

from __future__ import annotations

from controlplane.scheduler.framework import SUCCESS, NodeInfo, Status, unschedulable
from controlplane.scheduler.pod import PodInfo, Taint

NAME = "NodeUnschedulable"
REASON = "node(s) were unschedulable"
UNSCHEDULABLE_TAINT = Taint(key="node.kubernetes.io/unschedulable", effect="NoSchedule")


def fits(pod: PodInfo, node: NodeInfo) -> bool:
    if not node.unschedulable:
        return True
    return any(t.tolerates(UNSCHEDULABLE_TAINT) for t in pod.tolerations)


class NodeUnschedulable:
    name = NAME

    def filter(self, pod: PodInfo, node: NodeInfo) -> Status:
        return SUCCESS if fits(pod, node) else unschedulable(NAME, REASON, unresolvable=True)
