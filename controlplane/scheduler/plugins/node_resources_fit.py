"""NodeResourcesFit: the pod's requests must fit in the node's allocatable minus what the pods
already on it request, and one more pod must fit in `allocatable.pods`.

Reasons are upstream's: "Too many pods", "Insufficient cpu", "Insufficient memory",
"Insufficient ephemeral-storage", "Insufficient <resource>". When the pod would not fit even on
the empty node the status is unresolvable (preemption cannot help), as upstream marks it.
"""

from __future__ import annotations

from dataclasses import dataclass

from controlplane.scheduler import resources
from controlplane.scheduler.framework import SUCCESS, NodeInfo, Status, unschedulable
from controlplane.scheduler.pod import PodInfo

NAME = "NodeResourcesFit"
REASON_TOO_MANY_PODS = "Too many pods"


def reason_for(resource: str) -> str:
    return f"Insufficient {resource}"


@dataclass(frozen=True)
class Insufficient:
    resource: str
    reason: str
    requested: int
    used: int
    capacity: int
    unresolvable: bool


def insufficient(pod: PodInfo, node: NodeInfo) -> list[Insufficient]:
    """What does not fit; empty when the pod fits."""
    out: list[Insufficient] = []
    allowed_pods = node.allocatable.get(resources.PODS, 0)
    if len(node.pods) + 1 > allowed_pods:
        out.append(
            Insufficient(
                resources.PODS, REASON_TOO_MANY_PODS, 1, len(node.pods), allowed_pods, False
            )
        )
    # PodInfo keeps requests in upstream's check order: cpu, memory, ephemeral-storage, others.
    for name, want in pod.requests.items():
        if want <= 0:
            continue
        capacity = node.allocatable.get(name, 0)
        used = node.requested.get(name, 0)
        if want > capacity - used:
            out.append(Insufficient(name, reason_for(name), want, used, capacity, want > capacity))
    return out


def fits(pod: PodInfo, node: NodeInfo) -> bool:
    return not insufficient(pod, node)


class NodeResourcesFit:
    name = NAME

    def filter(self, pod: PodInfo, node: NodeInfo) -> Status:
        missing = insufficient(pod, node)
        if not missing:
            return SUCCESS
        return unschedulable(
            NAME, *(m.reason for m in missing), unresolvable=any(m.unresolvable for m in missing)
        )
