"""The post-filter message: why preemption would not place the pod either.

kubelab's scheduler does not evict pods to make room. It still writes the second half of
upstream's FitError, computed the way DefaultPreemption's dry run computes it:

- a node whose filter status is unresolvable: "Preemption is not helpful for scheduling";
- a node with no pod of lower priority than the incoming one:
  "No preemption victims found for incoming pod";
- otherwise the filters run again with every lower-priority pod removed; if the pod still does
  not fit, that status's reasons count (as upstream does). If it would fit, upstream would preempt;
  kubelab says "Preemption is not implemented in kubelab" for that node instead of pretending.

A pod with `preemptionPolicy: Never` gets upstream's "not eligible" message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from controlplane.scheduler.framework import Code, Snapshot, Status, fit_error_message
from controlplane.scheduler.pod import PodInfo

if TYPE_CHECKING:
    from controlplane.scheduler.framework import Framework

NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_VICTIMS = "No preemption victims found for incoming pod"
NOT_IMPLEMENTED = "Preemption is not implemented in kubelab"
NEVER = "not eligible due to preemptionPolicy=Never."


def preemption_message(
    pod: PodInfo, snapshot: Snapshot, statuses: Mapping[str, Status], fw: Framework
) -> str:
    if (pod.obj.get("spec") or {}).get("preemptionPolicy") == "Never":
        return f"preemption: {NEVER}"
    by_name = {n.name: n for n in snapshot.nodes}
    outcome: dict[str, Status] = {}
    for name, status in statuses.items():
        if status.code is Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
            outcome[name] = Status(status.code, (NOT_HELPFUL,))
            continue
        node = by_name[name]
        victims = [p.key for p in node.pods.values() if p.priority < pod.priority]
        if not victims:
            outcome[name] = Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, (NO_VICTIMS,))
            continue
        trial = node.clone()
        for key in victims:
            trial.remove_pod(key)
        again = fw.run_filters(pod, trial)
        outcome[name] = again if not again.is_success else Status(Code.ERROR, (NOT_IMPLEMENTED,))
    return "preemption: " + fit_error_message(len(outcome), outcome.values())
