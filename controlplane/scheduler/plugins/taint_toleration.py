"""TaintToleration: NoSchedule/NoExecute taints a pod does not tolerate rule the node out
(filter); untolerated PreferNoSchedule taints make a node less attractive (score).

The filter's reason is upstream's current wording, "node(s) had untolerated taint(s)"; older
releases named the taint ("node(s) had untolerated taint {key: value}"); `untolerated()` returns
that taint for diagnostics.
"""

from __future__ import annotations

from collections.abc import Iterable

from controlplane.scheduler.framework import (
    SUCCESS,
    NodeInfo,
    Status,
    default_normalize,
    unschedulable,
)
from controlplane.scheduler.pod import PodInfo, Taint, Toleration

NAME = "TaintToleration"
REASON = "node(s) had untolerated taint(s)"
DO_NOT_SCHEDULE = ("NoSchedule", "NoExecute")


def tolerated(taint: Taint, tolerations: Iterable[Toleration]) -> bool:
    return any(t.tolerates(taint) for t in tolerations)


def untolerated(pod: PodInfo, node: NodeInfo) -> Taint | None:
    """The first NoSchedule/NoExecute taint of the node that the pod does not tolerate."""
    for taint in node.taints:
        if taint.effect in DO_NOT_SCHEDULE and not tolerated(taint, pod.tolerations):
            return taint
    return None


def fits(pod: PodInfo, node: NodeInfo) -> bool:
    return untolerated(pod, node) is None


def intolerable_prefer_no_schedule(pod: PodInfo, node: NodeInfo) -> int:
    """How many PreferNoSchedule taints the pod does not tolerate (tolerations with an empty
    effect or PreferNoSchedule count)."""
    relevant = [t for t in pod.tolerations if t.effect in ("", "PreferNoSchedule")]
    return sum(
        1
        for taint in node.taints
        if taint.effect == "PreferNoSchedule" and not tolerated(taint, relevant)
    )


class TaintToleration:
    name = NAME

    def filter(self, pod: PodInfo, node: NodeInfo) -> Status:
        return SUCCESS if fits(pod, node) else unschedulable(NAME, REASON, unresolvable=True)

    def score(self, pod: PodInfo, node: NodeInfo) -> int:
        return intolerable_prefer_no_schedule(pod, node)

    def normalize(self, pod: PodInfo, scores: dict[str, int]) -> None:
        default_normalize(scores, reverse=True)
