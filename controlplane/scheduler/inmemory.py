"""An in-memory cluster that plays the apiserver for the scheduler: tests, benchmark, demos.

It holds nodes, pods and events as Kubernetes-shaped dicts and implements `Binder`,
`EventRecorder` and `PodConditionWriter`; its `leases` (`MemoryLeases`) are a `LeaseClient` for
`kubelab.client.leaderelection`, with the apiserver's compare-and-swap on resourceVersion.
Binding behaves like the apiserver's binding subresource: it refuses a pod that is gone or
already has a node (a conflict), sets `spec.nodeName` and the PodScheduled=True condition, and
bumps `resourceVersion`.

Watch events reach subscribers either at once (`deliver="sync"`) or only when `flush()` is
called (`deliver="manual"`), which lets a test hold bound pods back the way a slow watch does.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from controlplane.scheduler.errors import BindError
from controlplane.scheduler.events import make_event
from controlplane.scheduler.pod import Object, pod_key
from controlplane.scheduler.scheduler import Scheduler, WatchEvent
from kubelab.api.errors import AlreadyExists, Conflict, NotFound, ServiceUnavailable
from kubelab.client.resources import GVR, LEASES


@dataclass(frozen=True)
class Pending:
    kind: str  # "node" or "pod"
    event: WatchEvent
    obj: Object


def make_node(
    name: str,
    *,
    cpu: str = "4",
    memory: str = "8Gi",
    pods: int = 110,
    labels: dict[str, str] | None = None,
    taints: list[dict[str, str]] | None = None,
    unschedulable: bool = False,
) -> Object:
    allocatable = {"cpu": cpu, "memory": memory, "pods": str(pods)}
    spec: dict[str, Any] = {}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
        "spec": spec,
        "status": {"capacity": dict(allocatable), "allocatable": allocatable},
    }


def make_pod(
    name: str,
    *,
    namespace: str = "default",
    cpu: str | None = None,
    memory: str | None = None,
    node_name: str = "",
    scheduler_name: str | None = None,
    **spec_fields: Any,
) -> Object:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    container: dict[str, Any] = {"name": "app", "image": "busybox"}
    if requests:
        container["resources"] = {"requests": requests}
    spec: dict[str, Any] = {"containers": [container], **spec_fields}
    if node_name:
        spec["nodeName"] = node_name
    if scheduler_name:
        spec["schedulerName"] = scheduler_name
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
        "status": {"phase": "Pending"},
    }


class MemoryLeases:
    """coordination.k8s.io/v1 Leases in memory, as the apiserver serves them to an elector:
    NotFound, AlreadyExists, Conflict on a stale resourceVersion; `fail = True` makes every call
    fail as an unreachable apiserver does."""

    def __init__(self) -> None:
        self.leases: dict[tuple[str, str], Object] = {}
        self.fail = False
        self._rv = 0
        self._lock = threading.Lock()

    def holder(self, namespace: str = "kube-system", name: str = "kube-scheduler") -> str:
        with self._lock:
            lease = self.leases.get((namespace, name)) or {}
        return str((lease.get("spec") or {}).get("holderIdentity") or "")

    def lease(self, namespace: str = "kube-system", name: str = "kube-scheduler") -> Object | None:
        with self._lock:
            lease = self.leases.get((namespace, name))
            return copy.deepcopy(lease) if lease is not None else None

    def _check(self, resource: str | GVR) -> None:
        if self.fail:
            raise ServiceUnavailable("lease store unavailable")
        if resource != LEASES:
            raise NotFound(f"the server could not find the requested resource {resource}")

    def get(self, resource: str | GVR, name: str, *, namespace: str = "") -> Object:
        with self._lock:
            self._check(resource)
            lease = self.leases.get((namespace, name))
            if lease is None:
                raise NotFound(f'leases.coordination.k8s.io "{name}" not found')
            return copy.deepcopy(lease)

    def create(
        self,
        resource: str | GVR,
        obj: Object,
        *,
        namespace: str | None = None,
        dry_run: bool = False,
        strict: bool = False,
    ) -> Object:
        del strict
        with self._lock:
            self._check(resource)
            meta = obj.get("metadata") or {}
            key = (namespace or meta.get("namespace") or "default", str(meta.get("name", "")))
            if key in self.leases:
                raise AlreadyExists(f'leases.coordination.k8s.io "{key[1]}" already exists')
            return self._store(key, obj, dry_run)

    def update(self, resource: str | GVR, obj: Object, *, dry_run: bool = False) -> Object:
        with self._lock:
            self._check(resource)
            meta = obj.get("metadata") or {}
            key = (str(meta.get("namespace") or "default"), str(meta.get("name", "")))
            current = self.leases.get(key)
            if current is None:
                raise NotFound(f'leases.coordination.k8s.io "{key[1]}" not found')
            if meta.get("resourceVersion") != current["metadata"]["resourceVersion"]:
                raise Conflict(
                    f'Operation cannot be fulfilled on leases.coordination.k8s.io "{key[1]}": '
                    "the object has been modified; please apply your changes to the latest "
                    "version and try again"
                )
            return self._store(key, obj, dry_run)

    def _store(self, key: tuple[str, str], obj: Object, dry_run: bool) -> Object:
        stored = copy.deepcopy(obj)
        meta = stored.setdefault("metadata", {})
        meta["namespace"], meta["name"] = key
        if not dry_run:
            self._rv += 1
            meta["resourceVersion"] = str(self._rv)
            self.leases[key] = stored
        return copy.deepcopy(stored)


class InMemoryCluster:
    def __init__(self, *, deliver: Literal["sync", "manual"] = "sync") -> None:
        self.nodes: dict[str, Object] = {}
        self.pods: dict[str, Object] = {}
        self.events: list[Object] = []
        self.bindings: list[tuple[str, str]] = []
        self.deliver = deliver
        self._pending: list[Pending] = []
        self._subscribers: list[Scheduler] = []
        self._rv = 0
        self._lock = threading.RLock()
        self.bind_hook: Callable[[str, str], None] | None = None
        self.leases = MemoryLeases()

    # wiring --------------------------------------------------------------------------------
    def subscribe(self, scheduler: Scheduler) -> None:
        """Replay current state (an informer's list) and keep the scheduler informed (watch)."""
        with self._lock:
            self._subscribers.append(scheduler)
            for node in self.nodes.values():
                scheduler.on_node_event(WatchEvent.ADDED, copy.deepcopy(node))
            for pod in self.pods.values():
                scheduler.on_pod_event(WatchEvent.ADDED, copy.deepcopy(pod))

    def flush(self) -> int:
        with self._lock:
            pending, self._pending = self._pending, []
        for item in pending:
            self._send(item)
        return len(pending)

    def _emit(self, kind: str, event: WatchEvent, obj: Object) -> None:
        item = Pending(kind, event, copy.deepcopy(obj))
        if self.deliver == "sync":
            self._send(item)
        else:
            with self._lock:
                self._pending.append(item)

    def _send(self, item: Pending) -> None:
        for scheduler in list(self._subscribers):
            if item.kind == "node":
                scheduler.on_node_event(item.event, item.obj)
            else:
                scheduler.on_pod_event(item.event, item.obj)

    def _bump(self, obj: Object) -> None:
        self._rv += 1
        obj.setdefault("metadata", {})["resourceVersion"] = str(self._rv)

    # cluster changes -----------------------------------------------------------------------
    def add_node(self, node: Object) -> None:
        with self._lock:
            name = node["metadata"]["name"]
            event = WatchEvent.MODIFIED if name in self.nodes else WatchEvent.ADDED
            self._bump(node)
            self.nodes[name] = node
        self._emit("node", event, node)

    update_node = add_node

    def delete_node(self, name: str) -> None:
        with self._lock:
            node = self.nodes.pop(name)
        self._emit("node", WatchEvent.DELETED, node)

    def create_pod(self, pod: Object) -> None:
        with self._lock:
            key = pod_key(pod)
            if key in self.pods:
                raise ValueError(f"pod {key} already exists")
            self._bump(pod)
            self.pods[key] = pod
        self._emit("pod", WatchEvent.ADDED, pod)

    def delete_pod(self, key: str) -> None:
        with self._lock:
            pod = self.pods.pop(key)
        self._emit("pod", WatchEvent.DELETED, pod)

    # Binder ----------------------------------------------------------------------------------
    def bind(self, namespace: str, name: str, node: str) -> None:
        key = f"{namespace}/{name}"
        with self._lock:
            if self.bind_hook is not None:
                self.bind_hook(key, node)
            pod = self.pods.get(key)
            if pod is None:
                raise BindError(key, node, f'pods "{name}" not found', retryable=False)
            current = pod["spec"].get("nodeName")
            if current:
                raise BindError(
                    key,
                    node,
                    f'Operation cannot be fulfilled on pods/binding "{name}": pod {name} is '
                    f'already assigned to node "{current}"',
                    retryable=False,
                )
            pod["spec"]["nodeName"] = node
            _set_condition(pod, {"type": "PodScheduled", "status": "True"})
            self._bump(pod)
            self.bindings.append((key, node))
        self._emit("pod", WatchEvent.MODIFIED, pod)

    # EventRecorder -------------------------------------------------------------------------
    def event(self, pod: Object, type_: str, reason: str, action: str, message: str) -> None:
        with self._lock:
            self.events.append(make_event(pod, type_, reason, action, message, now=time.time()))

    # PodConditionWriter --------------------------------------------------------------------
    def set_unschedulable(self, pod: Object, reason: str, message: str) -> None:
        with self._lock:
            stored = self.pods.get(pod_key(pod))
            if stored is None:
                return
            _set_condition(
                stored,
                {"type": "PodScheduled", "status": "False", "reason": reason, "message": message},
            )
            self._bump(stored)
        self._emit("pod", WatchEvent.MODIFIED, stored)

    # reading -------------------------------------------------------------------------------
    def events_for(self, key: str, reason: str | None = None) -> list[Object]:
        ns, name = key.split("/", 1)
        with self._lock:
            return [
                e
                for e in self.events
                if e["regarding"]["namespace"] == ns
                and e["regarding"]["name"] == name
                and (reason is None or e["reason"] == reason)
            ]

    def node_of(self, key: str) -> str:
        with self._lock:
            return str(self.pods[key]["spec"].get("nodeName") or "")


def _set_condition(pod: Object, condition: dict[str, str]) -> None:
    conditions = pod.setdefault("status", {}).setdefault("conditions", [])
    conditions[:] = [c for c in conditions if c.get("type") != condition["type"]]
    conditions.append(condition)
