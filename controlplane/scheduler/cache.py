"""The scheduler's cache: nodes and the pods counted on them, including assumed pods.

Like upstream's `internal/cache`: after choosing a node the scheduler *assumes* the pod there at
once, so the next cycle already counts its requests even though the apiserver's watch has not
yet delivered the bound pod. When the bound pod arrives (`add_pod`) the assumption is confirmed;
when binding fails the scheduler *forgets* it. A burst of pods therefore never overcommits a
node. Pods on a node the cache has not seen yet are kept and counted once the node arrives.
Not thread-safe by itself: the `Scheduler` serialises access.
"""

from __future__ import annotations

import logging

from controlplane.scheduler.framework import NodeInfo, PodOnNode, Snapshot, pod_on_node
from controlplane.scheduler.pod import Object, PodInfo, PodKey, node_name_of, pod_key

log = logging.getLogger(__name__)


class Cache:
    def __init__(self) -> None:
        self._nodes: dict[str, NodeInfo] = {}
        self._pod_node: dict[PodKey, str] = {}
        self._assumed: set[PodKey] = set()
        # Clones handed out by snapshot(), reused while their node has not changed. Snapshot
        # users must not mutate them (preemption clones again before it experiments).
        self._clones: dict[str, NodeInfo] = {}

    # nodes -------------------------------------------------------------------------------
    def add_node(self, node: Object) -> None:
        name = str((node.get("metadata") or {}).get("name", ""))
        info = self._nodes.get(name)
        if info is None:
            info = self._nodes[name] = NodeInfo(name=name)
        info.set_node(node)

    update_node = add_node

    def remove_node(self, name: str) -> None:
        info = self._nodes.get(name)
        if info is None:
            return
        if info.pods:
            # Pods may still be reported on it; keep counting them until they go.
            info.node = None
        else:
            del self._nodes[name]

    # pods --------------------------------------------------------------------------------
    def assume(self, pod: PodInfo, node: str) -> None:
        if pod.key in self._pod_node:
            raise ValueError(f"pod {pod.key} is already in the cache on {self._pod_node[pod.key]}")
        self._place(pod_on_node(pod), node)
        self._assumed.add(pod.key)

    def forget(self, key: PodKey) -> None:
        if key in self._assumed:
            self._assumed.discard(key)
            self._unplace(key)

    def is_assumed(self, key: PodKey) -> bool:
        return key in self._assumed

    def add_pod(self, pod: Object) -> None:
        """A pod with `spec.nodeName`, as the watch reports it (confirms an assumption)."""
        info = PodInfo.from_object(pod)
        node = node_name_of(pod)
        if info.key in self._assumed:
            self._assumed.discard(info.key)
            if self._pod_node.get(info.key) != node:
                log.warning("assumed pod bound elsewhere pod=%s node=%s", info.key, node)
        self._unplace(info.key)
        self._place(pod_on_node(info), node)

    update_pod = add_pod

    def remove_pod(self, pod: Object) -> None:
        key = pod_key(pod)
        self._assumed.discard(key)
        self._unplace(key)

    def node_of(self, key: PodKey) -> str | None:
        return self._pod_node.get(key)

    def snapshot(self) -> Snapshot:
        clones = {}
        for name, info in self._nodes.items():
            clone = self._clones.get(name)
            if clone is None or clone.generation != info.generation or clone.node is not info.node:
                clone = info.clone()
            clones[name] = clone
        self._clones = clones
        return Snapshot.of(clones.values())

    def node_count(self) -> int:
        return sum(1 for info in self._nodes.values() if info.node is not None)

    def _place(self, pod: PodOnNode, node: str) -> None:
        info = self._nodes.get(node)
        if info is None:
            info = self._nodes[node] = NodeInfo(name=node)
        info.add_pod(pod)
        self._pod_node[pod.key] = node

    def _unplace(self, key: PodKey) -> None:
        node = self._pod_node.pop(key, None)
        if node is None:
            return
        info = self._nodes[node]
        info.remove_pod(key)
        if info.node is None and not info.pods:
            del self._nodes[node]
