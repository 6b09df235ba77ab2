"""The scheduling queue: an active queue, a back-off queue and an unschedulable pool.

Like upstream's `PriorityQueue`:
- `add` puts a new pending pod in the active queue, ordered by priority (higher first), then by
  when it was queued;
- a pod that did not fit goes to the unschedulable pool (`add_unschedulable`); it leaves only when
  the cluster changes (`move_all`: node added or updated, an assigned pod deleted) or after
  `max_unschedulable` seconds. If the cluster changed while the pod was being scheduled, it goes
  straight to back-off, so that change is not missed;
- a moved pod still inside its back-off window waits in the back-off queue; back-off doubles per
  failed attempt from `initial_backoff` to `max_backoff` (upstream: 1 s and 10 s);
- errors (a refused binding) go to back-off directly.
Time comes from an injected clock, so tests drive it by hand.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable
from dataclasses import dataclass

from controlplane.scheduler.pod import Object, PodKey, pod_key, priority_of

Clock = Callable[[], float]


@dataclass
class QueuedPod:
    key: PodKey
    pod: Object
    attempts: int = 0
    queued_at: float = 0.0
    last_failure: float = 0.0
    cycle: int = 0
    # The spec changed while this attempt was running: its verdict may be stale.
    changed_in_flight: bool = False


def spec_changed(old: Object, new: Object) -> bool:
    """Whether an update may change the scheduling outcome: status, resourceVersion and
    managedFields do not (upstream's `isPodUpdated`), so writing the PodScheduled condition does
    not wake the pod it is about."""

    def strip(pod: Object) -> Object:
        meta = {
            k: v
            for k, v in (pod.get("metadata") or {}).items()
            if k not in ("resourceVersion", "generation", "managedFields")
        }
        return {"metadata": meta, "spec": pod.get("spec")}

    return strip(old) != strip(new)


class SchedulingQueue:
    def __init__(
        self,
        clock: Clock = time.monotonic,
        *,
        initial_backoff: float = 1.0,
        max_backoff: float = 10.0,
        max_unschedulable: float = 300.0,
    ) -> None:
        self.clock = clock
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.max_unschedulable = max_unschedulable
        self._active: list[tuple[int, float, int, PodKey]] = []
        self._active_keys: set[PodKey] = set()
        self._backoff: list[tuple[float, int, PodKey]] = []
        self._backoff_keys: set[PodKey] = set()
        self._unschedulable: dict[PodKey, QueuedPod] = {}
        self._in_flight: set[PodKey] = set()
        self._pods: dict[PodKey, QueuedPod] = {}
        self._seq = 0
        self.scheduling_cycle = 0
        self._move_request_cycle = -1

    # what the informers call ----------------------------------------------------------------
    def add(self, pod: Object) -> None:
        key = pod_key(pod)
        existing = self._pods.get(key)
        if existing is not None:
            changed = spec_changed(existing.pod, pod)
            existing.pod = pod
            if changed and key in self._in_flight:
                existing.changed_in_flight = True
            if changed and key in self._unschedulable:
                # The pod itself changed: it may fit now (upstream: an update event).
                self._move(existing)
            return
        qp = QueuedPod(key, pod, queued_at=self.clock())
        self._pods[key] = qp
        self._push_active(qp)

    update = add

    def delete(self, key: PodKey) -> None:
        self._pods.pop(key, None)
        self._unschedulable.pop(key, None)
        self._active_keys.discard(key)
        self._backoff_keys.discard(key)
        self._in_flight.discard(key)

    def move_all(self, event: str = "") -> int:
        """The cluster changed: move unschedulable pods to active (or back-off if still there)."""
        del event
        moved = list(self._unschedulable.values())
        for qp in moved:
            self._move(qp)
        self._move_request_cycle = self.scheduling_cycle
        return len(moved)

    # what the scheduling loop calls --------------------------------------------------------
    def pop(self) -> QueuedPod | None:
        self.flush()
        while self._active:
            _, _, _, key = heapq.heappop(self._active)
            if key not in self._active_keys:
                continue  # deleted or moved since pushed
            self._active_keys.discard(key)
            qp = self._pods[key]
            self.scheduling_cycle += 1
            qp.cycle = self.scheduling_cycle
            qp.attempts += 1
            qp.changed_in_flight = False
            self._in_flight.add(key)
            return qp
        return None

    def done(self, key: PodKey) -> None:
        """Scheduled (or gone): forget the pod entirely."""
        self.delete(key)

    def add_unschedulable(self, qp: QueuedPod) -> None:
        if qp.key not in self._pods:
            return  # deleted while being scheduled
        self._in_flight.discard(qp.key)
        qp.last_failure = self.clock()
        if self._move_request_cycle >= qp.cycle or qp.changed_in_flight:
            qp.changed_in_flight = False
            self._push_backoff(qp)
        else:
            self._unschedulable[qp.key] = qp

    def add_backoff(self, qp: QueuedPod) -> None:
        """An error, not a misfit: retry after back-off whatever the cluster does."""
        if qp.key not in self._pods:
            return
        self._in_flight.discard(qp.key)
        qp.last_failure = self.clock()
        self._push_backoff(qp)

    def flush(self) -> None:
        now = self.clock()
        while self._backoff and self._backoff[0][0] <= now:
            _, _, key = heapq.heappop(self._backoff)
            if key in self._backoff_keys:
                self._backoff_keys.discard(key)
                self._push_active(self._pods[key])
        stale = [
            qp
            for qp in self._unschedulable.values()
            if now - qp.last_failure >= self.max_unschedulable
        ]
        for qp in stale:
            self._move(qp)

    def next_ready_in(self) -> float | None:
        """Seconds until the earliest back-off ends (None when nothing waits on a timer)."""
        live = [at for at, _, key in self._backoff if key in self._backoff_keys]
        if not live:
            return None
        return max(0.0, min(live) - self.clock())

    def backoff_duration(self, qp: QueuedPod) -> float:
        if qp.attempts <= 0:
            return 0.0
        return min(self.initial_backoff * 2.0 ** (qp.attempts - 1), self.max_backoff)

    # introspection ---------------------------------------------------------------------
    def pending(self) -> dict[str, list[PodKey]]:
        return {
            "active": sorted(self._active_keys),
            "backoff": sorted(self._backoff_keys),
            "unschedulable": sorted(self._unschedulable),
        }

    def __len__(self) -> int:
        return len(self._pods)

    # internals ---------------------------------------------------------------------------
    def _push_active(self, qp: QueuedPod) -> None:
        self._seq += 1
        self._active_keys.add(qp.key)
        heapq.heappush(self._active, (-priority_of(qp.pod), qp.queued_at, self._seq, qp.key))

    def _push_backoff(self, qp: QueuedPod) -> None:
        self._seq += 1
        self._backoff_keys.add(qp.key)
        until = qp.last_failure + self.backoff_duration(qp)
        heapq.heappush(self._backoff, (until, self._seq, qp.key))

    def _move(self, qp: QueuedPod) -> None:
        self._unschedulable.pop(qp.key, None)
        if qp.key in self._active_keys or qp.key in self._backoff_keys:
            return
        if self.clock() < qp.last_failure + self.backoff_duration(qp):
            self._push_backoff(qp)
        else:
            self._push_active(qp)
