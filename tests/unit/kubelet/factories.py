"""Small builders of pod dicts and observed runs for the kubelet's unit tests."""

from __future__ import annotations

from typing import Any

from node_agent.kubelet.spec import PodSpec, parse_pod
from node_agent.kubelet.state import ContainerRun

Object = dict[str, Any]


def pod_dict(
    *containers: Object,
    name: str = "p",
    uid: str = "u1",
    restart: str = "Always",
    init: tuple[Object, ...] = (),
    **spec: Any,
) -> Object:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "uid": uid},
        "spec": {
            "restartPolicy": restart,
            "containers": list(containers) or [{"name": "c", "image": "busybox"}],
            "initContainers": list(init),
            **spec,
        },
    }


def pod(*containers: Object, **kw: Any) -> PodSpec:
    return parse_pod(pod_dict(*containers, **kw))


def running(name: str, attempt: int = 0, started: float = 100.0) -> ContainerRun:
    return ContainerRun(name, attempt, f"kubelab://{name}{attempt}", started)


def exited(
    name: str, code: int, attempt: int = 0, started: float = 100.0, finished: float = 101.0
) -> ContainerRun:
    return ContainerRun(name, attempt, f"kubelab://{name}{attempt}", started, finished, code)
