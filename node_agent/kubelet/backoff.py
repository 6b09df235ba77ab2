"""Exponential back-off per key (a container of a pod), with an explicit clock.

Kubernetes semantics: the first restart of a crashed container is immediate; every start
records the next delay (initial, then doubling up to the maximum), and a later crash waits
that long counted from when the container finished. A container that ran at least `reset_after`
seconds before it exited starts again from the initial delay. Entries idle for twice the
maximum are forgotten. No IO and no hidden clock: `now` is always passed in.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class _Entry:
    delay: float
    updated: float


@dataclass(frozen=True)
class BackOffPolicy:
    initial: float = 10.0
    maximum: float = 300.0
    reset_after: float = 600.0


class BackOff:
    def __init__(self, policy: BackOffPolicy | None = None) -> None:
        self.policy = policy or BackOffPolicy()
        self._entries: dict[str, _Entry] = {}

    def delay(self, key: str) -> float:
        entry = self._entries.get(key)
        return entry.delay if entry else 0.0

    def remaining(self, key: str, finished_at: float, now: float) -> float:
        """Seconds left before `key` may start again after finishing at `finished_at` (0: go)."""
        entry = self._entries.get(key)
        if entry is None or now - entry.updated > 2 * self.policy.maximum:
            return 0.0
        return max(0.0, finished_at + entry.delay - now)

    def last_update(self, key: str) -> float:
        """When `key` last started (or last failed to pull); minus infinity when never."""
        entry = self._entries.get(key)
        return entry.updated if entry else float("-inf")

    def next(self, key: str, now: float) -> float:
        """Record a start at `now`; return the delay the following restart will have to wait."""
        entry = self._entries.get(key)
        if entry is None or now - entry.updated > 2 * self.policy.maximum:
            entry = _Entry(self.policy.initial, now)
        else:
            entry = _Entry(min(entry.delay * 2, self.policy.maximum), now)
        self._entries[key] = entry
        return entry.delay

    def reset(self, key: str) -> None:
        self._entries.pop(key, None)

    def note_run(self, key: str, started_at: float, finished_at: float) -> None:
        """A container that ran long enough is forgiven its earlier crashes."""
        if finished_at - started_at >= self.policy.reset_after:
            self.reset(key)

    def forget_prefix(self, prefix: str) -> None:
        for key in [k for k in self._entries if k.startswith(prefix)]:
            del self._entries[key]
