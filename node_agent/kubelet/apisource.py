"""The kubelet's way into a real cluster: `PodSource`, `StatusSink`, `NodeSource` and
`ConfigLookup` over `kubelab.client`.

- pods: an informer on pods with `spec.nodeName=<node>`; `pods()` hands the kubelet those not
  being deleted (the informer's own objects: read-only), and wakes it when a pod is added or
  removed or anything but its status changes (`watch`; the kubelet's own status writes come
  back as updates and must not make it relist);
- static pods (`--pod-manifest-path` next to `--kubeconfig`): `StaticAndApiSource` runs both;
  their mirror pods (`mirror.py`) are left out of `pods()`, kept in step by `sync_mirrors()`
  and carry the static pods' status;
- graceful deletion: a pod with `deletionTimestamp` leaves `pods()`, so the kubelet stops its
  containers (with the pod's grace period) and removes the sandbox; once nothing of it runs on
  the node (`running_uids()` no longer has it) the adapter deletes it with grace 0 and a uid
  precondition, which removes the object, as upstream's status manager does;
- status: `pods/status` merge patches, queued (`statusqueue.StatusQueue`: the latest status
  per pod, several pods written in parallel) so a pod sync never waits for the apiserver; a
  failed write is retried on the next relist;
- the Node: created at the first report with `--node-labels`, `--register-with-taints` and
  `podCIDR`, then only its status is patched (upstream registers taints once, too); the Lease
  `kube-node-lease/<node>` is created or renewed;
- other nodes: a Node informer for the routes to their pod CIDRs;
- ConfigMaps and Secrets are read from the apiserver when a container starts, and again on
  each sync of a running pod that mounts them (its volumes follow the objects);
- Events (Pulled, Started, Killing, BackOff, ...) are created, repeats patched (count), by one
  background thread that lets pod syncs and queued status writes go first: it writes once
  both have been idle for `EVENT_QUIET` seconds, or `EVENT_DELAY_MAX` seconds after the Event
  was recorded.

Flag parsing for `--node-labels` and `--register-with-taints` is pure and lives here too.
Nothing here decides what runs: that is `kubelet.Kubelet` and `sync.py`.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kubelab.api.errors import AlreadyExists, ApiError, Conflict, NotFound
from kubelab.client import EVENTS, LEASES, NAMESPACES, NODES, PODS, Client, Informer
from node_agent.kubelet.errors import KubeletError, ManifestError
from node_agent.kubelet.mirror import (
    MIRROR,
    MirrorPlan,
    MirrorSync,
    config_hash,
    is_mirror,
    is_static,
)
from node_agent.kubelet.node import LEASE_NAMESPACE
from node_agent.kubelet.spec import PodAdded, PodsChanged, changed_beyond_status
from node_agent.kubelet.statusqueue import StatusQueue

log = logging.getLogger(__name__)

Object = dict[str, Any]
EVENT_DELAY_MAX = 2.0  # seconds after recording an Event may wait for syncs and status writes
EVENT_QUIET = 0.2  # seconds without pod syncs and status writes before Events go

TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


class NotSyncedError(KubeletError):
    """The pod informer has not listed yet: running nothing would remove every pod."""


# -- flags (pure) ------------------------------------------------------------------------------
def parse_node_labels(text: str) -> tuple[tuple[str, str], ...]:
    """`--node-labels k=v,k2=` -> (("k", "v"), ("k2", ""))."""
    out: list[tuple[str, str]] = []
    for item in (i.strip() for i in text.split(",")):
        if not item:
            continue
        key, sep, val = item.partition("=")
        if not sep or not _LABEL_KEY.match(key) or not _LABEL_VALUE.match(val) or len(val) > 63:
            raise ManifestError("--node-labels", item, "expected key=value with label syntax")
        out.append((key, val))
    return tuple(out)


def parse_taints(text: str) -> tuple[Object, ...]:
    """`--register-with-taints key=value:Effect,key:Effect` -> taint objects."""
    out: list[Object] = []
    for item in (i.strip() for i in text.split(",")):
        if not item:
            continue
        head, sep, effect = item.rpartition(":")
        key, _, val = head.partition("=")
        if not sep or effect not in TAINT_EFFECTS or not key or not _LABEL_KEY.match(key):
            raise ManifestError(
                "--register-with-taints",
                item,
                f"expected key[=value]:effect with effect one of {', '.join(TAINT_EFFECTS)}",
            )
        taint: Object = {"key": key, "effect": effect}
        if val:
            taint["value"] = val
        out.append(taint)
    return tuple(out)


def client_from_kubeconfig(kubeconfig: str, apiservers: str = "") -> Client:
    """A client with the kubeconfig's credentials, to `apiservers` (host:port,...) when given,
    else to the kubeconfig server's host on the gRPC port."""
    endpoints = [a.strip() for a in apiservers.split(",") if a.strip()]
    try:
        return Client.from_kubeconfig(Path(kubeconfig), endpoints=endpoints)
    except (OSError, ValueError, KeyError, StopIteration, yaml.YAMLError) as exc:
        raise ManifestError("--kubeconfig", kubeconfig, f"cannot use it: {exc}") from exc


def is_deleting(pod: Object) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def _meta(pod: Object) -> tuple[str, str, str]:
    meta = pod.get("metadata") or {}
    return str(meta.get("namespace") or "default"), str(meta.get("name", "")), str(meta.get("uid"))


# -- the adapter ---------------------------------------------------------------------------------
@dataclass
class ApiNode:
    """Everything the kubelet needs from the apiserver, over one client."""

    client: Client
    node_name: str
    running_uids: Callable[[], set[str]] = field(default=set)
    # Seconds since the kubelet last synced a pod (0.0 while it does): Events wait for quiet
    # (see _wait_quiet).
    idle_for: Callable[[], float] = field(default=lambda: EVENT_QUIET)
    status_workers: int = 4
    pod_informer: Informer = field(init=False)
    node_informer: Informer = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _registered: bool = field(default=False, init=False)
    _finalizing: set[str] = field(default_factory=set, init=False)
    _unsent: dict[str, tuple[Object, Object]] = field(default_factory=dict, init=False)
    _events: queue.Queue[tuple[float, Object]] | None = field(default=None, init=False)
    _statuses: StatusQueue = field(init=False)
    _static_status: dict[str, tuple[Object, Object]] = field(default_factory=dict, init=False)
    mirrors: MirrorSync | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._statuses = StatusQueue(self._write_status, self.status_workers)
        self.pod_informer = Informer(
            self.client, PODS, field_selector=f"spec.nodeName={self.node_name}"
        )
        self.node_informer = Informer(self.client, NODES)

    def enable_mirrors(self, static_pods: Callable[[], list[Object]]) -> None:
        """Mirror the pods `static_pods()` returns into the API (see `mirror.py`)."""
        self.mirrors = MirrorSync(
            self.client,
            self.node_name,
            static_pods,
            self.pod_informer.list,
            self._node_uid,
            created=self._mirror_created,
        )

    def sync_mirrors(self) -> MirrorPlan | None:
        if self.mirrors is None or not self.pod_informer.has_synced():
            return None
        return self.mirrors.sync()

    def _node_uid(self) -> str | None:
        node = self.node_informer.get(self.node_name)
        uid = (node or {}).get("metadata", {}).get("uid")
        return str(uid) if uid else None

    def _mirror_created(self, static: Object) -> None:
        """A new mirror has no status yet: write the static pod's latest one onto it."""
        with self._lock:
            last = self._static_status.get(_meta(static)[2])
        if last is not None:
            self.pod_status(*last)

    def start(self) -> None:
        self.pod_informer.start()
        self.node_informer.start()

    def wait_for_sync(self, timeout: float) -> bool:
        return self.pod_informer.wait_for_sync(timeout) and self.node_informer.wait_for_sync(
            timeout
        )

    def stop(self) -> None:
        self._statuses.stop()
        self.pod_informer.stop()
        self.node_informer.stop()
        self.client.close()

    # PodSource ----------------------------------------------------------------------------
    def pods(self) -> list[Object]:
        if not self.pod_informer.has_synced():
            raise NotSyncedError(f"pods of node {self.node_name} not listed from the apiserver yet")
        self._resend()
        # No copies: the informer replaces objects on updates and never changes one in place,
        # and the kubelet only reads them (copying every pod on every relist was the kubelet's
        # biggest CPU cost with 100 pods starting). One pass: this runs on every relist.
        pods: list[Object] = []
        deleting: list[Object] = []
        for pod in self.pod_informer.list():
            if is_mirror(pod):
                continue  # mirrors: sync_mirrors
            (deleting if is_deleting(pod) else pods).append(pod)
        if deleting:
            running = self.running_uids()
            for pod in deleting:
                if _meta(pod)[2] not in running:
                    self._finalize(pod)
        return pods

    def watch(self, changed: PodsChanged, stop: threading.Event, added: PodAdded) -> None:
        def updated(old: Object, new: Object) -> None:
            if changed_beyond_status(old, new):
                changed()

        def new_pod(pod: Object) -> None:
            if is_mirror(pod) or is_deleting(pod):
                changed()
            else:
                added(pod)

        self.pod_informer.add_handler(
            on_add=new_pod,
            on_update=updated,
            on_delete=lambda _p: changed(),
        )
        stop.wait()

    # NodeSource ----------------------------------------------------------------------------
    def nodes(self) -> list[Object]:
        return self.node_informer.list()

    # ConfigLookup --------------------------------------------------------------------------
    def get(self, kind: str, namespace: str, name: str) -> Object | None:
        resource = {"ConfigMap": "configmaps", "Secret": "secrets"}.get(kind)
        if resource is None:
            return None
        try:
            return self.client.get(resource, name, namespace=namespace)
        except NotFound:
            return None

    # StatusSink ----------------------------------------------------------------------------
    def pod_status(self, pod: Object, status: Object) -> None:
        """Queued; written by the status writers (see module docstring)."""
        uid = _meta(pod)[2]
        if is_static(pod):
            with self._lock:
                self._static_status[uid] = (pod, status)
        self._statuses.put(uid, pod, status)

    def flush(self, timeout: float) -> bool:
        """Wait until every queued status is written (tests, shutdown)."""
        return self._statuses.wait_idle(timeout)

    def _write_status(self, pod: Object, status: Object) -> None:
        namespace, name, uid = _meta(pod)
        current = self.pod_informer.get(f"{namespace}/{name}")
        if is_static(pod):
            if not self._is_mirror_of(current, pod):
                return  # no (current) mirror yet: written when it is created
        elif current is not None and _meta(current)[2] != uid:
            return  # a newer pod of the same name: not ours to report on
        try:
            self.client.patch(
                PODS, name, {"status": status}, namespace=namespace, subresource="status"
            )
        except NotFound:
            pass
        except ApiError as exc:
            log.warning("pod status not written pod=%s/%s err=%s", namespace, name, exc)
            with self._lock:
                self._unsent[uid] = (pod, status)
            return
        with self._lock:
            self._unsent.pop(uid, None)

    def _is_mirror_of(self, current: Object | None, static: Object) -> bool:
        """Whether the API's pod of the static pod's name is its current mirror (asked from
        the apiserver when the informer has not seen it yet)."""
        want = config_hash(static)
        if (
            current is not None
            and current.get("metadata", {}).get("annotations", {}).get(MIRROR) == want
        ):
            return True
        namespace, name, _ = _meta(static)
        try:
            current = self.client.get(PODS, name, namespace=namespace)
        except ApiError:
            return False
        return bool(((current.get("metadata") or {}).get("annotations") or {}).get(MIRROR) == want)

    def _resend(self) -> None:
        with self._lock:
            unsent, self._unsent = self._unsent, {}
        for pod, status in unsent.values():
            self.pod_status(pod, status)

    def pod_removed(self, namespace: str, name: str, uid: str) -> None:
        self._statuses.drop(uid)
        with self._lock:
            self._unsent.pop(uid, None)
            self._static_status.pop(uid, None)
        current = self.pod_informer.get(f"{namespace}/{name}")
        if current is not None and _meta(current)[2] == uid and is_deleting(current):
            self._finalize(current)

    def _finalize(self, pod: Object) -> None:
        """Containers stopped and sandbox gone: remove the object (grace 0, this uid only)."""
        namespace, name, uid = _meta(pod)
        with self._lock:
            if uid in self._finalizing:
                return
            self._finalizing.add(uid)
        try:
            self.client.delete(
                PODS, name, namespace=namespace, grace_period_seconds=0, precondition_uid=uid
            )
            log.info("pod deleted after termination pod=%s/%s uid=%s", namespace, name, uid)
        except (NotFound, Conflict):
            pass
        except ApiError as exc:
            log.warning("cannot finish pod deletion pod=%s/%s err=%s", namespace, name, exc)
            with self._lock:
                self._finalizing.discard(uid)

    def event(self, event: Object) -> None:
        """Queued, written by one background thread: pod syncs never wait for Events."""
        if self._events is None:
            self._events = queue.Queue(10_000)
            threading.Thread(target=self._write_events, daemon=True, name="events").start()
        try:
            self._events.put_nowait((time.monotonic(), event))
        except queue.Full:
            log.warning("event dropped (queue full) reason=%s", event.get("reason"))

    def _write_events(self) -> None:
        assert self._events is not None
        while True:
            queued_at, event = self._events.get()
            # At most EVENT_DELAY_MAX after it was recorded: a backlog is not delayed again
            # Event by Event.
            self._wait_quiet(queued_at + EVENT_DELAY_MAX - time.monotonic())
            meta = event.get("metadata") or {}
            namespace, name = str(meta.get("namespace") or "default"), str(meta.get("name"))
            try:
                try:
                    self.client.create(EVENTS, event, namespace=namespace)
                except AlreadyExists:  # a repeat: the recorder bumped count and lastTimestamp
                    patch = {k: event[k] for k in ("count", "lastTimestamp") if k in event}
                    self.client.patch(EVENTS, name, patch, namespace=namespace)
            except ApiError as exc:
                log.warning("event not written event=%s/%s err=%s", namespace, name, exc)

    def _wait_quiet(self, most: float) -> None:
        """Let pod starts and status writes go first: return once neither has happened for
        EVENT_QUIET seconds, or after `most` seconds. A pod's Running matters more than its
        Started event, and both compete for the apiserver and the CPU (upstream rate-limits
        events for the same reason). Quiet, not merely idle: in a burst of pods the kubelet
        is idle for a moment between pods, and an Event written then delays the next pod."""
        deadline = time.monotonic() + most
        while True:
            idle = min(self.idle_for(), self._statuses.idle_for())
            left = deadline - time.monotonic()
            if idle >= EVENT_QUIET or left <= 0:
                return
            time.sleep(min(EVENT_QUIET - idle, left, 0.05))

    def node_status(self, node: Object) -> None:
        if not self._registered:
            try:
                self.client.create(NODES, node)
                log.info("node registered node=%s", self.node_name)
                self._registered = True
                return
            except AlreadyExists:
                log.info("node already registered node=%s", self.node_name)
                self._registered = True
        self.client.patch(NODES, self.node_name, {"status": node["status"]}, subresource="status")

    def renew_lease(self, lease: Object) -> None:
        try:
            current = self.client.get(LEASES, self.node_name, namespace=LEASE_NAMESPACE)
        except NotFound:
            self._ensure_namespace()
            with contextlib.suppress(AlreadyExists):
                self.client.create(LEASES, lease, namespace=LEASE_NAMESPACE)
            return
        current["spec"] = {**(current.get("spec") or {}), **lease["spec"]}
        try:
            self.client.update(LEASES, current)
        except Conflict:
            log.info("node lease changed meanwhile node=%s; next renewal wins", self.node_name)

    def _ensure_namespace(self) -> None:
        try:
            self.client.create(NAMESPACES, {"metadata": {"name": LEASE_NAMESPACE}})
        except AlreadyExists:
            pass
        except ApiError as exc:
            log.info("cannot create namespace=%s err=%s", LEASE_NAMESPACE, exc)


class StaticAndApiSource:
    """The `PodSource` of a kubelet with both `--pod-manifest-path` and `--kubeconfig`: the
    static pods (mirrored into the API) and the pods the API binds to the node."""

    def __init__(self, static: Any, api: ApiNode) -> None:
        self.static = static
        self.api = api
        api.enable_mirrors(static.pods)

    def pods(self) -> list[Object]:
        return [*self.static.pods(), *self.api.pods()]

    def watch(self, changed: PodsChanged, stop: threading.Event, added: PodAdded) -> None:
        threading.Thread(
            target=self.static.watch,
            args=(changed, stop, added),
            name="static-source",
            daemon=True,
        ).start()
        self.api.watch(changed, stop, added)
