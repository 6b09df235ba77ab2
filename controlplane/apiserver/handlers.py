"""The handler layer both front ends call: CRUD, list, watch, bind over the store.

(Watch itself is in `watching.py`; request and result values in `options.py`.)

REST (`rest.py`) and gRPC (`grpc_api.py`) decode requests into calls here and encode what comes
back; nothing is implemented twice. Objects live as JSON under `/registry/<resource>/[<ns>/]<name>`
and their resourceVersion is the key's mod_revision. Every write is a compare-and-swap; a
read-modify-write (patch, graceful delete, bind) retries on a lost race. Errors are
`kubelab.api.errors.ApiError`s, mapped to HTTP/gRPC at the edges.
"""

# ruff: noqa: PLR0917  (internal helpers pass the request coordinates)

from __future__ import annotations

import builtins
import contextlib
import logging
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from controlplane.apiserver.errors import StoreError
from controlplane.apiserver.options import (
    DeleteOptions,
    Filter,
    ListOptions,
    ListResult,
    WatchEvent,
    _continue_token,
    _parse_continue,
    encode,
    key_for,
    prefix_for,
)
from controlplane.apiserver.storage import KV, Store
from controlplane.apiserver.watchcache import WatchCaches, decode
from controlplane.apiserver.watching import Watching
from kubelab.api import errors
from kubelab.api.errors import Cause
from kubelab.api.kind import KindInfo
from kubelab.api.lifecycle import prepare_create, prepare_update, raise_invalid
from kubelab.api.patch import STRATEGIC_MERGE_PATCH, PatchError, apply_patch
from kubelab.api.registry import REGISTRY, SYSTEM_NAMESPACES, Registry
from kubelab.api.selectors import (
    SelectorError,
    parse_field_selector,
    parse_label_selector,
)
from kubelab.api.tables import format_time
from kubelab.api.types import Object, copy_json

log = logging.getLogger(__name__)

GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
PROPAGATION_POLICIES = ("Orphan", "Background", "Foreground")
CAS_RETRIES = 16


def utcnow() -> datetime:
    return datetime.now(UTC)


def _sets_resource_version(patch: Any) -> bool:
    """Whether a patch names metadata.resourceVersion (a precondition on the write)."""
    if isinstance(patch, dict):
        return "resourceVersion" in (patch.get("metadata") or {})
    if isinstance(patch, list):  # a JSON patch
        return any(
            isinstance(op, dict) and op.get("path") == "/metadata/resourceVersion" for op in patch
        )
    return False


class Handlers(Watching):
    def __init__(
        self,
        store: Store,
        *,
        registry: Registry = REGISTRY,
        clock: Callable[[], datetime] = utcnow,
        new_uid: Callable[[], str] = lambda: str(uuid.uuid4()),
        bookmark_interval: float = 10.0,
        cache_capacity: int = 4096,
        event_ttl: int = 3600,
    ) -> None:
        self.store = store
        self.registry = registry
        self.clock = clock
        self.new_uid = new_uid
        self.bookmark_interval = bookmark_interval
        self.caches = WatchCaches(store, capacity=cache_capacity)
        self.event_ttl = event_ttl
        self._event_lease: tuple[int, float] = (0, 0.0)  # (lease id, monotonic time granted)
        self._lease_lock = threading.Lock()

    # --- helpers ---------------------------------------------------------------------------------

    def _now(self) -> str:
        return format_time(self.clock())

    def _lease_for(self, info: KindInfo) -> int:
        """Events expire after `event_ttl` (kube-apiserver's --event-ttl) through a store lease.

        As Kubernetes does, one lease serves all events written within a reuse window (a tenth
        of the TTL, at most a minute), and is granted for TTL + that window. A store without
        leases disables the TTL (logged once): events then stay until deleted.
        """
        if info.kind != "Event" or self.event_ttl <= 0:
            return 0
        reuse = min(60.0, max(1.0, self.event_ttl / 10))
        with self._lease_lock:
            lease, granted = self._event_lease
            if lease and time.monotonic() - granted < reuse:
                return lease
            try:
                lease = self.store.grant_lease(int(self.event_ttl + reuse))
            except StoreError as exc:
                log.warning("store leases unavailable, events will not expire: %s", exc)
                self.event_ttl = 0
                return 0
            self._event_lease = (lease, time.monotonic())
            return lease

    def _read(self, info: KindInfo, namespace: str, name: str) -> tuple[Object, KV]:
        try:
            kv, _ = self.store.get(key_for(info, namespace, name))
        except StoreError as exc:
            raise errors.ServiceUnavailable(str(exc)) from exc
        if kv is None:
            raise self._not_found(info, name)
        return decode(kv), kv

    def _read_for_write(
        self, info: KindInfo, namespace: str, name: str, *, fresh: bool, private: bool
    ) -> tuple[Object, KV]:
        """The object a compare-and-swap write starts from. The first try (`fresh` false)
        takes the watch cache's copy, as Kubernetes' GuaranteedUpdate does: no store round
        trip. The write compares the revision read, so a copy the cache has not caught up on
        only costs a conflict, and the caller's next try reads the store. (The returned KV
        carries the revision only.) The cache's object is shared: a caller that changes the
        object it gets asks for a `private` copy."""
        obj = None if fresh else self._cached(info, namespace, name)
        if obj is None:
            return self._read(info, namespace, name)
        revision = int(obj["metadata"]["resourceVersion"])
        key = key_for(info, namespace, name)
        return copy_json(obj) if private else obj, KV(key, b"", revision, 0)

    def _cached(self, info: KindInfo, namespace: str, name: str) -> Object | None:
        """The watch cache's object (shared: read only), or None if the cache has none or
        cannot start."""
        try:
            cache = self.caches.get(prefix_for(info, ""))
        except StoreError:
            return None
        return cache.state.get(key_for(info, namespace, name))

    def _not_found(self, info: KindInfo, name: str) -> errors.NotFound:
        what = f"{info.resource}.{info.group}" if info.group else info.resource
        return errors.NotFound(
            f'{what} "{name}" not found', kind=info.resource, name=name, group=info.group
        )

    def _conflict(self, info: KindInfo, name: str, why: str) -> errors.Conflict:
        what = f"{info.resource}.{info.group}" if info.group else info.resource
        return errors.Conflict(
            f'Operation cannot be fulfilled on {what} "{name}": {why}',
            kind=info.resource,
            name=name,
            group=info.group,
        )

    def _check_namespace(self, info: KindInfo, namespace: str, *, exists: bool) -> None:
        if not info.namespaced:
            return
        if not namespace:
            raise errors.BadRequest(f"{info.kind} is namespaced: a namespace is required")
        if exists:
            ns_info = self.registry.by_resource("namespaces")
            assert ns_info is not None
            # Like Kubernetes' namespace lifecycle admission, read the namespace from the cache
            # (no store round trip per create); the store is asked when the cache lags behind.
            cached_ns = self._cached(ns_info, "", namespace)
            ns = cached_ns if cached_ns is not None else self._read(ns_info, "", namespace)[0]
            if (ns.get("status") or {}).get("phase") == "Terminating":
                raise errors.Forbidden(
                    f'{info.resource} "" is forbidden: unable to create new content in '
                    f"namespace {namespace} because it is being terminated"
                )

    # --- create / get / list ---------------------------------------------------------------------

    def create(
        self,
        info: KindInfo,
        namespace: str,
        body: Object,
        *,
        dry_run: bool = False,
        strict: bool = False,
    ) -> tuple[Object, builtins.list[str]]:
        if not isinstance(body, dict):
            raise errors.BadRequest("the body of the request must be a JSON object")
        body = copy_json(body)
        meta = body.setdefault("metadata", {})
        if isinstance(meta, dict) and not meta.get("name") and meta.get("generateName"):
            suffix = "".join(secrets.choice(GENERATE_ALPHABET) for _ in range(5))
            meta["name"] = f"{meta['generateName']}{suffix}"
        self._check_namespace(info, namespace, exists=True)
        obj, warnings = prepare_create(
            info, body, namespace=namespace, uid=self.new_uid(), now=self._now(), strict=strict
        )
        name = obj["metadata"]["name"]
        if dry_run:
            return obj, warnings
        try:
            result = self.store.create(
                key_for(info, namespace, name), encode(obj), lease=self._lease_for(info)
            )
        except StoreError as exc:
            raise errors.ServiceUnavailable(str(exc)) from exc
        if not result.succeeded:
            what = f"{info.resource}.{info.group}" if info.group else info.resource
            raise errors.AlreadyExists(
                f'{what} "{name}" already exists', kind=info.resource, name=name, group=info.group
            )
        obj["metadata"]["resourceVersion"] = str(result.revision)
        log.debug("created %s=%s/%s rv=%s", info.resource, namespace, name, result.revision)
        return obj, warnings

    def get(self, info: KindInfo, namespace: str, name: str) -> Object:
        self._check_namespace(info, namespace, exists=False)
        obj, _ = self._read(info, namespace, name)
        return obj

    def list(self, info: KindInfo, namespace: str, opts: ListOptions) -> ListResult:
        flt = self._filter(info, namespace, opts.label_selector, opts.field_selector)
        prefix = prefix_for(info, namespace)
        # The resource's watch cache starts (once) before the store is read: a watch from
        # this list's resourceVersion, as every informer opens next, is then served by the
        # cache, not by a store watch of its own.
        with contextlib.suppress(StoreError):
            self.caches.get(prefix_for(info, ""))
        revision, start = 0, ""
        if opts.continue_token:
            revision, start = _parse_continue(opts.continue_token)
        elif opts.resource_version and opts.resource_version_match == "Exact":
            revision = self._parse_rv(opts.resource_version)
        if opts.limit <= 0:
            return self._list_all(prefix, flt, revision)
        items: builtins.list[Object] = []
        while True:
            try:
                result = self.store.range(prefix, start=start, limit=opts.limit, revision=revision)
            except StoreError as exc:
                if "compact" in str(exc):
                    raise errors.Gone(
                        "The provided continue parameter is too old to display a consistent "
                        "list result. You can start a new list without the continue parameter."
                    ) from exc
                raise errors.ServiceUnavailable(str(exc)) from exc
            revision = revision or result.revision
            for i, kv in enumerate(result.kvs):
                obj = decode(kv)
                if flt.matches(obj):
                    items.append(obj)
                if len(items) >= opts.limit:
                    more = i < len(result.kvs) - 1 or result.more
                    token = _continue_token(revision, kv.key + "\0") if more else ""
                    return ListResult(items, str(revision), token)
            if not result.more or not result.kvs:
                return ListResult(items, str(revision))
            start = result.kvs[-1].key + "\0"

    def _list_all(self, prefix: str, flt: Filter, revision: int) -> ListResult:
        try:
            result = self.store.range(prefix, revision=revision)
        except StoreError as exc:
            if "compact" in str(exc):
                raise errors.Gone(f"resourceVersion {revision} is too old") from exc
            raise errors.ServiceUnavailable(str(exc)) from exc
        items = [o for o in (decode(kv) for kv in result.kvs) if flt.matches(o)]
        return ListResult(items, str(revision or result.revision))

    def _parse_rv(self, rv: str) -> int:
        try:
            value = int(rv)
        except ValueError as exc:
            raise errors.BadRequest(f'invalid resource version "{rv}": must be an integer') from exc
        if value < 0:
            raise errors.BadRequest(f'invalid resource version "{rv}": must not be negative')
        return value

    def _filter(self, info: KindInfo, namespace: str, labels: str, fields: str) -> Filter:
        try:
            return Filter(
                info,
                namespace if info.namespaced else "",
                parse_label_selector(labels),
                parse_field_selector(fields, info.field_names()),
            )
        except SelectorError as exc:
            raise errors.BadRequest(str(exc)) from exc

    # --- update / patch --------------------------------------------------------------------------

    def update(
        self,
        info: KindInfo,
        namespace: str,
        name: str,
        body: Object,
        *,
        subresource: str = "",
        dry_run: bool = False,
        strict: bool = False,
    ) -> tuple[Object, builtins.list[str]]:
        if not isinstance(body, dict):
            raise errors.BadRequest("the body of the request must be a JSON object")
        body_meta = body.get("metadata") or {}
        if body_meta.get("name") and body_meta["name"] != name:
            raise errors.BadRequest(
                f"the name of the object ({body_meta['name']}) does not match the name on the "
                f"URL ({name})"
            )
        old, kv = self._read(info, namespace, name)
        wanted_rv = str(body_meta.get("resourceVersion") or "")
        if wanted_rv and wanted_rv != str(kv.mod_revision):
            raise self._conflict(
                info,
                name,
                "the object has been modified; please apply your changes to the "
                "latest version and try again",
            )
        new, warnings = prepare_update(info, body, old, subresource=subresource, strict=strict)
        return self._write_update(info, namespace, name, new, kv, dry_run=dry_run), warnings

    def _write_update(
        self, info: KindInfo, namespace: str, name: str, new: Object, kv: KV, *, dry_run: bool
    ) -> Object:
        meta = new["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            grace = int(meta.get("deletionGracePeriodSeconds") or 0)
            if grace == 0 or not info.graceful_delete:
                if dry_run:
                    return new
                return self._cas_delete(info, namespace, name, new, kv)
        if dry_run:
            new["metadata"]["resourceVersion"] = str(kv.mod_revision)
            return new
        key = key_for(info, namespace, name)
        try:
            result = self.store.update(
                key, encode(new), kv.mod_revision, lease=self._lease_for(info)
            )
        except StoreError as exc:
            raise errors.ServiceUnavailable(str(exc)) from exc
        if not result.succeeded:
            if result.current is None:
                raise self._not_found(info, name)
            raise self._conflict(
                info,
                name,
                "the object has been modified; please apply your changes to the "
                "latest version and try again",
            )
        new["metadata"]["resourceVersion"] = str(result.revision)
        return new

    def _cas_delete(self, info: KindInfo, namespace: str, name: str, obj: Object, kv: KV) -> Object:
        try:
            result = self.store.delete(key_for(info, namespace, name), kv.mod_revision)
        except StoreError as exc:
            raise errors.ServiceUnavailable(str(exc)) from exc
        if not result.succeeded:
            if result.current is None:
                raise self._not_found(info, name)
            raise self._conflict(info, name, "the object has been modified")
        obj["metadata"]["resourceVersion"] = str(result.revision)
        return obj

    def apply(
        self,
        info: KindInfo,
        namespace: str,
        name: str,
        config: Any,
        *,
        dry_run: bool = False,
        strict: bool = False,
    ) -> tuple[Object, builtins.list[str], bool]:
        """Server-side apply, simplified: create the object from `config` if it is absent,
        else merge `config` into it strategically. (obj, warnings, created)

        Unlike Kubernetes there is no field ownership (managedFields): fields dropped from the
        config are kept, and no conflicts between managers are reported.
        """
        if not isinstance(config, dict):
            raise errors.BadRequest("an apply patch must be an object")
        meta = config.get("metadata") or {}
        if meta.get("name") and meta["name"] != name:
            raise errors.BadRequest(
                f"the name of the object ({meta['name']}) does not match the name on the URL "
                f"({name})"
            )
        if not config.get("apiVersion") or not config.get("kind"):
            raise errors.BadRequest("an apply patch needs apiVersion and kind")
        try:
            self.get(info, namespace, name)
        except errors.NotFound:
            body = copy_json(config)
            body.setdefault("metadata", {})["name"] = name
            try:
                obj, warnings = self.create(info, namespace, body, dry_run=dry_run, strict=strict)
                return obj, warnings, True
            except errors.AlreadyExists:
                pass  # created meanwhile: apply onto it
        obj, warnings = self.patch(
            info, namespace, name, STRATEGIC_MERGE_PATCH, config, dry_run=dry_run, strict=strict
        )
        return obj, warnings, False

    def patch(
        self,
        info: KindInfo,
        namespace: str,
        name: str,
        content_type: str,
        patch: Any,
        *,
        subresource: str = "",
        dry_run: bool = False,
        strict: bool = False,
    ) -> tuple[Object, builtins.list[str]]:
        explicit = _sets_resource_version(patch)
        for attempt in range(CAS_RETRIES):
            fresh = attempt > 0 or dry_run  # a dry run writes nothing that would compare
            # Read only: the patch and prepare_update work on copies.
            old, kv = self._read_for_write(info, namespace, name, fresh=fresh, private=False)
            try:
                new, warnings, precondition = self._patched(
                    info, name, old, kv, content_type, patch, explicit, subresource, strict
                )
            except errors.ApiError:
                if not fresh:
                    continue  # decided on the cache's copy: decide again on the store's
                raise
            try:
                return self._write_update(info, namespace, name, new, kv, dry_run=dry_run), warnings
            except errors.Conflict:
                if precondition and fresh:
                    raise
                continue
        raise self._conflict(info, name, "too many concurrent writers; try again")

    def _patched(
        self,
        info: KindInfo,
        name: str,
        old: Object,
        kv: KV,
        content_type: str,
        patch: Any,
        explicit: bool,
        subresource: str,
        strict: bool,
    ) -> tuple[Object, builtins.list[str], str]:
        """The object to write, its warnings, and the caller's resourceVersion precondition
        ("" if the patch sets none)."""
        try:
            patched = apply_patch(content_type, old, patch)
        except PatchError as exc:
            if "unsupported patch type" in str(exc):
                raise errors.UnsupportedMediaType(str(exc)) from exc
            raise errors.Invalid(str(exc), kind=info.kind, name=name) from exc
        if not isinstance(patched, dict):
            raise errors.BadRequest("the patched object is not a JSON object")
        patched_meta = patched.setdefault("metadata", {})
        current = str(kv.mod_revision)
        wanted = str(patched_meta.get("resourceVersion") or "")
        precondition = wanted if explicit or wanted != current else ""
        if precondition and precondition != current:
            raise self._conflict(info, name, "the object has been modified")
        patched_meta["resourceVersion"] = current
        new, warnings = prepare_update(info, patched, old, subresource=subresource, strict=strict)
        return new, warnings, precondition

    # --- delete ----------------------------------------------------------------------------------

    def delete(self, info: KindInfo, namespace: str, name: str, opts: DeleteOptions) -> Object:
        if opts.propagation_policy and opts.propagation_policy not in PROPAGATION_POLICIES:
            raise_invalid(
                info,
                name,
                [
                    Cause(
                        "propagationPolicy",
                        f'Unsupported value: "{opts.propagation_policy}": supported values: '
                        + ", ".join(f'"{p}"' for p in PROPAGATION_POLICIES),
                        "FieldValueNotSupported",
                    )
                ],
            )
        if opts.grace_period_seconds is not None and opts.grace_period_seconds < 0:
            raise_invalid(info, name, [Cause("gracePeriodSeconds", "Invalid value: must be >= 0")])
        if info.kind == "Namespace":
            return self._delete_namespace(info, name, opts)
        for _ in range(CAS_RETRIES):
            obj, kv = self._read(info, namespace, name)
            meta = obj["metadata"]
            if opts.precondition_uid and opts.precondition_uid != meta.get("uid"):
                raise self._conflict(
                    info,
                    name,
                    f"Precondition failed: UID in precondition: "
                    f"{opts.precondition_uid}, UID in object meta: {meta.get('uid')}",
                )
            if (
                opts.precondition_resource_version
                and opts.precondition_resource_version != meta["resourceVersion"]
            ):
                raise self._conflict(
                    info,
                    name,
                    "Precondition failed: ResourceVersion in precondition: "
                    f"{opts.precondition_resource_version}, ResourceVersion in object meta: "
                    f"{meta['resourceVersion']}",
                )
            grace = self._grace(info, obj, opts)
            try:
                if grace > 0 or meta.get("finalizers"):
                    return self._mark_deleting(info, namespace, name, obj, kv, grace, opts)
                if opts.dry_run:
                    return obj
                return self._cas_delete(info, namespace, name, obj, kv)
            except errors.Conflict:
                continue
        raise self._conflict(info, name, "too many concurrent writers; try again")

    def _grace(self, info: KindInfo, obj: Object, opts: DeleteOptions) -> int:
        if not info.graceful_delete:
            return 0
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
            return 0  # never ran on a node: nothing to stop
        if opts.grace_period_seconds is not None:
            return opts.grace_period_seconds
        return int(spec.get("terminationGracePeriodSeconds", 30))

    def _mark_deleting(
        self,
        info: KindInfo,
        namespace: str,
        name: str,
        obj: Object,
        kv: KV,
        grace: int,
        opts: DeleteOptions,
    ) -> Object:
        meta = obj["metadata"]
        current = meta.get("deletionGracePeriodSeconds")
        if meta.get("deletionTimestamp") and current is not None and int(current) <= grace:
            return obj  # already terminating with a shorter or equal grace period
        if grace == 0 and not meta.get("finalizers"):
            return obj if opts.dry_run else self._cas_delete(info, namespace, name, obj, kv)
        new: Object = copy_json(obj)
        new["metadata"]["deletionTimestamp"] = format_time(self.clock() + timedelta(seconds=grace))
        new["metadata"]["deletionGracePeriodSeconds"] = grace
        if opts.propagation_policy == "Orphan" and "orphan" not in (meta.get("finalizers") or []):
            pass  # dependents are left alone; the garbage collector (controllers) owns them
        if opts.dry_run:
            return new
        return self._write_update(info, namespace, name, new, kv, dry_run=False)

    def _delete_namespace(self, info: KindInfo, name: str, opts: DeleteOptions) -> Object:
        if name in SYSTEM_NAMESPACES:
            raise errors.Forbidden(
                f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                kind="namespaces",
                name=name,
            )
        obj, kv = self._read(info, "", name)
        if opts.dry_run:
            return obj
        # Mark it Terminating (no new content), remove its content, then the namespace itself.
        obj["status"] = {"phase": "Terminating"}
        obj["metadata"]["deletionTimestamp"] = self._now()
        try:
            result = self.store.update(key_for(info, "", name), encode(obj), kv.mod_revision)
        except StoreError as exc:
            raise errors.ServiceUnavailable(str(exc)) from exc
        if not result.succeeded:
            raise self._conflict(info, name, "the object has been modified")
        threading.Thread(
            target=self._purge_namespace, args=(name, result.revision), daemon=True
        ).start()
        obj["metadata"]["resourceVersion"] = str(result.revision)
        return obj

    def _purge_namespace(self, name: str, revision: int) -> None:
        try:
            for kind in self.registry.kinds:
                if not kind.namespaced:
                    continue
                for kv in self.store.range(prefix_for(kind, name)).kvs:
                    self.store.delete(kv.key, kv.mod_revision)
            ns_info = self.registry.by_resource("namespaces")
            assert ns_info is not None
            ns_kv, _ = self.store.get(key_for(ns_info, "", name))
            if ns_kv is not None:
                self.store.delete(ns_kv.key, ns_kv.mod_revision)
            log.info("namespace deleted namespace=%s", name)
        except StoreError as exc:
            log.warning("namespace purge failed namespace=%s err=%s", name, exc)

    # --- binding ---------------------------------------------------------------------------------

    def bind(self, namespace: str, name: str, binding: Object, *, dry_run: bool = False) -> Object:
        pods = self.registry.by_resource("pods")
        assert pods is not None
        target = binding.get("target") or {}
        node = target.get("name")
        if not node:
            raise_invalid(
                pods, name, [Cause("target.name", "Required value", "FieldValueRequired")]
            )
        if target.get("kind") not in (None, "", "Node"):
            raise_invalid(pods, name, [Cause("target.kind", "Invalid value: must be Node")])
        for attempt in range(CAS_RETRIES):
            fresh = attempt > 0 or dry_run  # a dry run writes nothing that would compare
            pod, kv = self._read_for_write(pods, namespace, name, fresh=fresh, private=True)
            current = (pod.get("spec") or {}).get("nodeName")
            uid = (binding.get("metadata") or {}).get("uid")
            refusal = ""
            if pod["metadata"].get("deletionTimestamp"):
                refusal = "pod is being deleted, cannot be assigned to a host"
            elif current:
                refusal = f'pod {name} is already assigned to node "{current}"'
            elif uid and uid != pod["metadata"].get("uid"):
                refusal = "Precondition failed: UID mismatch"
            if refusal:
                if not fresh:
                    continue  # decided on the store's copy, not the cache's
                raise self._conflict(pods, name, refusal)
            pod["spec"]["nodeName"] = node
            conds = pod.setdefault("status", {}).setdefault("conditions", [])
            conds[:] = [c for c in conds if c.get("type") != "PodScheduled"]
            conds.append(
                {
                    "type": "PodScheduled",
                    "status": "True",
                    "lastProbeTime": None,
                    "lastTransitionTime": self._now(),
                }
            )
            try:
                return self._write_update(pods, namespace, name, pod, kv, dry_run=dry_run)
            except errors.Conflict:
                continue
        raise self._conflict(pods, name, "too many concurrent writers; try again")

    # --- bootstrap -------------------------------------------------------------------------------

    def ensure_system_namespaces(self) -> None:
        ns_info = self.registry.by_resource("namespaces")
        assert ns_info is not None
        for name in SYSTEM_NAMESPACES:
            with contextlib.suppress(errors.AlreadyExists):
                self.create(ns_info, "", {"metadata": {"name": name}})

    def close(self) -> None:
        self.caches.stop()


__all__ = [
    "DeleteOptions",
    "Filter",
    "Handlers",
    "ListOptions",
    "ListResult",
    "WatchEvent",
    "key_for",
    "prefix_for",
]
