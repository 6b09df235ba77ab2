"""Values the handler layer takes and returns, and where objects live in the store.

Request options (list, delete), results, watch events, the selector filter, the key layout
(`/registry/<resource>/[<namespace>/]<name>`) and the continue-token format. Pure: no I/O.
"""

from __future__ import annotations

import base64
import copy
import json
from dataclasses import dataclass, field

from controlplane.apiserver.watchcache import CachedEvent
from kubelab.api import errors
from kubelab.api.kind import KindInfo
from kubelab.api.selectors import FieldSelector, LabelSelector
from kubelab.api.types import Object

ROOT = "/registry"


@dataclass(frozen=True)
class ListOptions:
    label_selector: str = ""
    field_selector: str = ""
    limit: int = 0
    continue_token: str = ""
    resource_version: str = ""
    resource_version_match: str = ""


@dataclass(frozen=True)
class ListResult:
    items: list[Object]
    resource_version: str
    continue_token: str = ""
    remaining: int | None = None


@dataclass(frozen=True)
class DeleteOptions:
    grace_period_seconds: int | None = None
    propagation_policy: str | None = None
    precondition_uid: str | None = None
    precondition_resource_version: str | None = None
    dry_run: bool = False


@dataclass(frozen=True)
class WatchEvent:
    type: str  # ADDED, MODIFIED, DELETED, BOOKMARK, ERROR
    object: Object
    cached: CachedEvent | None = None  # lets front ends reuse its one JSON encoding

    def object_json(self) -> bytes:
        if self.cached is not None and self.cached.obj is self.object:
            return self.cached.encoded()
        return json.dumps(self.object, separators=(",", ":")).encode()


@dataclass
class Filter:
    info: KindInfo
    namespace: str
    labels: LabelSelector = field(default_factory=LabelSelector)
    fields: FieldSelector = field(default_factory=FieldSelector)

    def matches(self, obj: Object | None) -> bool:
        if obj is None:
            return False
        meta = obj.get("metadata") or {}
        if self.namespace and meta.get("namespace") != self.namespace:
            return False
        if not self.labels.matches(meta.get("labels")):
            return False
        return self.fields.empty or self.fields.matches(self.info.fields_of(obj))


def key_for(info: KindInfo, namespace: str, name: str) -> str:
    if info.namespaced:
        return f"{ROOT}/{info.resource}/{namespace}/{name}"
    return f"{ROOT}/{info.resource}/{name}"


def prefix_for(info: KindInfo, namespace: str) -> str:
    if info.namespaced and namespace:
        return f"{ROOT}/{info.resource}/{namespace}/"
    return f"{ROOT}/{info.resource}/"


def encode(obj: Object) -> bytes:
    stored = copy.copy(obj)
    stored["metadata"] = {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"}
    return json.dumps(stored, separators=(",", ":"), sort_keys=False).encode()


def _continue_token(revision: int, start: str) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": revision, "start": start}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _parse_continue(token: str) -> tuple[int, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        return int(data["rv"]), str(data["start"])
    except (ValueError, KeyError, TypeError) as exc:
        raise errors.BadRequest(f"continue key is not valid: {token!r}") from exc
