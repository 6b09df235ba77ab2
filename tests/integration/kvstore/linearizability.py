"""A small Knossos-style linearizability checker for a history of register operations.

Operations on one key: `read` (observes a value or None), `write(v)`, `cas(old, new)` (observes
success or failure). Each carries the wall-clock interval it was in flight; an operation whose
outcome is unknown (a timeout, a crash) has `end = inf` and may or may not have taken effect.
`check` searches for a total order consistent with real time and with a sequential register
(Wing & Gong's algorithm with memoisation, as in Knossos' "linear" and Lowe's WGL); keys are
independent, so each is checked alone.
"""

from __future__ import annotations

import math
import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Kind = Literal["read", "write", "cas"]


@dataclass(frozen=True)
class Op:
    key: str
    kind: Kind
    start: float
    end: float  # math.inf when the outcome is unknown
    value: str | None = None  # read: observed; write: written; cas: new value
    expected: str | None = None  # cas: the old value compared against
    ok: bool = True  # cas: whether it succeeded (ignored when the outcome is unknown)

    @property
    def unknown(self) -> bool:
        return math.isinf(self.end)


@dataclass(frozen=True)
class Verdict:
    ok: bool
    key: str | None = None
    ops: int = 0
    explanation: str = ""


def _step(state: str | None, op: Op) -> tuple[bool, str | None]:
    if op.kind == "read":
        return op.value == state, state
    if op.kind == "write":
        return True, op.value
    if op.unknown:
        return (True, op.value) if state == op.expected else (True, state)
    if op.ok:
        return state == op.expected, op.value
    return state != op.expected, state


def check_key(ops: list[Op], initial: str | None = None) -> bool:
    n = len(ops)
    full = (1 << n) - 1
    seen: set[tuple[int, str | None]] = set()
    order = sorted(range(n), key=lambda i: ops[i].start)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 4 * n + 100))

    def search(done: int, state: str | None) -> bool:
        if done == full:
            return True
        if (done, state) in seen:
            return False
        seen.add((done, state))
        pending = [i for i in order if not done >> i & 1]
        horizon = min(ops[i].end for i in pending)
        for i in pending:
            op = ops[i]
            if op.start > horizon:
                break
            legal, after = _step(state, op)
            if legal and search(done | 1 << i, after):
                return True
            if op.unknown and search(done | 1 << i, state):  # it never took effect
                return True
        return False

    try:
        return search(0, initial)
    finally:
        sys.setrecursionlimit(limit)


def check(history: Iterable[Op], initial: str | None = None) -> Verdict:
    by_key: dict[str, list[Op]] = defaultdict(list)
    for op in history:
        by_key[op.key].append(op)
    total = 0
    for key, ops in sorted(by_key.items()):
        total += len(ops)
        if not check_key(ops, initial):
            lines = [
                f"{o.kind} {o.expected}->{o.value} ok={o.ok} [{o.start:.4f}, {o.end:.4f}]"
                for o in sorted(ops, key=lambda o: o.start)
            ]
            return Verdict(False, key, total, "\n".join(lines))
    return Verdict(True, None, total)
