"""Label and field selectors: parse the query-string syntax, match plain values.

Label selectors accept Kubernetes' grammar: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`,
`a` (exists) and `!a` (does not exist), joined by commas (AND). Field selectors accept `f=v`,
`f==v`, `f!=v`; which fields exist is decided by the kind (see `kubelab.api.registry`).
Parsing is pure and raises SelectorError naming the offending term; nothing here reads a store.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum


class SelectorError(ValueError):
    """A selector string that does not parse; `term` is the part that failed."""

    def __init__(self, selector: str, term: str, why: str) -> None:
        self.selector = selector
        self.term = term
        super().__init__(f"unable to parse requirement {term!r} in selector {selector!r}: {why}")


class Op(Enum):
    EQ = "="
    NEQ = "!="
    IN = "in"
    NOTIN = "notin"
    EXISTS = "exists"
    NOT_EXISTS = "!"


@dataclass(frozen=True)
class Requirement:
    key: str
    op: Op
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op is Op.EXISTS:
            return present
        if self.op is Op.NOT_EXISTS:
            return not present
        if self.op in (Op.EQ, Op.IN):
            return present and value in self.values
        return not present or value not in self.values


@dataclass(frozen=True)
class LabelSelector:
    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements


_LABEL_KEY = re.compile(
    r"^(?:[a-z0-9]([-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
_LABEL_VALUE = re.compile(r"^(?:[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")


def is_label_key(key: str) -> bool:
    if not _LABEL_KEY.match(key):
        return False
    prefix, _, _ = key.rpartition("/")
    return len(prefix) <= 253


def is_label_value(value: str) -> bool:
    return len(value) <= 63 and bool(_LABEL_VALUE.match(value))


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    terms: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    terms.append("".join(cur))
    return [t.strip() for t in terms]


_SET_TERM = re.compile(r"^(?P<key>\S+)\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)$")
_EQ_TERM = re.compile(r"^(?P<key>[^=!\s]+)\s*(?P<op>==|=|!=)\s*(?P<value>\S*)$")


def parse_label_selector(text: str | None) -> LabelSelector:
    if text is None or not text.strip():
        return LabelSelector()
    reqs: list[Requirement] = []
    for term in _split_terms(text):
        if not term:
            raise SelectorError(text, term, "empty requirement")
        req = _parse_label_term(text, term)
        if not is_label_key(req.key):
            raise SelectorError(text, term, f"invalid label key {req.key!r}")
        for v in req.values:
            if not is_label_value(v):
                raise SelectorError(text, term, f"invalid label value {v!r}")
        reqs.append(req)
    return LabelSelector(tuple(reqs))


def _parse_label_term(text: str, term: str) -> Requirement:
    if m := _SET_TERM.match(term):
        values = tuple(v.strip() for v in m["values"].split(",") if v.strip())
        if not values and m["op"] == "in":
            raise SelectorError(text, term, "for 'in', set must not be empty")
        return Requirement(m["key"], Op.IN if m["op"] == "in" else Op.NOTIN, values)
    if m := _EQ_TERM.match(term):
        return Requirement(m["key"], Op.NEQ if m["op"] == "!=" else Op.EQ, (m["value"],))
    if term.startswith("!"):
        key = term[1:].strip()
        if key and " " not in key:
            return Requirement(key, Op.NOT_EXISTS)
    elif " " not in term and all(c not in term for c in "=!()"):
        return Requirement(term, Op.EXISTS)
    raise SelectorError(text, term, "expected key, !key, key=value, key!=value, key in (...)")


def selector_from_match_labels(
    match_labels: Mapping[str, str] | None,
    match_expressions: list[dict[str, object]] | None = None,
) -> LabelSelector:
    """The selector a `metav1.LabelSelector` object (matchLabels + matchExpressions) means."""
    reqs = [Requirement(k, Op.EQ, (v,)) for k, v in sorted((match_labels or {}).items())]
    ops = {"In": Op.IN, "NotIn": Op.NOTIN, "Exists": Op.EXISTS, "DoesNotExist": Op.NOT_EXISTS}
    for expr in match_expressions or []:
        values = expr.get("values") or []
        assert isinstance(values, list)
        reqs.append(Requirement(str(expr["key"]), ops[str(expr["operator"])], tuple(values)))
    return LabelSelector(tuple(reqs))


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    value: str
    negate: bool = False

    def matches(self, fields: Mapping[str, str]) -> bool:
        equal = fields.get(self.field, "") == self.value
        return not equal if self.negate else equal


@dataclass(frozen=True)
class FieldSelector:
    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, fields: Mapping[str, str]) -> bool:
        return all(r.matches(fields) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements

    def exact(self, field: str) -> str | None:
        """The value an `=` requirement pins `field` to, if any (lets a store narrow a scan)."""
        for r in self.requirements:
            if r.field == field and not r.negate:
                return r.value
        return None


_FIELD_TERM = re.compile(r"^(?P<field>[A-Za-z0-9_.\[\]\-/]+)\s*(?P<op>==|=|!=)\s*(?P<value>.*)$")


def parse_field_selector(text: str | None, allowed: frozenset[str] | None = None) -> FieldSelector:
    """Parse `f=v,g!=w`; with `allowed`, an unknown field is an error naming it and the choices."""
    if text is None or not text.strip():
        return FieldSelector()
    reqs = []
    for term in _split_terms(text):
        m = _FIELD_TERM.match(term)
        if m is None:
            raise SelectorError(text, term, "expected field=value, field==value or field!=value")
        field = m["field"]
        if allowed is not None and field not in allowed:
            choices = ", ".join(sorted(allowed))
            raise SelectorError(text, term, f"field label not supported: {field} ({choices})")
        reqs.append(FieldRequirement(field, m["value"].strip(), m["op"] == "!="))
    return FieldSelector(tuple(reqs))
