"""The scheduling loop: informer events in, bindings and events out.

The cluster is reached only through three small protocols, so the loop runs the same against
the in-memory cluster of the tests and benchmark and against the apiserver (through a thin
adapter over `kubelab.client`, once it exists):

- `Binder.bind(namespace, name, node)`: POST the pod's `binding` subresource;
- `EventRecorder.event(pod, type, reason, action, message)`: write an Event about the pod;
- `PodConditionWriter.set_unschedulable(pod, reason, message)`: the PodScheduled=False condition.

The informers call `on_node_event` / `on_pod_event`; one worker calls `schedule_one()` (or
`run()`). Pending pods whose `spec.schedulerName` is not ours are ignored, but every assigned pod
is counted on its node whoever scheduled it, so two schedulers can share a cluster.

Binding, like upstream's binding cycle, can run beside the next scheduling cycle: with
`bind_workers=N` the chosen node is assumed in the cache at once and the Binding is posted by a
bounded pool of N threads (at most N in flight; the worker waits for a free slot). A refused
binding forgets the assumed pod, puts it in back-off and retries the unschedulable pods (the
capacity it held is free again). With `bind_workers=0` (the default: tests, the in-memory
benchmark) binding happens inline and `schedule_one` reports its outcome.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

from controlplane.scheduler.cache import Cache
from controlplane.scheduler.errors import BindError, InvalidPodError
from controlplane.scheduler.framework import FitError, Framework, ScheduleResult
from controlplane.scheduler.plugins import default_framework
from controlplane.scheduler.pod import (
    DEFAULT_SCHEDULER_NAME,
    Object,
    PodInfo,
    PodKey,
    is_being_deleted,
    is_terminal,
    node_name_of,
    pod_key,
    scheduler_name_of,
)
from controlplane.scheduler.queue import Clock, QueuedPod, SchedulingQueue

log = logging.getLogger(__name__)

REASON_SCHEDULED = "Scheduled"
REASON_FAILED = "FailedScheduling"
CONDITION_UNSCHEDULABLE = "Unschedulable"
CONDITION_SCHEDULER_ERROR = "SchedulerError"
NODE_FIELDS_THAT_MATTER = (
    ("spec", "taints"),
    ("spec", "unschedulable"),
    ("metadata", "labels"),
    ("status", "allocatable"),
)


class Binder(Protocol):
    def bind(self, namespace: str, name: str, node: str) -> None:
        """Raise BindError when refused."""
        ...


class EventRecorder(Protocol):
    def event(self, pod: Object, type_: str, reason: str, action: str, message: str) -> None: ...


class PodConditionWriter(Protocol):
    def set_unschedulable(self, pod: Object, reason: str, message: str) -> None: ...


class WatchEvent(Enum):
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"


class Outcome(Enum):
    BOUND = "bound"
    BINDING = "binding"  # assumed; the Binding is being posted by the bind pool
    UNSCHEDULABLE = "unschedulable"
    ERROR = "error"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Attempt:
    pod: PodKey
    outcome: Outcome
    node: str = ""
    message: str = ""


def _get(obj: Mapping[str, Any], path: tuple[str, str]) -> Any:
    return (obj.get(path[0]) or {}).get(path[1])


def node_change_matters(old: Object | None, new: Object) -> bool:
    """Only changes that can make a pod fit wake the unschedulable pool (upstream filters too)."""
    if old is None:
        return True
    return any(_get(old, p) != _get(new, p) for p in NODE_FIELDS_THAT_MATTER)


class Scheduler:
    def __init__(
        self,
        binder: Binder,
        recorder: EventRecorder,
        conditions: PodConditionWriter | None = None,
        *,
        scheduler_name: str = DEFAULT_SCHEDULER_NAME,
        framework: Framework | None = None,
        clock: Clock = time.monotonic,
        queue: SchedulingQueue | None = None,
        bind_workers: int = 0,
    ) -> None:
        if bind_workers < 0:
            raise ValueError(f"bind_workers={bind_workers}: expected 0 (inline) or more")
        self.binder = binder
        self.recorder = recorder
        self.conditions = conditions
        self.scheduler_name = scheduler_name
        self.framework = framework if framework is not None else default_framework()
        self.clock = clock
        self.cache = Cache()
        self.queue = queue if queue is not None else SchedulingQueue(clock)
        self._nodes: dict[str, Object] = {}
        self._lock = threading.Condition()
        self._changes = 0
        self.bind_workers = bind_workers
        self._binding = 0  # bindings in flight (guarded by _lock)
        self._bind_slots = threading.BoundedSemaphore(max(1, bind_workers))
        self._bind_pool = (
            ThreadPoolExecutor(max_workers=bind_workers, thread_name_prefix="bind")
            if bind_workers
            else None
        )

    # informer side -------------------------------------------------------------------------
    def responsible_for(self, pod: Object) -> bool:
        return scheduler_name_of(pod) == self.scheduler_name

    def on_node_event(self, kind: WatchEvent, node: Object) -> None:
        name = str((node.get("metadata") or {}).get("name", ""))
        with self._lock:
            if kind is WatchEvent.DELETED:
                self._nodes.pop(name, None)
                self.cache.remove_node(name)
                return
            old = self._nodes.get(name)
            try:
                self.cache.add_node(node)
            except InvalidPodError as exc:
                # A node whose allocatable cannot be read is left out rather than guessed at.
                log.warning("ignoring node with unreadable fields node=%s error=%s", name, exc)
                self._nodes.pop(name, None)
                self.cache.remove_node(name)
                return
            self._nodes[name] = node
            if node_change_matters(old, node):
                self.queue.move_all("NodeAdd" if old is None else "NodeUpdate")
                self._notify()

    def on_pod_event(self, kind: WatchEvent, pod: Object) -> None:
        key = pod_key(pod)
        with self._lock:
            assigned = bool(node_name_of(pod))
            if kind is WatchEvent.DELETED or (assigned and is_terminal(pod)):
                self.queue.delete(key)
                was_counted = self.cache.node_of(key) is not None
                self.cache.remove_pod(pod)
                if was_counted:
                    self.queue.move_all("AssignedPodDelete")
                    self._notify()
                return
            if assigned:
                self.queue.delete(key)
                try:
                    self.cache.add_pod(pod)
                except InvalidPodError as exc:
                    log.warning("cannot count assigned pod pod=%s error=%s", key, exc)
                return
            if not self.responsible_for(pod) or is_terminal(pod):
                return
            self.queue.add(pod)
            self._notify()

    # worker side ---------------------------------------------------------------------------
    def schedule_one(self) -> Attempt | None:
        """Take one pod off the queue and schedule it; None when nothing is ready."""
        failure: FitError | str | None = None
        with self._lock:
            qp = self.queue.pop()
            if qp is None:
                return None
            if is_being_deleted(qp.pod) or self.cache.is_assumed(qp.key):
                self.queue.done(qp.key)
                return Attempt(qp.key, Outcome.SKIPPED)
            try:
                info = PodInfo.from_object(qp.pod)
            except InvalidPodError as exc:
                self.queue.add_backoff(qp)
                failure = str(exc)
            else:
                result = self.framework.schedule(info, self.cache.snapshot())
                if isinstance(result, FitError):
                    self.queue.add_unschedulable(qp)
                    failure = result
                else:
                    # Assume before binding: the next cycle must already count this pod.
                    self.cache.assume(info, result.node)
        # Talking to the cluster happens outside the lock: informers keep flowing meanwhile.
        if isinstance(failure, FitError):
            return self._unschedulable(qp, failure)
        if failure is not None or isinstance(result, FitError):
            return self._report_error(qp, str(failure))
        if self._bind_pool is None:
            return self._bind_guarded(qp, info, result)
        return self._bind_async(self._bind_pool, qp, info, result)

    def _bind_async(
        self, pool: ThreadPoolExecutor, qp: QueuedPod, info: PodInfo, result: ScheduleResult
    ) -> Attempt:
        # Back-pressure: at most bind_workers bindings in flight (and assumed pods unconfirmed).
        self._bind_slots.acquire()
        with self._lock:
            self._binding += 1
        try:
            pool.submit(self._binding_cycle, qp, info, result)
        except RuntimeError:  # the pool was shut down: bind here instead
            self._binding_cycle(qp, info, result)
        return Attempt(info.key, Outcome.BINDING, result.node)

    def _binding_cycle(self, qp: QueuedPod, info: PodInfo, result: ScheduleResult) -> None:
        try:
            self._bind_guarded(qp, info, result)
        finally:
            self._bind_slots.release()
            with self._lock:
                self._binding -= 1
                self._lock.notify_all()  # wait_for_bindings; no new work for the loop

    def _bind_guarded(self, qp: QueuedPod, info: PodInfo, result: ScheduleResult) -> Attempt:
        try:
            return self._bind(qp, info, result)
        except Exception as exc:
            # Not a refusal (those are handled in _bind): a bug or an unexpected client error.
            # The pod must not stay assumed forever: forget it and retry after back-off.
            log.exception("binding failed pod=%s node=%s", info.key, result.node)
            self._forget_and_requeue(qp, info)
            message = f'Binding failed: running Bind plugin "DefaultBinder": {exc}'
            return self._report_error(qp, message)

    def _forget_and_requeue(self, qp: QueuedPod, info: PodInfo) -> None:
        with self._lock:
            self.cache.forget(info.key)
            self.queue.add_backoff(qp)
            # The capacity the assumed pod held is free again (upstream does the same).
            self.queue.move_all("AssignedPodDelete")
            self._notify()

    def _bind(self, qp: QueuedPod, info: PodInfo, result: ScheduleResult) -> Attempt:
        try:
            self.binder.bind(info.namespace, info.name, result.node)
        except BindError as exc:
            self._forget_and_requeue(qp, info)
            log.warning("binding rejected pod=%s node=%s error=%s", info.key, result.node, exc)
            message = f'Binding rejected: running Bind plugin "DefaultBinder": {exc}'
            return self._report_error(qp, message)
        with self._lock:
            self.queue.done(info.key)
        log.info(
            "bound pod=%s node=%s feasible=%d/%d",
            info.key,
            result.node,
            result.feasible,
            result.evaluated,
        )
        self._record(
            qp.pod,
            "Normal",
            REASON_SCHEDULED,
            "Binding",
            f"Successfully assigned {info.key} to {result.node}",
        )
        return Attempt(info.key, Outcome.BOUND, result.node)

    def _unschedulable(self, qp: QueuedPod, error: FitError) -> Attempt:
        log.info("unschedulable pod=%s message=%r", qp.key, error.message)
        self._record(qp.pod, "Warning", REASON_FAILED, "Scheduling", error.message)
        self._condition(qp.pod, CONDITION_UNSCHEDULABLE, error.message)
        return Attempt(qp.key, Outcome.UNSCHEDULABLE, message=error.message)

    def _report_error(self, qp: QueuedPod, message: str) -> Attempt:
        log.warning("scheduling error pod=%s error=%s", qp.key, message)
        self._record(qp.pod, "Warning", REASON_FAILED, "Scheduling", message)
        self._condition(qp.pod, CONDITION_SCHEDULER_ERROR, message)
        return Attempt(qp.key, Outcome.ERROR, message=message)

    def _record(self, pod: Object, type_: str, reason: str, action: str, message: str) -> None:
        # Upstream truncates event messages to 1024 bytes; events are best effort.
        try:
            self.recorder.event(pod, type_, reason, action, message[:1024])
        except Exception:
            log.exception("cannot record event pod=%s reason=%s", pod_key(pod), reason)

    def _condition(self, pod: Object, reason: str, message: str) -> None:
        if self.conditions is None:
            return
        try:
            self.conditions.set_unschedulable(pod, reason, message)
        except Exception:
            log.exception("cannot update PodScheduled condition pod=%s", pod_key(pod))

    def run_until_idle(self, limit: int = 1_000_000) -> list[Attempt]:
        """Schedule until no pod is ready now (tests, benchmark, dry runs)."""
        attempts = []
        for _ in range(limit):
            attempt = self.schedule_one()
            if attempt is None:
                break
            attempts.append(attempt)
        return attempts

    def wait_for_bindings(self, timeout: float | None = None) -> bool:
        """Wait until no binding is in flight; False on timeout."""
        with self._lock:
            return self._lock.wait_for(lambda: self._binding == 0, timeout)

    def bindings_in_flight(self) -> int:
        with self._lock:
            return self._binding

    def close(self, timeout: float | None = None) -> None:
        """Let in-flight bindings finish (bounded by `timeout`) and stop the bind pool."""
        self.wait_for_bindings(timeout)
        if self._bind_pool is not None:
            self._bind_pool.shutdown(wait=False, cancel_futures=False)

    def run(self, stop: threading.Event, *, idle_wait: float = 1.0) -> None:
        """The worker: schedule while pods are ready; sleep until an event or a back-off ends."""
        while not stop.is_set():
            with self._lock:
                seen = self._changes
            if self.schedule_one() is not None:
                continue
            with self._lock:
                if self._changes != seen:
                    continue  # something arrived while we looked: no lost wake-up
                wait = self.queue.next_ready_in()
                self._lock.wait(timeout=idle_wait if wait is None else min(wait, idle_wait))

    def wake(self) -> None:
        with self._lock:
            self._notify()

    def _notify(self) -> None:
        self._changes += 1
        self._lock.notify_all()


def run_in_thread(scheduler: Scheduler, stop: threading.Event) -> threading.Thread:
    thread = threading.Thread(target=scheduler.run, args=(stop,), name="scheduler", daemon=True)
    thread.start()
    return thread


class Elector(Protocol):
    def run(
        self,
        stop: Callable[[], bool],
        on_started_leading: Callable[[], None],
        on_stopped_leading: Callable[[], None],
        *,
        sleep: Callable[[float], None] = ...,
    ) -> None: ...


def run_leader_elected(scheduler: Scheduler, elector: Elector, stop: threading.Event) -> bool:
    """Schedule only while holding the Lease (informers keep the cache warm meanwhile).

    Returns True when leadership was lost, False when `stop` was set; kube-scheduler exits on a
    lost lease rather than trying to lead again with possibly stale state, and so should the
    caller.
    """
    worker_stop = threading.Event()
    worker: list[threading.Thread] = []
    lost = threading.Event()

    def started() -> None:
        log.info("started leading scheduler_name=%s", scheduler.scheduler_name)
        worker.append(run_in_thread(scheduler, worker_stop))

    def stopped() -> None:
        log.warning("leader election lost scheduler_name=%s", scheduler.scheduler_name)
        lost.set()

    def pause(seconds: float) -> None:
        stop.wait(seconds)

    try:
        elector.run(stop.is_set, started, stopped, sleep=pause)
    finally:
        worker_stop.set()
        scheduler.wake()
        for thread in worker:
            thread.join(timeout=5)
    return lost.is_set()
