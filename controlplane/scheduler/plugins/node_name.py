"""NodeName: a pod that names a node (`spec.nodeName`) fits only that node."""

from __future__ import annotations

from controlplane.scheduler.framework import SUCCESS, NodeInfo, Status, unschedulable
from controlplane.scheduler.pod import PodInfo

NAME = "NodeName"
REASON = "node(s) didn't match the requested node name"


def fits(pod: PodInfo, node: NodeInfo) -> bool:
    return not pod.node_name or pod.node_name == node.name


class NodeName:
    name = NAME

    def filter(self, pod: PodInfo, node: NodeInfo) -> Status:
        return SUCCESS if fits(pod, node) else unschedulable(NAME, REASON, unresolvable=True)
