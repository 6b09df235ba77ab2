"""`Client`: typed CRUD, list and watch against the apiserver's gRPC API, with failover.

    client = Client.from_cert_dir(Path("/var/lib/kubelab/c1/pki"), ["127.0.0.1:6444"])
    pod = client.create(PODS, {"metadata": {"name": "web"}, "spec": {...}}, namespace="default")
    for event in client.watch(PODS, namespace="default", resource_version=rv): ...

Objects are plain dicts (`kubelab.api.types.Object`). Failures raise the apiserver's own error
classes (NotFound, Conflict, Invalid, Gone, ...); when every endpoint is down, `Unavailable`.
With several endpoints, a call that finds its apiserver UNAVAILABLE moves to the next one.
"""

# ruff: noqa: PLR0917  (Watch mirrors the WatchRequest fields)

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import grpc
import yaml

from kubelab.api.errors import ApiError, from_status
from kubelab.api.types import Object
from kubelab.client.errors import Unavailable
from kubelab.client.resources import GVR, gvr
from kubelab.gen.api import api_pb2, api_pb2_grpc

log = logging.getLogger(__name__)
T = TypeVar("T")

INITIAL_EVENTS_END = "k8s.io/initial-events-end"
PATCH_TYPES = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
}
FAILOVER_CODES = (grpc.StatusCode.UNAVAILABLE,)
# Lists of thousands of objects come back in one message: lift gRPC's 4 MiB default.
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 512 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
]


@dataclass(frozen=True)
class Credentials:
    """PEM bytes: the cluster CA, and this client's certificate and key (CN = user)."""

    ca_cert: bytes
    cert: bytes
    key: bytes
    server_name: str = ""  # overrides the TLS name checked (e.g. "kubernetes")

    @classmethod
    def from_files(cls, ca: Path, cert: Path, key: Path) -> Credentials:
        return cls(ca.read_bytes(), cert.read_bytes(), key.read_bytes())


@dataclass(frozen=True)
class ObjectList:
    items: list[Object]
    resource_version: str
    continue_token: str = ""


@dataclass(frozen=True)
class WatchEvent:
    type: str  # ADDED, MODIFIED, DELETED, BOOKMARK
    object: Object


def _error(exc: grpc.RpcError) -> ApiError:
    details = exc.details() or ""
    try:
        status = json.loads(details)
    except ValueError:
        status = None
    if isinstance(status, dict) and status.get("kind") == "Status":
        return from_status(status)
    if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return Unavailable(f"apiserver unavailable: {details}")
    return ApiError(f"{exc.code()}: {details}")


def _ref(r: GVR, namespace: str = "", name: str = "", sub: str = "") -> api_pb2.ResourceRef:
    return api_pb2.ResourceRef(
        group=r.group,
        version=r.version,
        resource=r.resource,
        namespace=namespace if r.namespaced else "",
        name=name,
        subresource=sub,
    )


def _ns_of(obj: Object, namespace: str | None) -> str:
    return namespace or str((obj.get("metadata") or {}).get("namespace") or "")


class Client:
    def __init__(
        self,
        endpoints: Sequence[str],
        credentials: Credentials | None = None,
        *,
        timeout: float = 10.0,
    ) -> None:
        if not endpoints:
            raise ValueError("Client needs at least one apiserver endpoint (host:port)")
        self.endpoints = list(endpoints)
        self.credentials = credentials
        self.timeout = timeout
        self._lock = threading.Lock()
        self._current = 0
        self._channel: grpc.Channel | None = None
        self._stub: api_pb2_grpc.ApiStub | None = None

    @classmethod
    def from_cert_dir(
        cls, cert_dir: Path, endpoints: Sequence[str], *, user: str = "admin", **kw: Any
    ) -> Client:
        """Use `<cert_dir>/ca.crt` and `<user>.crt`/`<user>.key` (the apiserver writes admin)."""
        creds = Credentials.from_files(
            cert_dir / "ca.crt", cert_dir / f"{user}.crt", cert_dir / f"{user}.key"
        )
        return cls(endpoints, creds, **kw)

    @classmethod
    def from_kubeconfig(
        cls, path: Path, *, grpc_port: int = 6444, endpoints: Sequence[str] = (), **kw: Any
    ) -> Client:
        """Use a kubeconfig (its current context): the gRPC API is on `grpc_port` of the REST
        server's host unless `endpoints` are given; the certificates are embedded or files."""
        config = yaml.safe_load(path.read_text())
        ctx_name = config.get("current-context")
        contexts = {c["name"]: c["context"] for c in config.get("contexts") or []}
        if ctx_name not in contexts:
            raise ValueError(f"{path}: current-context {ctx_name!r} is not among its contexts")
        ctx = contexts[ctx_name]
        cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == ctx["cluster"])
        user = next(u["user"] for u in config["users"] if u["name"] == ctx["user"])

        def pem(entry: dict[str, Any], field: str) -> bytes:
            if entry.get(f"{field}-data"):
                return base64.b64decode(entry[f"{field}-data"])
            if entry.get(field):
                return (path.parent / str(entry[field])).read_bytes()
            raise ValueError(f"{path}: {field} or {field}-data is required for kubelab.client")

        creds = Credentials(
            pem(cluster, "certificate-authority"),
            pem(user, "client-certificate"),
            pem(user, "client-key"),
        )
        if not endpoints:
            host = urlsplit(cluster["server"]).hostname or "127.0.0.1"
            endpoints = [f"{host}:{grpc_port}"]
        return cls(endpoints, creds, **kw)

    # --- connection ------------------------------------------------------------------------------

    def _connect(self) -> tuple[api_pb2_grpc.ApiStub, int]:
        with self._lock:
            if self._stub is None:
                target = self.endpoints[self._current]
                if self.credentials is None:
                    self._channel = grpc.insecure_channel(target, options=CHANNEL_OPTIONS)
                else:
                    creds = grpc.ssl_channel_credentials(
                        root_certificates=self.credentials.ca_cert,
                        private_key=self.credentials.key,
                        certificate_chain=self.credentials.cert,
                    )
                    opts: list[tuple[str, Any]] = list(CHANNEL_OPTIONS)
                    if self.credentials.server_name:
                        opts.append(("grpc.ssl_target_name_override", self.credentials.server_name))
                    self._channel = grpc.secure_channel(target, creds, options=opts)
                self._stub = api_pb2_grpc.ApiStub(self._channel)
            return self._stub, self._current

    def _failover(self, seen: int) -> None:
        with self._lock:
            if seen != self._current:
                return
            log.warning("apiserver endpoint failed endpoint=%s; trying next", self.endpoints[seen])
            if self._channel is not None:
                self._channel.close()
            self._channel, self._stub = None, None
            self._current = (self._current + 1) % len(self.endpoints)

    def _stale(self, seen: int) -> bool:
        """Whether another thread failed over from endpoint `seen` (and closed its channel)."""
        with self._lock:
            return seen != self._current

    def _call(self, fn: Callable[[api_pb2_grpc.ApiStub], T]) -> T:
        last: grpc.RpcError | None = None
        for _ in range(max(2, 2 * len(self.endpoints))):
            stub, seen = self._connect()
            try:
                return fn(stub)
            except ValueError:
                if not self._stale(seen):
                    raise
                continue  # another thread failed over and closed this channel: use the new one
            except grpc.RpcError as exc:
                if exc.code() not in FAILOVER_CODES:
                    raise _error(exc) from exc
                last = exc
                self._failover(seen)
        assert last is not None
        raise _error(last) from last

    def close(self) -> None:
        with self._lock:
            if self._channel is not None:
                self._channel.close()
            self._channel, self._stub = None, None

    # --- CRUD ------------------------------------------------------------------------------------

    def create(
        self,
        resource: str | GVR,
        obj: Object,
        *,
        namespace: str | None = None,
        dry_run: bool = False,
        strict: bool = False,
    ) -> Object:
        r = gvr(resource)
        req = api_pb2.CreateRequest(
            ref=_ref(r, _ns_of(obj, namespace) or ("default" if r.namespaced else "")),
            object=json.dumps(obj).encode(),
            dry_run=dry_run,
            strict=strict,
        )
        return self._object(self._call(lambda s: s.Create(req, timeout=self.timeout)))

    def get(self, resource: str | GVR, name: str, *, namespace: str = "") -> Object:
        req = api_pb2.GetRequest(ref=_ref(gvr(resource), namespace, name))
        return self._object(self._call(lambda s: s.Get(req, timeout=self.timeout)))

    def list(
        self,
        resource: str | GVR,
        *,
        namespace: str = "",
        label_selector: str = "",
        field_selector: str = "",
        limit: int = 0,
        continue_token: str = "",
        resource_version: str = "",
    ) -> ObjectList:
        req = api_pb2.ListRequest(
            ref=_ref(gvr(resource), namespace),
            label_selector=label_selector,
            field_selector=field_selector,
            limit=limit,
            resource_version=resource_version,
            **{"continue": continue_token},
        )
        resp = self._call(lambda s: s.List(req, timeout=self.timeout))
        return ObjectList(
            [json.loads(i) for i in resp.items], resp.resource_version, getattr(resp, "continue")
        )

    def list_all(self, resource: str | GVR, *, page: int = 500, **kw: Any) -> ObjectList:
        """Every page of a list, read at one consistent resourceVersion."""
        first = self.list(resource, limit=page, **kw)
        items, token = list(first.items), first.continue_token
        while token:
            nxt = self.list(resource, limit=page, continue_token=token, **kw)
            items.extend(nxt.items)
            token = nxt.continue_token
        return ObjectList(items, first.resource_version)

    def update(self, resource: str | GVR, obj: Object, *, dry_run: bool = False) -> Object:
        return self._update(resource, obj, "", dry_run)

    def update_status(self, resource: str | GVR, obj: Object) -> Object:
        return self._update(resource, obj, "status", False)

    def _update(self, resource: str | GVR, obj: Object, sub: str, dry_run: bool) -> Object:
        meta = obj.get("metadata") or {}
        req = api_pb2.UpdateRequest(
            ref=_ref(
                gvr(resource), str(meta.get("namespace") or ""), str(meta.get("name", "")), sub
            ),
            object=json.dumps(obj).encode(),
            dry_run=dry_run,
        )
        if sub == "status":
            return self._object(self._call(lambda s: s.UpdateStatus(req, timeout=self.timeout)))
        return self._object(self._call(lambda s: s.Update(req, timeout=self.timeout)))

    def patch(
        self,
        resource: str | GVR,
        name: str,
        patch: Any,
        *,
        namespace: str = "",
        patch_type: str = "merge",
        subresource: str = "",
        dry_run: bool = False,
    ) -> Object:
        """`patch_type`: "merge" (JSON merge), "strategic", or "json" (RFC 6902 list)."""
        req = api_pb2.PatchRequest(
            ref=_ref(gvr(resource), namespace, name, subresource),
            patch_type=PATCH_TYPES.get(patch_type, patch_type),
            patch=json.dumps(patch).encode(),
            dry_run=dry_run,
        )
        return self._object(self._call(lambda s: s.Patch(req, timeout=self.timeout)))

    def delete(
        self,
        resource: str | GVR,
        name: str,
        *,
        namespace: str = "",
        grace_period_seconds: int | None = None,
        propagation_policy: str = "",
        precondition_uid: str = "",
        precondition_resource_version: str = "",
        dry_run: bool = False,
    ) -> Object:
        req = api_pb2.DeleteRequest(
            ref=_ref(gvr(resource), namespace, name),
            propagation_policy=propagation_policy,
            precondition_uid=precondition_uid,
            precondition_resource_version=precondition_resource_version,
            dry_run=dry_run,
        )
        if grace_period_seconds is not None:
            req.grace_period_seconds = grace_period_seconds
        return self._object(self._call(lambda s: s.Delete(req, timeout=self.timeout)))

    def bind(self, namespace: str, name: str, node_name: str, *, uid: str = "") -> Object:
        """Assign a pod to a node (the pods/binding subresource); Conflict if already bound."""
        req = api_pb2.BindRequest(namespace=namespace, name=name, node_name=node_name, uid=uid)
        return self._object(self._call(lambda s: s.Bind(req, timeout=self.timeout)))

    @staticmethod
    def _object(resp: api_pb2.ObjectResponse) -> Object:
        for w in resp.warnings:
            log.warning("apiserver warning: %s", w)
        obj: Object = json.loads(resp.object)
        return obj

    # --- watch -----------------------------------------------------------------------------------

    def watch(
        self,
        resource: str | GVR,
        *,
        namespace: str = "",
        resource_version: str = "",
        label_selector: str = "",
        field_selector: str = "",
        bookmarks: bool = True,
        timeout_seconds: int = 0,
    ) -> Watch:
        """Events after `resource_version`; the stream resumes from the last one seen if it
        breaks (apiserver restart or failover). A 410 Gone raises Gone: relist, then watch."""
        return Watch(
            self,
            gvr(resource),
            namespace,
            resource_version,
            label_selector,
            field_selector,
            bookmarks,
            timeout_seconds,
        )

    def _open_watch(self, req: api_pb2.WatchRequest) -> tuple[Any, int]:
        while True:
            stub, seen = self._connect()
            try:
                return stub.Watch(req), seen
            except ValueError:
                # "Channel closed": another thread failed over meanwhile; use the new channel.
                if not self._stale(seen):
                    raise


class Watch:
    """An iterator of WatchEvents that survives broken streams by resuming from its last RV."""

    def __init__(
        self,
        client: Client,
        r: GVR,
        namespace: str,
        resource_version: str,
        label_selector: str,
        field_selector: str,
        bookmarks: bool,
        timeout_seconds: int,
    ) -> None:
        self.client = client
        self.gvr = r
        self.namespace = namespace
        self.resource_version = resource_version
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.bookmarks = bookmarks
        self.timeout_seconds = timeout_seconds
        self._stream: Any = None
        self._stopped = False

    def __iter__(self) -> Iterator[WatchEvent]:
        failures = 0
        # Watching from "" starts with the present objects, whose resourceVersions are not in
        # order: only the server's initial-events-end bookmark says where to resume from.
        in_initial = self.resource_version in ("", "0")
        while not self._stopped:
            req = api_pb2.WatchRequest(
                ref=_ref(self.gvr, self.namespace),
                label_selector=self.label_selector,
                field_selector=self.field_selector,
                resource_version=self.resource_version,
                allow_bookmarks=self.bookmarks,
                timeout_seconds=self.timeout_seconds,
            )
            stream, seen = self.client._open_watch(req)
            self._stream = stream
            try:
                for msg in stream:
                    obj = json.loads(msg.object)
                    if msg.type == "ERROR":
                        raise from_status(obj)
                    failures = 0
                    meta = obj.get("metadata") or {}
                    if msg.type == "BOOKMARK":
                        if (meta.get("annotations") or {}).get(INITIAL_EVENTS_END) == "true":
                            in_initial = False
                        if not in_initial:
                            self.resource_version = str(meta.get("resourceVersion", ""))
                        continue
                    if not in_initial:
                        self.resource_version = str(meta.get("resourceVersion", ""))
                    yield WatchEvent(msg.type, obj)
                return  # the server ended the watch (timeout)
            except grpc.RpcError as exc:
                if self._stopped or self._closed(exc, seen):
                    return
                if exc.code() == grpc.StatusCode.CANCELLED:
                    # Another thread failed over and closed the channel under this stream.
                    log.info("watch moved resource=%s rv=%s", self.gvr, self.resource_version)
                    continue
                err = _error(exc)
                if not err.retryable:
                    raise err from exc
                failures += 1
                self.client._failover(seen)
                if failures > 2 * len(self.client.endpoints):
                    raise err from exc
                log.info("watch broke resource=%s rv=%s; resuming", self.gvr, self.resource_version)
                threading.Event().wait(min(0.1 * failures, 1.0))

    def _closed(self, exc: grpc.RpcError, seen: int) -> bool:
        """CANCELLED by a close of the client, not by another thread's failover."""
        return exc.code() == grpc.StatusCode.CANCELLED and not self.client._stale(seen)

    def stop(self) -> None:
        self._stopped = True
        if self._stream is not None:
            self._stream.cancel()
