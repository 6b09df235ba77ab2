"""The scheduling framework: filter -> score -> select, and upstream's failure messages.

Shaped like Kubernetes' `pkg/scheduler/framework`: a plugin answers with a `Status` whose `Code`
says whether the node fits (never an exception for "does not fit"); `Framework.schedule(pod,
snapshot)` is pure given its random source and returns either the chosen node or a `FitError`
whose `message` is exactly what kube-scheduler writes in a FailedScheduling event:

    0/3 nodes are available: 1 node(s) had untolerated taint(s), 2 Insufficient cpu.
    preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling,
    2 No preemption victims found for incoming pod.

(one line; reasons counted per node, rendered "<count> <reason>" and sorted as strings).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from controlplane.scheduler import resources
from controlplane.scheduler.pod import Object, PodInfo, PodKey, Taint, taints_of

MAX_NODE_SCORE = 100
NO_NODES_AVAILABLE = "no nodes available to schedule pods"


class Code(Enum):
    SUCCESS = "Success"
    ERROR = "Error"
    UNSCHEDULABLE = "Unschedulable"
    # Preemption cannot help on this node (upstream's UnschedulableAndUnresolvable).
    UNSCHEDULABLE_AND_UNRESOLVABLE = "UnschedulableAndUnresolvable"


@dataclass(frozen=True)
class Status:
    code: Code = Code.SUCCESS
    reasons: tuple[str, ...] = ()
    plugin: str = ""

    @property
    def is_success(self) -> bool:
        return self.code is Code.SUCCESS

    @property
    def message(self) -> str:
        return ", ".join(self.reasons)


SUCCESS = Status()


def unschedulable(plugin: str, *reasons: str, unresolvable: bool = False) -> Status:
    code = Code.UNSCHEDULABLE_AND_UNRESOLVABLE if unresolvable else Code.UNSCHEDULABLE
    return Status(code, tuple(reasons), plugin)


@dataclass(frozen=True)
class PodOnNode:
    key: PodKey
    priority: int
    requests: Mapping[str, int]
    non_zero_requests: Mapping[str, int]


@dataclass
class NodeInfo:
    """A node and the pods the scheduler counts on it (bound, or assumed and not yet seen)."""

    name: str
    node: Object | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    unschedulable: bool = False
    allocatable: Mapping[str, int] = field(default_factory=dict)
    pods: dict[PodKey, PodOnNode] = field(default_factory=dict)
    requested: dict[str, int] = field(default_factory=dict)
    non_zero_requested: dict[str, int] = field(default_factory=dict)
    # Bumped on every change, so a cache can reuse an unchanged clone (upstream's Generation).
    generation: int = 0

    def set_node(self, node: Object) -> None:
        meta = node.get("metadata") or {}
        self.generation += 1
        self.node = node
        self.labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
        self.taints = taints_of(node)
        self.unschedulable = bool((node.get("spec") or {}).get("unschedulable"))
        self.allocatable = resources.node_allocatable(node)

    def add_pod(self, pod: PodOnNode) -> None:
        if pod.key in self.pods:
            self.remove_pod(pod.key)
        self.generation += 1
        self.pods[pod.key] = pod
        resources.add(self.requested, pod.requests)
        resources.add(self.non_zero_requested, pod.non_zero_requests)

    def remove_pod(self, key: PodKey) -> PodOnNode | None:
        pod = self.pods.pop(key, None)
        if pod is not None:
            self.generation += 1
            resources.subtract(self.requested, pod.requests)
            resources.subtract(self.non_zero_requested, pod.non_zero_requests)
        return pod

    def clone(self) -> NodeInfo:
        return NodeInfo(
            name=self.name,
            node=self.node,
            labels=self.labels,
            taints=self.taints,
            unschedulable=self.unschedulable,
            allocatable=self.allocatable,
            pods=dict(self.pods),
            requested=dict(self.requested),
            non_zero_requested=dict(self.non_zero_requested),
            generation=self.generation,
        )

    @classmethod
    def for_node(cls, node: Object, pods: Iterable[PodOnNode] = ()) -> NodeInfo:
        info = cls(name=str((node.get("metadata") or {}).get("name", "")))
        info.set_node(node)
        for pod in pods:
            info.add_pod(pod)
        return info


@dataclass(frozen=True)
class Snapshot:
    """The nodes a scheduling cycle sees, in a stable order (by name)."""

    nodes: tuple[NodeInfo, ...]

    @classmethod
    def of(cls, infos: Iterable[NodeInfo]) -> Snapshot:
        return cls(tuple(sorted((i for i in infos if i.node is not None), key=lambda i: i.name)))


class FilterPlugin(Protocol):
    name: str

    def filter(self, pod: PodInfo, node: NodeInfo) -> Status: ...


class ScorePlugin(Protocol):
    name: str

    def score(self, pod: PodInfo, node: NodeInfo) -> int: ...

    def normalize(self, pod: PodInfo, scores: dict[str, int]) -> None:
        """Rescale raw scores in place to 0..MAX_NODE_SCORE (may be a no-op)."""
        ...


@dataclass(frozen=True)
class WeightedScore:
    plugin: ScorePlugin
    weight: int


class PostFilter(Protocol):
    """Runs when no node fits; returns a message appended to the FitError (or "")."""

    def __call__(
        self, pod: PodInfo, snapshot: Snapshot, statuses: Mapping[str, Status], fw: Framework
    ) -> str: ...


def default_normalize(scores: dict[str, int], *, reverse: bool = False) -> None:
    """Upstream's `DefaultNormalizeScore`: scale to 0..100 by the maximum, optionally reversed."""
    top = max(scores.values(), default=0)
    if top == 0:
        if reverse:
            for name in scores:
                scores[name] = MAX_NODE_SCORE
        return
    for name, score in scores.items():
        scaled = MAX_NODE_SCORE * score // top
        scores[name] = MAX_NODE_SCORE - scaled if reverse else scaled


def histogram(statuses: Iterable[Status]) -> list[str]:
    """ "<count> <reason>" for each distinct reason, sorted as strings like upstream."""
    counts: dict[str, int] = {}
    for status in statuses:
        for reason in status.reasons:
            counts[reason] = counts.get(reason, 0) + 1
    return sorted(f"{n} {reason}" for reason, n in counts.items())


def fit_error_message(num_nodes: int, statuses: Iterable[Status], post_filter_msg: str = "") -> str:
    """Upstream's `FitError.Error()`."""
    message = f"0/{num_nodes} nodes are available:"
    reasons = histogram(statuses)
    if reasons:
        message += f" {', '.join(reasons)}."
    if post_filter_msg:
        message += f" {post_filter_msg}"
    return message


@dataclass(frozen=True)
class ScheduleResult:
    node: str
    evaluated: int
    feasible: int
    scores: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class FitError:
    """No node fits: per-node statuses and the message for the event and the pod condition."""

    num_nodes: int
    statuses: Mapping[str, Status]
    message: str

    @property
    def unresolvable(self) -> bool:
        return all(s.code is Code.UNSCHEDULABLE_AND_UNRESOLVABLE for s in self.statuses.values())


class Framework:
    """A profile: filters in order, weighted scores, an optional post-filter, a seeded chooser."""

    def __init__(
        self,
        filters: Sequence[FilterPlugin],
        scores: Sequence[WeightedScore] = (),
        *,
        post_filter: PostFilter | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.filters = tuple(filters)
        self.scores = tuple(scores)
        self.post_filter = post_filter
        self.rng = rng or random.Random(0)  # noqa: S311 - tie-breaking, not security

    def run_filters(self, pod: PodInfo, node: NodeInfo) -> Status:
        """All filters in order; the first that fails decides, like upstream's RunFilterPlugins."""
        for plugin in self.filters:
            status = plugin.filter(pod, node)
            if not status.is_success:
                return status
        return SUCCESS

    def run_scores(self, pod: PodInfo, nodes: Sequence[NodeInfo]) -> dict[str, int]:
        totals = dict.fromkeys((n.name for n in nodes), 0)
        for weighted in self.scores:
            raw = {n.name: weighted.plugin.score(pod, n) for n in nodes}
            weighted.plugin.normalize(pod, raw)
            for name, score in raw.items():
                totals[name] += score * weighted.weight
        return totals

    def select(self, scores: Mapping[str, int]) -> str:
        """The highest total; ties broken by reservoir sampling with the seeded random source."""
        best = ""
        best_score = -1
        ties = 0
        for name, score in scores.items():
            if score > best_score:
                best, best_score, ties = name, score, 1
            elif score == best_score:
                ties += 1
                if self.rng.randrange(ties) == 0:
                    best = name
        return best

    def schedule(self, pod: PodInfo, snapshot: Snapshot) -> ScheduleResult | FitError:
        if not snapshot.nodes:
            return FitError(0, {}, NO_NODES_AVAILABLE)
        feasible: list[NodeInfo] = []
        statuses: dict[str, Status] = {}
        for node in snapshot.nodes:
            status = self.run_filters(pod, node)
            if status.is_success:
                feasible.append(node)
            else:
                statuses[node.name] = status
        if not feasible:
            post = self.post_filter(pod, snapshot, statuses, self) if self.post_filter else ""
            message = fit_error_message(len(snapshot.nodes), statuses.values(), post)
            return FitError(len(snapshot.nodes), statuses, message)
        if len(feasible) == 1:
            return ScheduleResult(feasible[0].name, len(snapshot.nodes), 1)
        scores = self.run_scores(pod, feasible)
        return ScheduleResult(self.select(scores), len(snapshot.nodes), len(feasible), scores)


def pod_on_node(pod: PodInfo) -> PodOnNode:
    return PodOnNode(pod.key, pod.priority, pod.requests, pod.non_zero_requests)
