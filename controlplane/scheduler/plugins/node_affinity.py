"""NodeAffinity: required node affinity as a filter, preferred node affinity as a score.

Semantics of upstream's `nodeaffinity` helpers: `nodeSelectorTerms` are ORed; inside a term,
`matchExpressions` and `matchFields` are ANDed; a term with neither matches nothing; an empty
list of required terms matches nothing. `matchFields` knows only `metadata.name`. `Gt`/`Lt` take
one integer value and compare it with the label's integer value (a non-integer never matches).
The score sums the weights of the preferred terms a node matches, scaled to 0..100.
"""

from __future__ import annotations

from collections.abc import Mapping

from controlplane.scheduler.framework import (
    SUCCESS,
    NodeInfo,
    Status,
    default_normalize,
    unschedulable,
)
from controlplane.scheduler.pod import PodInfo, Requirement, SelectorTerm

NAME = "NodeAffinity"
REASON = "node(s) didn't match Pod's node affinity/selector"


def _as_int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def requirement_matches(req: Requirement, labels: Mapping[str, str]) -> bool:  # noqa: PLR0911
    present = req.key in labels
    if req.operator == "In":
        return present and labels[req.key] in req.values
    if req.operator == "NotIn":
        return not present or labels[req.key] not in req.values
    if req.operator == "Exists":
        return present
    if req.operator == "DoesNotExist":
        return not present
    if req.operator in ("Gt", "Lt"):
        if not present or len(req.values) != 1:
            return False
        have, want = _as_int(labels[req.key]), _as_int(req.values[0])
        if have is None or want is None:
            return False
        return have > want if req.operator == "Gt" else have < want
    return False


def term_matches(term: SelectorTerm, node: NodeInfo) -> bool:
    if not term.match_expressions and not term.match_fields:
        return False
    fields = {"metadata.name": node.name}
    return all(requirement_matches(r, node.labels) for r in term.match_expressions) and all(
        r.key == "metadata.name"
        and r.operator in ("In", "NotIn")
        and requirement_matches(r, fields)
        for r in term.match_fields
    )


def fits(pod: PodInfo, node: NodeInfo) -> bool:
    if pod.required_terms is None:
        return True
    return any(term_matches(t, node) for t in pod.required_terms)


def preferred_weight(pod: PodInfo, node: NodeInfo) -> int:
    return sum(
        p.weight for p in pod.preferred_terms if p.weight and term_matches(p.preference, node)
    )


class NodeAffinity:
    name = NAME

    def filter(self, pod: PodInfo, node: NodeInfo) -> Status:
        return SUCCESS if fits(pod, node) else unschedulable(NAME, REASON, unresolvable=True)

    def score(self, pod: PodInfo, node: NodeInfo) -> int:
        return preferred_weight(pod, node)

    def normalize(self, pod: PodInfo, scores: dict[str, int]) -> None:
        default_normalize(scores)
