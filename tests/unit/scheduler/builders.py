"""Pod and node builders for the scheduler's tables (plain Kubernetes-shaped dicts)."""

from __future__ import annotations

from typing import Any

from controlplane.scheduler.framework import NodeInfo, pod_on_node
from controlplane.scheduler.inmemory import make_node, make_pod
from controlplane.scheduler.pod import Object, PodInfo


def pod(name: str = "web", **kwargs: Any) -> PodInfo:
    return PodInfo.from_object(make_pod(name, **kwargs))


def node(name: str = "node-1", *, placed: tuple[Object, ...] = (), **kwargs: Any) -> NodeInfo:
    """A NodeInfo; `placed` pods are counted on it, `pods=` is the node's allocatable pods."""
    info = NodeInfo.for_node(make_node(name, **kwargs))
    for p in placed:
        info.add_pod(pod_on_node(PodInfo.from_object(p)))
    return info


def taint(key: str, value: str = "", effect: str = "NoSchedule") -> dict[str, str]:
    return {"key": key, "value": value, "effect": effect}


def toleration(
    key: str = "", operator: str = "Equal", value: str = "", effect: str = ""
) -> dict[str, str]:
    out = {"key": key, "operator": operator, "effect": effect}
    if value:
        out["value"] = value
    return out


def affinity(
    required: list[dict[str, Any]] | None = None, preferred: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    node_affinity: dict[str, Any] = {}
    if required is not None:
        node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {
            "nodeSelectorTerms": required
        }
    if preferred is not None:
        node_affinity["preferredDuringSchedulingIgnoredDuringExecution"] = preferred
    return {"nodeAffinity": node_affinity}


def expr(key: str, operator: str, *values: str) -> dict[str, Any]:
    out: dict[str, Any] = {"key": key, "operator": operator}
    if values:
        out["values"] = list(values)
    return out
