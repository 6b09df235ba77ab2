"""The Node object and its Lease, as pure builders of Kubernetes-shaped dicts.

`node_object(config, ...)` is what the kubelet registers and then reports as node status;
`lease_object(...)` is the heartbeat in `kube-node-lease`. `capacity_from_host()` reads the
machine through psutil; flags may override it so a lab can give nodes different sizes.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from node_agent.kubelet.status import rfc3339

Object = dict[str, Any]

LEASE_NAMESPACE = "kube-node-lease"


@dataclass(frozen=True)
class Capacity:
    cpu_milli: int
    memory_bytes: int
    pods: int = 110


@dataclass(frozen=True)
class NodeConfig:
    name: str
    node_ip: str
    pod_cidr: str
    capacity: Capacity
    reserved_cpu_milli: int = 0
    reserved_memory_bytes: int = 0
    labels: tuple[tuple[str, str], ...] = ()
    taints: tuple[Object, ...] = field(default=(), hash=False)


def capacity_from_host(max_pods: int) -> Capacity:
    import psutil  # noqa: PLC0415 - only the edge reads the machine

    return Capacity(
        cpu_milli=(os.cpu_count() or 1) * 1000,
        memory_bytes=int(psutil.virtual_memory().total),
        pods=max_pods,
    )


def _mem(n: int) -> str:
    return f"{n // 1024}Ki"


def node_object(
    config: NodeConfig,
    *,
    now: float,
    ready: bool,
    message: str = "",
    heartbeat: float | None = None,
) -> Object:
    cap = config.capacity
    alloc_cpu = max(0, cap.cpu_milli - config.reserved_cpu_milli)
    alloc_mem = max(0, cap.memory_bytes - config.reserved_memory_bytes)
    labels = {
        "kubernetes.io/hostname": config.name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64" if platform.machine() == "x86_64" else platform.machine(),
        **dict(config.labels),
    }
    beat = rfc3339(heartbeat if heartbeat is not None else now)
    ready_cond = {
        "type": "Ready",
        "status": "True" if ready else "False",
        "reason": "KubeletReady" if ready else "KubeletNotReady",
        "message": message or ("kubelet is posting ready status" if ready else "not ready"),
        "lastHeartbeatTime": beat,
        "lastTransitionTime": rfc3339(now),
    }
    pressure = [
        {
            "type": kind,
            "status": "False",
            "reason": reason,
            "message": text,
            "lastHeartbeatTime": beat,
            "lastTransitionTime": rfc3339(now),
        }
        for kind, reason, text in (
            ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory"),
            ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        )
    ]
    spec: Object = {"podCIDR": config.pod_cidr, "podCIDRs": [config.pod_cidr]}
    if config.taints:
        spec["taints"] = [dict(t) for t in config.taints]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": config.name, "labels": labels},
        "spec": spec,
        "status": {
            "capacity": {
                "cpu": f"{cap.cpu_milli}m" if cap.cpu_milli % 1000 else str(cap.cpu_milli // 1000),
                "memory": _mem(cap.memory_bytes),
                "pods": str(cap.pods),
            },
            "allocatable": {
                "cpu": f"{alloc_cpu}m" if alloc_cpu % 1000 else str(alloc_cpu // 1000),
                "memory": _mem(alloc_mem),
                "pods": str(cap.pods),
            },
            "conditions": [*pressure, ready_cond],
            "addresses": [
                {"type": "InternalIP", "address": config.node_ip},
                {"type": "Hostname", "address": config.name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "kubeletVersion": "v1.30.0-kubelab",
                "containerRuntimeVersion": "kubelab://0.1.0",
                "operatingSystem": "linux",
                "architecture": labels["kubernetes.io/arch"],
                "kernelVersion": platform.release(),
                "osImage": "kubelab",
            },
        },
    }


def lease_object(node_name: str, *, now: float, duration: int = 40) -> Object:
    """The node's heartbeat Lease; renewed every 10 s by the kubelet (Kubernetes' defaults)."""
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": node_name, "namespace": LEASE_NAMESPACE},
        "spec": {
            "holderIdentity": node_name,
            "leaseDurationSeconds": duration,
            "renewTime": stamp,
        },
    }
