"""Mirror pods: a read-only Pod object in the API for every static pod this node runs.

As upstream: the mirror of static pod `<name>-<node>` has the same name, namespace, labels,
annotations and spec, plus `kubernetes.io/config.mirror: <config hash>` and an ownerReference
to the Node; the apiserver gives it its own uid. The kubelet never runs a mirror pod (the API
source leaves them out) and writes the static pod's status onto it.

`plan_mirrors` is the pure decision (static pods + mirrors found in the API -> deletes and
creates): a missing mirror is created, one whose hash differs from its static pod's (the
manifest changed) is replaced, one without a static pod (the manifest went) is deleted, and
one a user deleted (it has a `deletionTimestamp`) is removed at once and created again.
`MirrorSync` carries a plan out through `kubelab.client`. Nothing here runs or stops pods.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from kubelab.api.errors import AlreadyExists, ApiError, Conflict, NotFound
from kubelab.client import PODS, Client

log = logging.getLogger(__name__)

Object = dict[str, Any]

MIRROR = "kubernetes.io/config.mirror"
HASH = "kubernetes.io/config.hash"
SOURCE = "kubernetes.io/config.source"


def _annotations(pod: Object) -> dict[str, str]:
    """The pod's annotations, not copied: read them only."""
    found: dict[str, str] = (pod.get("metadata") or {}).get("annotations") or {}
    return found


def is_mirror(pod: Object) -> bool:
    return MIRROR in _annotations(pod)


def is_static(pod: Object) -> bool:
    """A pod the kubelet runs from a manifest file (not from the API)."""
    return _annotations(pod).get(SOURCE, "api") != "api" and not is_mirror(pod)


def config_hash(pod: Object) -> str:
    return _annotations(pod).get(HASH, "")


def pod_key(pod: Object) -> str:
    meta = pod.get("metadata") or {}
    return f"{meta.get('namespace') or 'default'}/{meta.get('name', '')}"


def mirror_object(static: Object, node_name: str, node_uid: str) -> Object:
    """The mirror pod of `static`: its metadata and spec, the mirror annotation, the Node as
    owner, no uid (the apiserver assigns one) and no status."""
    meta = static.get("metadata") or {}
    annotations = {**_annotations(static), MIRROR: config_hash(static)}
    out_meta: Object = {
        "name": meta["name"],
        "namespace": meta.get("namespace") or "default",
        "annotations": annotations,
        "ownerReferences": [
            {
                "apiVersion": "v1",
                "kind": "Node",
                "name": node_name,
                "uid": node_uid,
                "controller": True,
            }
        ],
    }
    if meta.get("labels"):
        out_meta["labels"] = dict(meta["labels"])
    spec = copy.deepcopy(static.get("spec") or {})
    spec["nodeName"] = node_name
    return {"apiVersion": "v1", "kind": "Pod", "metadata": out_meta, "spec": spec}


@dataclass(frozen=True)
class MirrorPlan:
    delete: tuple[Object, ...] = ()  # mirrors to remove (grace 0, their uid as precondition)
    create: tuple[Object, ...] = ()  # static pods that need a (new) mirror

    def __bool__(self) -> bool:
        return bool(self.delete or self.create)


def plan_mirrors(static_pods: Iterable[Object], mirrors: Iterable[Object]) -> MirrorPlan:
    """What to change so that every static pod has exactly one current mirror."""
    wanted = {pod_key(p): p for p in static_pods}
    found = {pod_key(m): m for m in mirrors if is_mirror(m)}
    delete: list[Object] = []
    create: list[Object] = []
    for key, mirror in sorted(found.items()):
        static = wanted.get(key)
        deleting = bool((mirror.get("metadata") or {}).get("deletionTimestamp"))
        if static is None or deleting or _annotations(mirror)[MIRROR] != config_hash(static):
            delete.append(mirror)
    gone = {pod_key(m) for m in delete}
    for key, static in sorted(wanted.items()):
        if key not in found or key in gone:
            create.append(static)
    return MirrorPlan(tuple(delete), tuple(create))


@dataclass
class MirrorSync:
    """Keeps the API's mirror pods in step with the static pods (see module docstring)."""

    client: Client
    node_name: str
    static_pods: Callable[[], list[Object]]  # the static source's pods
    api_pods: Callable[[], list[Object]]  # every pod bound to this node, mirrors included
    node_uid: Callable[[], str | None]  # None until the Node is registered
    created: Callable[[Object], None] = field(default=lambda _static: None)

    def sync(self) -> MirrorPlan:
        plan = plan_mirrors(self.static_pods(), self.api_pods())
        if not plan:
            return plan
        for mirror in plan.delete:
            meta = mirror["metadata"]
            try:
                self.client.delete(
                    PODS,
                    meta["name"],
                    namespace=meta.get("namespace") or "default",
                    grace_period_seconds=0,
                    precondition_uid=str(meta.get("uid", "")),
                )
                log.info("mirror pod deleted pod=%s uid=%s", pod_key(mirror), meta.get("uid"))
            except (NotFound, Conflict):
                pass
            except ApiError as exc:
                log.warning("mirror pod not deleted pod=%s err=%s", pod_key(mirror), exc)
        node_uid = self.node_uid()
        if node_uid is None:
            return plan  # the owner reference needs the Node's uid: next time
        for static in plan.create:
            obj = mirror_object(static, self.node_name, node_uid)
            try:
                self.client.create(PODS, obj, namespace=obj["metadata"]["namespace"])
            except AlreadyExists:
                continue  # the old one is still going away: next sync
            except ApiError as exc:
                log.warning("mirror pod not created pod=%s err=%s", pod_key(static), exc)
                continue
            log.info("mirror pod created pod=%s hash=%s", pod_key(static), config_hash(static))
            self.created(static)
        return plan
