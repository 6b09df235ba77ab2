"""In-memory fakes of the kubelet's edges: a runtime, a pod source, a status sink, a clock."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from node_agent.kubelet.runtime import ExecResult
from node_agent.kubelet.spec import PodSpec, parse_pod
from node_agent.kubelet.state import ContainerRun, ObservedPod

Object = dict[str, Any]


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FakeRuntime:
    """Records calls; containers 'run' until a test ends them with `finish()`."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.sandboxes: dict[str, str] = {}
        self.raw: dict[str, Object] = {}
        self.runs: dict[str, dict[str, list[ContainerRun]]] = {}
        self.calls: list[tuple[str, ...]] = []
        self.refreshed: list[str] = []  # uids whose volumes a sync refreshed

    def observe(self, pod: PodSpec) -> ObservedPod:
        runs = self.runs.get(pod.uid, {})
        return ObservedPod(
            pod.uid,
            pod.uid in self.sandboxes,
            self.sandboxes.get(pod.uid),
            {name: rs[-1] for name, rs in runs.items()},
            {name: rs[-2] for name, rs in runs.items() if len(rs) > 1},
        )

    def create_sandbox(self, pod: PodSpec) -> None:
        self.calls.append(("sandbox", pod.uid))
        self.sandboxes[pod.uid] = f"10.244.0.{len(self.sandboxes) + 2}"
        self.raw[pod.uid] = pod.raw

    def refresh_volumes(self, pod: PodSpec) -> None:
        self.refreshed.append(pod.uid)

    def start_container(self, pod: PodSpec, name: str, attempt: int) -> None:
        self.calls.append(("start", name, str(attempt)))
        run = ContainerRun(name, attempt, f"id-{name}-{attempt}", self.clock())
        self.runs.setdefault(pod.uid, {}).setdefault(name, []).append(run)

    def finish(self, uid: str, name: str, code: int) -> None:
        runs = self.runs[uid][name]
        runs[-1] = replace(runs[-1], finished_at=self.clock(), exit_code=code)

    def kill_container(self, pod: PodSpec, name: str, grace: float) -> None:
        self.calls.append(("kill", name))
        self.finish(pod.uid, name, 137)

    def remove_pod(self, uid: str, grace: float | None = None) -> None:
        self.calls.append(("remove", uid))
        self.sandboxes.pop(uid, None)
        self.runs.pop(uid, None)
        self.raw.pop(uid, None)

    def exec(
        self, pod: PodSpec, name: str, argv: Sequence[str], timeout: float, stdin: bytes = b""
    ) -> ExecResult:
        return ExecResult(0, "")

    def pod_uids(self) -> set[str]:
        return set(self.sandboxes)

    def stored_pod(self, uid: str) -> PodSpec | None:
        return parse_pod(self.raw[uid]) if uid in self.raw else None


class FakeSource:
    def __init__(self, *pods: Object) -> None:
        self.items = list(pods)

    def pods(self) -> list[Object]:
        return list(self.items)


class FakeSink:
    def __init__(self) -> None:
        self.statuses: dict[str, Object] = {}
        self.removed: list[str] = []
        self.nodes: list[Object] = []
        self.leases: list[Object] = []
        self.events: list[Object] = []

    def pod_status(self, pod: Object, status: Object) -> None:
        self.statuses[pod["metadata"]["name"]] = status

    def pod_removed(self, namespace: str, name: str, uid: str) -> None:
        self.removed.append(name)
        self.statuses.pop(name, None)

    def node_status(self, node: Object) -> None:
        self.nodes.append(node)

    def renew_lease(self, lease: Object) -> None:
        self.leases.append(lease)

    def event(self, event: Object) -> None:
        self.events.append(event)
