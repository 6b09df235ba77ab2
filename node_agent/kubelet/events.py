"""Kubernetes Events for pods (what `kubectl describe pod` lists), built as plain objects.

`EventRecorder` aggregates repeats the way the kubelet's recorder does: the same reason and
message for the same pod within the series updates one Event (count, lastTimestamp) instead of
creating another. Building is pure; the recorder hands each new or updated Event to `emit`.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from typing import Any

from node_agent.kubelet.spec import PodSpec
from node_agent.kubelet.status import rfc3339

Object = dict[str, Any]

NORMAL = "Normal"
WARNING = "Warning"


def event_object(
    pod: PodSpec,
    *,
    reason: str,
    message: str,
    kind: str,
    node: str,
    first: float,
    last: float,
    count: int,
    field_path: str = "",
) -> Object:
    digest = hashlib.sha256(f"{pod.uid}/{reason}/{message}/{first}".encode()).hexdigest()[:16]
    involved: Object = {
        "apiVersion": "v1",
        "kind": "Pod",
        "namespace": pod.namespace,
        "name": pod.name,
        "uid": pod.uid,
    }
    if field_path:
        involved["fieldPath"] = field_path
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{pod.name}.{digest}", "namespace": pod.namespace},
        "involvedObject": involved,
        "reason": reason,
        "message": message,
        "type": kind,
        "source": {"component": "kubelet", "host": node},
        "firstTimestamp": rfc3339(first),
        "lastTimestamp": rfc3339(last),
        "count": count,
        "reportingComponent": "kubelet",
        "reportingInstance": node,
    }


class EventRecorder:
    def __init__(self, node: str, clock: Callable[[], float], emit: Callable[[Object], None]):
        self.node = node
        self.clock = clock
        self.emit = emit
        self._seen: dict[tuple[str, str, str], tuple[float, int]] = {}
        self._lock = threading.Lock()

    def record(
        self, pod: PodSpec, reason: str, message: str, kind: str = NORMAL, container: str = ""
    ) -> None:
        now = self.clock()
        key = (pod.uid, reason, message)
        with self._lock:
            first, count = self._seen.get(key, (now, 0))
            self._seen[key] = (first, count + 1)
        path = f"spec.containers{{{container}}}" if container else ""
        self.emit(
            event_object(
                pod,
                reason=reason,
                message=message,
                kind=kind,
                node=self.node,
                first=first,
                last=now,
                count=count + 1,
                field_path=path,
            )
        )

    def forget(self, uid: str) -> None:
        with self._lock:
            for key in [k for k in self._seen if k[0] == uid]:
                del self._seen[key]
