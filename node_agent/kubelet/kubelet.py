"""The kubelet loop: desired pods from a `PodSource`, the runtime carries out sync plans, status
goes to a `StatusSink`.

Structure (like the upstream kubelet, small): a main loop relists the source and hands pods to
workers (one sync per pod at a time, several pods in parallel): pods still settling every
relist period, quiet ones every resync period, and a pod at once when the runtime reports one
of its containers ended (`container_exited`); a prober thread runs due probes and wakes the
pod's sync when a verdict changes; the node status and the Lease are reported on their own
periods. The decisions are the pure
functions in `sync.py` and `status.py`; this module only sequences IO.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from kubelab.api.errors import ApiError
from node_agent.images import catalog
from node_agent.kubelet.backoff import BackOff, BackOffPolicy
from node_agent.kubelet.errors import (
    ConfigError,
    ImageNotFoundError,
    KubeletError,
    ManifestError,
)
from node_agent.kubelet.events import NORMAL, WARNING, EventRecorder
from node_agent.kubelet.node import NodeConfig, lease_object, node_object
from node_agent.kubelet.probemanager import ProbeManager
from node_agent.kubelet.routes import PodRoute, node_routes
from node_agent.kubelet.runtime import Runtime
from node_agent.kubelet.spec import (
    PodAdded,
    PodsChanged,
    PodSpec,
    changed_beyond_status,
    parse_pod,
)
from node_agent.kubelet.state import ObservedPod
from node_agent.kubelet.status import pod_status, rejected_status
from node_agent.kubelet.sync import (
    CreateSandbox,
    KillContainer,
    Plan,
    PullFailed,
    StartContainer,
    Waiting,
    backoff_key,
    compute_plan,
    pull_key,
)

log = logging.getLogger(__name__)

Object = dict[str, Any]


class PodSource(Protocol):
    def pods(self) -> list[Object]:
        """Every pod this node should run now (Kubernetes Pod objects with metadata.uid)."""


class WatchablePodSource(PodSource, Protocol):
    def watch(self, changed: PodsChanged, stop: threading.Event, added: PodAdded) -> None:
        """Block until `stop` is set, calling `changed()` whenever the desired pods change;
        a source that sees single pods arrive may call `added(pod)` for those instead."""


class NodeSource(Protocol):
    def nodes(self) -> list[Object]:
        """Every Node object of the cluster (for routes to the other nodes' pod CIDRs)."""


class RouteSync(Protocol):
    def sync_routes(self, desired: Iterable[PodRoute]) -> None: ...


class Mirrors(Protocol):
    def sync_mirrors(self) -> object:
        """Bring the API's mirror pods in step with the static pods (`mirror.py`)."""


class StatusSink(Protocol):
    def pod_status(self, pod: Object, status: Object) -> None: ...
    def pod_removed(self, namespace: str, name: str, uid: str) -> None: ...
    def node_status(self, node: Object) -> None: ...
    def renew_lease(self, lease: Object) -> None: ...
    def event(self, event: Object) -> None: ...


@dataclass(frozen=True)
class KubeletConfig:
    node: NodeConfig
    relist_period: float = 1.0  # pods still settling (starting, waiting, backing off)
    resync_period: float = 10.0  # every pod, however quiet (`--sync-frequency`)
    probe_tick: float = 0.1
    node_status_period: float = 10.0
    lease_renew_period: float = 10.0
    backoff: BackOffPolicy = field(default_factory=BackOffPolicy)
    workers: int = 8


def _strip_times(status: Object) -> Object:
    """The status without heartbeat-like fields, to decide whether a report is news."""
    out = dict(status)
    out["conditions"] = [
        {k: v for k, v in c.items() if k != "lastTransitionTime"}
        for c in status.get("conditions", [])
    ]
    return out


class Kubelet:
    def __init__(
        self,
        config: KubeletConfig,
        source: PodSource,
        sink: StatusSink,
        runtime: Runtime,
        *,
        clock: Callable[[], float] = time.time,
        image_known: Callable[[str], bool] = lambda image: catalog.lookup(image) is not None,
        nodes: NodeSource | None = None,
        routes: RouteSync | None = None,
        mirrors: Mirrors | None = None,
    ) -> None:
        self.config = config
        self.source = source
        self.sink = sink
        self.runtime = runtime
        self.clock = clock
        self.image_known = image_known
        self.nodes = nodes
        self.routes = routes
        self.mirrors = mirrors
        self.backoff = BackOff(config.backoff)
        self.pods: dict[str, PodSpec] = {}
        self.start_times: dict[str, float] = {}
        self.last_plan: dict[str, Plan] = {}
        self.statuses: dict[str, Object] = {}
        self.observed: dict[str, ObservedPod] = {}
        self._synced_at: dict[str, float] = {}
        self.bad_manifests: dict[str, str] = {}
        self.rejected: dict[str, PodSpec] = {}
        # uid -> (spec, the object last seen for it), from the last relist
        self._parsed: dict[str, tuple[PodSpec, Object]] = {}
        self._lock = threading.RLock()
        self._busy: set[str] = set()
        self._idle_since: float | None = time.monotonic()  # None while a pod syncs
        self._again: set[str] = set()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="podsync")
        self.events = EventRecorder(config.node.name, clock, sink.event)
        self.probes = ProbeManager(
            runtime, clock, self._pool.submit, self._submit, on_failure=self._probe_failed
        )
        self._adopted = False

    # -- desired state -------------------------------------------------------------------
    def _desired(self) -> dict[str, PodSpec]:
        """The source's pods, parsed; invalid ones are logged once and skipped."""
        desired: dict[str, PodSpec] = {}
        parsed: dict[str, tuple[PodSpec, Object]] = {}
        for obj in self.source.pods():
            meta = obj.get("metadata", {})
            # A relist re-reads every pod; parse only those whose spec or metadata changed
            # since the last one. The kubelet's own status writes change nothing it parses:
            # such a pod keeps its spec (and the object it was parsed from).
            uid = str(meta.get("uid", ""))
            known = self._parsed.get(uid) if uid else None
            if known is not None and (
                known[1] is obj or not changed_beyond_status(known[0].raw, obj)
            ):
                pod = known[0]
            else:
                ident = f"{meta.get('namespace', 'default')}/{meta.get('name')}"
                try:
                    pod = parse_pod(obj)
                except ManifestError as exc:
                    if self.bad_manifests.get(ident) != str(exc):
                        log.error("invalid pod pod=%s err=%s", ident, exc)
                        self.bad_manifests[ident] = str(exc)
                        if uid:  # an API pod: say why on the pod itself, as admission does
                            status = rejected_status("UnsupportedPodSpec", str(exc))
                            self.sink.pod_status(obj, status)
                    continue
                self.bad_manifests.pop(ident, None)
                if not pod.uid:
                    log.error("pod without metadata.uid pod=%s", pod.key)
                    continue
            if uid:
                parsed[uid] = (pod, obj)
            desired[pod.uid] = pod
        self._parsed = parsed
        return desired

    def refresh(self) -> None:
        """Read the source; remember new pods, remove pods that are gone (and orphans)."""
        desired = self._desired()
        with self._lock:
            gone = [uid for uid in self.pods if uid not in desired]
            for uid in gone:
                del self.pods[uid]
            for uid in [u for u in self.rejected if u not in desired]:
                pod = self.rejected.pop(uid)
                self.sink.pod_removed(pod.namespace, pod.name, uid)
            # New or changed pods only (the rest are already known as they are), new ones
            # admitted in name order.
            changed = [(u, p) for u, p in desired.items() if self.pods.get(u) is not p]
            for uid, pod in sorted(changed, key=lambda item: item[1].key):
                if uid in self.pods:
                    self.pods[uid] = pod
                elif uid not in self.rejected:
                    self._add(pod)
        known = set(desired)
        orphans = set()
        if not self._adopted:
            # After a restart the runtime may hold pods the source no longer lists.
            orphans = {uid for uid in self.runtime.pod_uids() if uid not in known}
            adopted = [uid for uid in self.runtime.pod_uids() if uid in known]
            if adopted:
                log.info("adopting running pods count=%d", len(adopted))
            self._adopted = True
        for uid in [*gone, *sorted(orphans)]:
            self._submit(uid, remove=True)

    def _add(self, pod: PodSpec) -> bool:
        """A pod new to the kubelet, if admitted (call with the lock held)."""
        if not self._admit(pod):
            return False
        log.info("pod added pod=%s uid=%s", pod.key, pod.uid)
        self.start_times.setdefault(pod.uid, self.clock())
        self.pods[pod.uid] = pod
        return True

    def _admit(self, pod: PodSpec) -> bool:
        """Admission as the kubelet does it for capacity: at most `pods` pods on the node."""
        if len(self.pods) < self.config.node.capacity.pods:
            return True
        log.warning("pod rejected pod=%s reason=OutOfpods", pod.key)
        self.rejected[pod.uid] = pod
        why = "Node didn't have enough resource: pods"
        self.sink.pod_status(pod.raw, rejected_status("OutOfpods", why))
        return False

    # -- per-pod work --------------------------------------------------------------------
    def _submit(self, uid: str, remove: bool = False, again: bool = True) -> None:
        """Sync (or remove) pod `uid` on a worker. If a worker has it already, `again` asks
        for one more sync after the current one: for news the current sync may have missed
        (an exit, a probe, a removal). A relist passes again=False: the running sync reads
        the same state, and a pod still settling afterwards is taken up by the next relist
        (at most `relist_period` later); a burst of pods would otherwise sync each one twice."""
        if self._stop.is_set():
            return
        with self._lock:
            if uid in self._busy:
                if again:
                    self._again.add(uid)
                return
            self._busy.add(uid)
            self._idle_since = None
        self._pool.submit(self._work, uid, remove)

    def _work(self, uid: str, remove: bool) -> None:
        try:
            while True:
                try:
                    if remove or uid not in self.pods:
                        self.remove_pod(uid)
                    else:
                        self.sync_pod(uid)
                except Exception:
                    log.exception("pod sync failed uid=%s", uid)
                with self._lock:
                    if uid in self._again and not self._stop.is_set():
                        self._again.discard(uid)
                        remove = uid not in self.pods
                        continue
                    self._done(uid)
                    return
        finally:
            with self._lock:
                self._done(uid)

    def _done(self, uid: str) -> None:
        """`uid` is no longer being synced; called with `_lock` held."""
        self._busy.discard(uid)
        if not self._busy and self._idle_since is None:
            self._idle_since = time.monotonic()

    def sync_pod(self, uid: str) -> None:
        pod = self.pods.get(uid)
        if pod is None:
            return
        now = self.clock()
        observed = self.runtime.observe(pod)
        if observed.sandbox_ready and observed.runs:
            self._refresh_volumes(pod)
        for run in observed.runs.values():
            if run.finished_at is not None:
                self.backoff.note_run(backoff_key(uid, run.name), run.started_at, run.finished_at)
        plan = self._plan(pod, observed, now)
        waiting = self._carry_out(pod, plan, now)
        settled = False
        if plan.actions:
            observed = self.runtime.observe(pod)
            # Usually the actions leave nothing to do: then the pod has settled, and the next
            # relist need not sync it again (an exit or a probe result still syncs it at once).
            left = self._plan(pod, observed, self.clock())
            settled = not left.actions and not left.waiting and not waiting
        plan = Plan(plan.actions, waiting, plan.init_failed)
        self._backoff_events(pod, plan)
        self.last_plan[uid] = Plan((), waiting, plan.init_failed) if settled else plan
        self.observed[uid] = observed
        self._synced_at[uid] = time.monotonic()
        self._report(pod, observed, plan)

    def _refresh_volumes(self, pod: PodSpec) -> None:
        """ConfigMap and Secret changes reach a running pod's volumes on its next sync (every
        `--sync-frequency` at the latest), as upstream's; a failure waits for the next one."""
        try:
            self.runtime.refresh_volumes(pod)
        except (OSError, KubeletError, ApiError) as exc:
            log.warning("volume refresh failed pod=%s err=%s", pod.key, exc)

    def _plan(self, pod: PodSpec, observed: ObservedPod, now: float) -> Plan:
        return compute_plan(
            pod,
            observed,
            now=now,
            backoff=self.backoff,
            probes=self.probes.verdicts(pod.uid),
            image_known=self.image_known,
        )

    def _carry_out(self, pod: PodSpec, plan: Plan, now: float) -> dict[str, Waiting]:
        """Execute the plan's actions in order; the waiting reasons to report."""
        waiting = dict(plan.waiting)
        for action in plan.actions:
            try:
                self._execute(pod, action, now)
            except ConfigError as exc:
                if isinstance(action, CreateSandbox):  # a volume's ConfigMap/Secret is missing
                    for spec in (*pod.init_containers, *pod.containers):
                        waiting[spec.name] = Waiting("ContainerCreating", str(exc))
                    log.warning("pod volumes pod=%s err=%s", pod.key, exc)
                    break
                name = getattr(action, "name", "")
                waiting[name] = Waiting("CreateContainerConfigError", str(exc))
                log.warning("container config pod=%s container=%s err=%s", pod.key, name, exc)
            except KubeletError as exc:
                log.warning("pod action failed pod=%s action=%s err=%s", pod.key, action, exc)
                if isinstance(action, CreateSandbox):
                    break
        for name, wait in waiting.items():
            c = pod.container(name)
            if wait.reason == "ErrImagePull" and c is not None:
                message = str(ImageNotFoundError(c.image, catalog.known_images()))
                waiting[name] = Waiting(wait.reason, message)
        return waiting

    def _backoff_events(self, pod: PodSpec, plan: Plan) -> None:
        """A BackOff event when a container starts waiting on a back-off (not every sync)."""
        before = self.last_plan.get(pod.uid)
        for name, wait in plan.waiting.items():
            was = before.waiting.get(name) if before else None
            if wait.reason not in ("CrashLoopBackOff", "ImagePullBackOff"):
                continue
            if was is not None and was.reason == wait.reason:
                continue
            text = (
                f"Back-off restarting failed container {name} in pod {pod.name}"
                if wait.reason == "CrashLoopBackOff"
                else wait.message
            )
            self.events.record(pod, "BackOff", text, WARNING, name)

    def _execute(self, pod: PodSpec, action: object, now: float) -> None:
        if isinstance(action, CreateSandbox):
            try:
                self.runtime.create_sandbox(pod)
            except KubeletError as exc:
                self.events.record(pod, "FailedCreatePodSandBox", str(exc), WARNING)
                raise
        elif isinstance(action, StartContainer):
            self._start(pod, action, now)
        elif isinstance(action, KillContainer):
            log.info(
                "killing container pod=%s container=%s reason=%s msg=%s",
                pod.key, action.name, action.reason, action.message,
            )  # fmt: skip
            why = {
                "Unhealthy": "failed liveness probe, will be restarted",
                "StartupProbe": "failed startup probe, will be restarted",
            }.get(action.reason, "is being stopped")
            self.events.record(
                pod, "Killing", f"Container {action.name} {why}", NORMAL, action.name
            )
            self.runtime.kill_container(pod, action.name, pod.grace_period)
            self.probes.forget(pod.uid, action.name)
        elif isinstance(action, PullFailed):
            self.backoff.next(pull_key(pod.uid, action.name), now)
            c = pod.container(action.name)
            image = c.image if c else "?"
            msg = str(ImageNotFoundError(image, catalog.known_images()))
            self.events.record(
                pod, "Failed", f'Failed to pull image "{image}": {msg}', WARNING, action.name
            )

    def _start(self, pod: PodSpec, action: StartContainer, now: float) -> None:
        if action.attempt > 0:
            self.backoff.next(backoff_key(pod.uid, action.name), now)
        self.probes.forget(pod.uid, action.name)
        c = pod.container(action.name)
        image = c.image if c else "?"
        name = action.name
        self.events.record(
            pod, "Pulled", f'Container image "{image}" already present on machine', NORMAL, name
        )
        try:
            self.runtime.start_container(pod, name, action.attempt)
        except KubeletError as exc:
            self.events.record(pod, "Failed", f"Error: {exc}", WARNING, name)
            raise
        self.events.record(pod, "Created", f"Created container {name}", NORMAL, name)
        self.events.record(pod, "Started", f"Started container {name}", NORMAL, name)
        self._post_start(pod, name)

    def _probe_failed(self, pod: PodSpec, name: str, kind: str, message: str) -> None:
        text = f"{kind.capitalize()} probe failed: {message}".strip()
        self.events.record(pod, "Unhealthy", text, WARNING, name)

    def _post_start(self, pod: PodSpec, name: str) -> None:
        """Run the postStart hook; a failing hook kills the container (then restart policy)."""
        c = pod.container(name)
        if c is None or c.post_start is None:
            return
        result = self.runtime.exec(pod, name, c.post_start.command, timeout=30)
        if result.exit_code != 0:
            log.warning(
                "postStart hook failed pod=%s container=%s exit=%d output=%s",
                pod.key, name, result.exit_code, result.output.strip()[-200:],
            )  # fmt: skip
            self.events.record(
                pod, "FailedPostStartHook", f"PostStartHook failed: {result.output.strip()}",
                WARNING, name,
            )  # fmt: skip
            self.runtime.kill_container(pod, name, pod.grace_period)

    def _report(self, pod: PodSpec, observed: ObservedPod, plan: Plan) -> None:
        status = pod_status(
            pod,
            observed,
            plan,
            self.probes.health(pod, observed),
            now=self.clock(),
            host_ip=self.config.node.node_ip,
            start_time=self.start_times.get(pod.uid, self.clock()),
            previous=self.statuses.get(pod.uid),
        )
        old = self.statuses.get(pod.uid)
        if old is not None and _strip_times(old) == _strip_times(status):
            return
        self.statuses[pod.uid] = status
        log.debug("pod status pod=%s phase=%s ip=%s", pod.key, status["phase"], status.get("podIP"))
        self.sink.pod_status(pod.raw, status)

    def remove_pod(self, uid: str) -> None:
        pod = self.runtime.stored_pod(uid)
        self.runtime.remove_pod(uid)
        self.probes.forget(uid, None)
        self.backoff.forget_prefix(f"{uid}/")
        self.events.forget(uid)
        self.statuses.pop(uid, None)
        self.observed.pop(uid, None)
        self._synced_at.pop(uid, None)
        self.last_plan.pop(uid, None)
        self.start_times.pop(uid, None)
        if pod is not None:
            self.sink.pod_removed(pod.namespace, pod.name, uid)

    # -- probes --------------------------------------------------------------------------
    def probe_tick(self) -> None:
        ips = {uid: str(st.get("podIP", "")) for uid, st in list(self.statuses.items())}
        self.probes.tick(self.pods, self.observed, ips)

    # -- node ----------------------------------------------------------------------------
    def report_node(self, ready: bool = True) -> None:
        now = self.clock()
        self.sink.node_status(node_object(self.config.node, now=now, ready=ready))

    def sync_node_routes(self) -> None:
        """One route per other node's pod CIDR, from the Node objects (when both are wired)."""
        if self.nodes is None or self.routes is None:
            return
        self.routes.sync_routes(node_routes(self.nodes.nodes(), self.config.node.name))

    def renew_lease(self) -> None:
        self.sink.renew_lease(lease_object(self.config.node.name, now=self.clock()))

    # -- loop ----------------------------------------------------------------------------
    def sync_all(self) -> None:
        """Relist: pods still settling every relist period, every pod every resync period.
        Container exits (`container_exited`) and probe changes sync a pod at once."""
        self.refresh()
        if self.mirrors is not None:
            self.mirrors.sync_mirrors()
        now = time.monotonic()
        for uid in list(self.pods):
            plan = self.last_plan.get(uid)
            settling = plan is None or bool(plan.actions or plan.waiting)
            quiet_for = now - self._synced_at.get(uid, 0.0)
            if settling or quiet_for >= self.config.resync_period:
                self._submit(uid, again=False)

    def idle_for(self) -> float:
        """Seconds since the last pod sync or removal ended; 0.0 while one runs."""
        with self._lock:
            since = self._idle_since
        return 0.0 if since is None else time.monotonic() - since

    def pod_added(self, obj: Object) -> None:
        """A pod the source has just added (its watch calls this): parsed, admitted and synced
        at once, without relisting every pod, which a burst of pods would otherwise do once
        per pod. Whatever is unusual about it is left to a relist."""
        uid = str((obj.get("metadata") or {}).get("uid") or "")
        try:
            pod = parse_pod(obj) if uid else None
        except ManifestError:
            pod = None
        if pod is None:
            self.wake()  # the relist reports it (once)
            return
        with self._lock:
            if uid in self.pods or uid in self.rejected or not self._adopted:
                return  # known already, or the first relist (adoption) has not run yet
            if not self._add(pod):
                return
            self._parsed[uid] = (pod, obj)
        self._submit(uid)

    def container_exited(self, uid: str) -> None:
        """The runtime saw a container of pod `uid` end: sync that pod now."""
        if uid in self.pods:
            self._submit(uid)

    def run(self) -> None:
        prober = threading.Thread(target=self._probe_loop, name="prober", daemon=True)
        prober.start()
        watch = getattr(self.source, "watch", None)
        if callable(watch):  # a source that can tell about changes between relists
            threading.Thread(
                target=watch,
                args=(self.wake, self._stop, self.pod_added),
                name="source",
                daemon=True,
            ).start()
        next_node = next_lease = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            try:
                if now >= next_node:
                    self.report_node()
                    self.sync_node_routes()
                    next_node = now + self.config.node_status_period
                if now >= next_lease:
                    self.renew_lease()
                    next_lease = now + self.config.lease_renew_period
                self.sync_all()
            except Exception:
                log.exception("kubelet loop iteration failed")
            self._wake.wait(min(self.config.relist_period, self.config.resync_period))
            self._wake.clear()
        prober.join(timeout=2)

    def _probe_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.probe_tick()
            except Exception:
                log.exception("prober tick failed")
            self._stop.wait(self.config.probe_tick)

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        """Stop the loops and wait for running work; the pods keep running (as upstream)."""
        self._stop.set()
        self._wake.set()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def drain(self) -> None:
        """Remove every pod this node runs (for `--cleanup` and `kubelab down`)."""
        for uid in sorted(self.runtime.pod_uids()):
            self.runtime.remove_pod(uid, grace=0)
