"""Resource requests of pods and allocatable of nodes, as the scheduler reads them.

The rules (millicores and whole units; app containers summed, init containers by maximum,
sidecars and overhead added; "non-zero" defaults for scoring) live in `kubelab.api.resources`,
shared with the kubelet. This module only names the pod or node in the error: a field that
cannot be read raises `InvalidPodError`, which the scheduler reports on the pod.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controlplane.scheduler.errors import InvalidPodError
from kubelab.api import resources as api
from kubelab.api.resources import (
    CPU,
    DEFAULT_MEMORY_REQUEST,
    DEFAULT_MILLI_CPU_REQUEST,
    EPHEMERAL_STORAGE,
    MEMORY,
    PODS,
    Resources,
    add,
    ordered,
    set_max,
    subtract,
)

__all__ = [
    "CPU",
    "DEFAULT_MEMORY_REQUEST",
    "DEFAULT_MILLI_CPU_REQUEST",
    "EPHEMERAL_STORAGE",
    "MEMORY",
    "PODS",
    "Resources",
    "add",
    "node_allocatable",
    "ordered",
    "pod_requests",
    "set_max",
    "subtract",
]


def pod_requests(pod: Mapping[str, Any], *, non_zero: bool = False) -> Resources:
    """The resources a pod needs on a node (`kubelab.api.resources.pod_requests`)."""
    try:
        return api.pod_requests(pod, non_zero=non_zero)
    except api.ResourceError as exc:
        meta = pod.get("metadata") or {}
        owner = f"{meta.get('namespace', 'default')}/{meta.get('name', '')}"
        raise InvalidPodError(owner, exc.field, exc.value, exc.reason) from exc


def node_allocatable(node: Mapping[str, Any]) -> Resources:
    """`status.allocatable` (falling back to `status.capacity`) of a node."""
    status = node.get("status") or {}
    items = status.get("allocatable") or status.get("capacity") or {}
    try:
        return api.parse_list(items, field="status.allocatable")
    except api.ResourceError as exc:
        name = (node.get("metadata") or {}).get("name", "")
        raise InvalidPodError(f"node {name}", exc.field, exc.value, exc.reason) from exc
