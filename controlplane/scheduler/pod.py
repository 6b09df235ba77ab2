"""What the scheduler reads from a Pod, parsed once per scheduling attempt.

`PodInfo.from_object(pod)` turns the JSON-shaped Pod into a frozen value the plugins read
(upstream computes the same things in PreFilter). A field it cannot read raises
`InvalidPodError` naming the field; the scheduler reports that on the pod instead of crashing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NewType

from controlplane.scheduler import resources
from controlplane.scheduler.errors import InvalidPodError

Object = dict[str, Any]
PodKey = NewType("PodKey", str)

DEFAULT_SCHEDULER_NAME = "default-scheduler"


def pod_key(pod: Mapping[str, Any]) -> PodKey:
    meta = pod.get("metadata") or {}
    return PodKey(f"{meta.get('namespace') or 'default'}/{meta.get('name', '')}")


def node_name_of(pod: Mapping[str, Any]) -> str:
    return str((pod.get("spec") or {}).get("nodeName") or "")


def scheduler_name_of(pod: Mapping[str, Any]) -> str:
    return str((pod.get("spec") or {}).get("schedulerName") or DEFAULT_SCHEDULER_NAME)


def is_terminal(pod: Mapping[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def is_being_deleted(pod: Mapping[str, Any]) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def priority_of(pod: Mapping[str, Any]) -> int:
    raw = (pod.get("spec") or {}).get("priority")
    return int(raw) if isinstance(raw, int) and not isinstance(raw, bool) else 0


@dataclass(frozen=True)
class Toleration:
    key: str = ""
    operator: str = "Equal"
    value: str = ""
    effect: str = ""

    def tolerates(self, taint: Taint) -> bool:
        """Upstream's `Toleration.ToleratesTaint`."""
        if self.effect and self.effect != taint.effect:
            return False
        if self.key and self.key != taint.key:
            return False
        if self.operator in ("", "Equal"):
            return self.value == taint.value
        return self.operator == "Exists"


@dataclass(frozen=True)
class Taint:
    key: str
    value: str = ""
    effect: str = ""


@dataclass(frozen=True)
class Requirement:
    """One `matchExpressions`/`matchFields` entry of a NodeSelectorTerm."""

    key: str
    operator: str
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class SelectorTerm:
    match_expressions: tuple[Requirement, ...] = ()
    match_fields: tuple[Requirement, ...] = ()


@dataclass(frozen=True)
class PreferredTerm:
    weight: int
    preference: SelectorTerm


@dataclass(frozen=True)
class PodInfo:
    key: PodKey
    obj: Object = field(compare=False, repr=False)
    node_name: str = ""
    scheduler_name: str = DEFAULT_SCHEDULER_NAME
    priority: int = 0
    requests: Mapping[str, int] = field(default_factory=dict)
    non_zero_requests: Mapping[str, int] = field(default_factory=dict)
    tolerations: tuple[Toleration, ...] = ()
    node_selector: Mapping[str, str] = field(default_factory=dict)
    # None: no required node affinity; otherwise the terms, ORed.
    required_terms: tuple[SelectorTerm, ...] | None = None
    preferred_terms: tuple[PreferredTerm, ...] = ()

    @property
    def namespace(self) -> str:
        return self.key.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.key.split("/", 1)[1]

    @classmethod
    def from_object(cls, pod: Object) -> PodInfo:
        key = pod_key(pod)
        spec = pod.get("spec") or {}
        affinity = (spec.get("affinity") or {}).get("nodeAffinity") or {}
        required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
        required_terms = None
        if required is not None:
            required_terms = tuple(
                _term(
                    t,
                    key,
                    f"...requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[{i}]",
                )
                for i, t in enumerate(required.get("nodeSelectorTerms") or ())
            )
        preferred = tuple(
            PreferredTerm(
                weight=_int(p.get("weight", 0), key, f"...preferred[{i}].weight"),
                preference=_term(p.get("preference") or {}, key, f"...preferred[{i}].preference"),
            )
            for i, p in enumerate(
                affinity.get("preferredDuringSchedulingIgnoredDuringExecution") or ()
            )
        )
        return cls(
            key=key,
            obj=pod,
            node_name=node_name_of(pod),
            scheduler_name=scheduler_name_of(pod),
            priority=priority_of(pod),
            requests=_in_check_order(resources.pod_requests(pod)),
            non_zero_requests=resources.pod_requests(pod, non_zero=True),
            tolerations=tuple(
                Toleration(
                    key=str(t.get("key") or ""),
                    operator=str(t.get("operator") or "Equal"),
                    value=str(t.get("value") or ""),
                    effect=str(t.get("effect") or ""),
                )
                for t in spec.get("tolerations") or ()
            ),
            node_selector={str(k): str(v) for k, v in (spec.get("nodeSelector") or {}).items()},
            required_terms=required_terms,
            preferred_terms=preferred,
        )


def _in_check_order(requests: dict[str, int]) -> dict[str, int]:
    return {name: requests[name] for name in resources.ordered(requests)}


def _int(raw: object, pod: str, where: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise InvalidPodError(pod, where, raw, "expected an integer")
    return raw


def _requirements(items: Any, pod: str, where: str) -> tuple[Requirement, ...]:
    out = []
    for i, item in enumerate(items or ()):
        operator = item.get("operator")
        if operator not in ("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"):
            raise InvalidPodError(
                pod,
                f"{where}[{i}].operator",
                operator,
                "expected one of In, NotIn, Exists, DoesNotExist, Gt, Lt",
            )
        values = tuple(str(v) for v in item.get("values") or ())
        out.append(Requirement(key=str(item.get("key") or ""), operator=operator, values=values))
    return tuple(out)


def _term(term: Mapping[str, Any], pod: str, where: str) -> SelectorTerm:
    return SelectorTerm(
        match_expressions=_requirements(
            term.get("matchExpressions"), pod, f"{where}.matchExpressions"
        ),
        match_fields=_requirements(term.get("matchFields"), pod, f"{where}.matchFields"),
    )


def taints_of(node: Mapping[str, Any]) -> tuple[Taint, ...]:
    return tuple(
        Taint(
            key=str(t.get("key") or ""),
            value=str(t.get("value") or ""),
            effect=str(t.get("effect") or ""),
        )
        for t in (node.get("spec") or {}).get("taints") or ()
    )
