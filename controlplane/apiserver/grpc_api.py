"""The gRPC front end (port 6444): kubelab's `Api` service over the same `Handlers` as REST.

Clients authenticate with a certificate from the cluster CA (mutual TLS; CN = user, O = groups);
a call without one fails UNAUTHENTICATED. ApiErrors become gRPC status codes with the Kubernetes
Status JSON as details, which `kubelab.client` turns back into the same exception classes.
"""

# ruff: noqa: N802  (servicer methods are named by the proto)

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Any, TypeVar

import grpc

from controlplane.apiserver.certs import Pki
from controlplane.apiserver.handlers import DeleteOptions, Handlers, ListOptions
from kubelab.api import errors
from kubelab.api.kind import KindInfo
from kubelab.gen.api import api_pb2, api_pb2_grpc

log = logging.getLogger(__name__)
T = TypeVar("T")

CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    405: grpc.StatusCode.UNIMPLEMENTED,
    410: grpc.StatusCode.OUT_OF_RANGE,
    415: grpc.StatusCode.INVALID_ARGUMENT,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    501: grpc.StatusCode.UNIMPLEMENTED,
    503: grpc.StatusCode.UNAVAILABLE,
}


def grpc_code(err: errors.ApiError) -> grpc.StatusCode:
    if err.code == 409:
        return (
            grpc.StatusCode.ALREADY_EXISTS
            if isinstance(err, errors.AlreadyExists)
            else grpc.StatusCode.ABORTED
        )
    return CODES.get(err.code, grpc.StatusCode.INTERNAL)


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _loads(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except ValueError as exc:
        raise errors.BadRequest(f"{what} is not valid JSON: {exc}") from exc


class ApiServicer(api_pb2_grpc.ApiServicer):
    def __init__(self, handlers: Handlers, *, require_auth: bool = True) -> None:
        self.h = handlers
        self.require_auth = require_auth

    def _guard(self, context: grpc.ServicerContext, fn: Callable[[], T]) -> T:
        if self.require_auth and not context.peer_identities():
            context.abort(
                grpc.StatusCode.UNAUTHENTICATED,
                json.dumps(errors.Unauthorized("Unauthorized").to_status()),
            )
        try:
            return fn()
        except errors.ApiError as err:
            context.abort(grpc_code(err), json.dumps(err.to_status()))
        raise AssertionError("unreachable")  # pragma: no cover - abort raises

    def _info(self, ref: api_pb2.ResourceRef) -> KindInfo:
        info = self.h.registry.get(ref.group, ref.version or "v1", ref.resource)
        if info is None:
            gv = f"{ref.group}/{ref.version}" if ref.group else ref.version
            raise errors.NotFound(
                f"the server doesn't have a resource type {ref.resource!r} in {gv!r}"
            )
        return info

    def _reply(self, obj: Any, warnings: list[str] | None = None) -> api_pb2.ObjectResponse:
        return api_pb2.ObjectResponse(object=_dumps(obj), warnings=warnings or [])

    def Create(
        self, request: api_pb2.CreateRequest, context: grpc.ServicerContext
    ) -> api_pb2.ObjectResponse:
        def run() -> api_pb2.ObjectResponse:
            info = self._info(request.ref)
            body = _loads(request.object, "object")
            obj, warnings = self.h.create(
                info, request.ref.namespace, body, dry_run=request.dry_run, strict=request.strict
            )
            return self._reply(obj, warnings)

        return self._guard(context, run)

    def Get(
        self, request: api_pb2.GetRequest, context: grpc.ServicerContext
    ) -> api_pb2.ObjectResponse:
        return self._guard(
            context,
            lambda: self._reply(
                self.h.get(self._info(request.ref), request.ref.namespace, request.ref.name)
            ),
        )

    def List(
        self, request: api_pb2.ListRequest, context: grpc.ServicerContext
    ) -> api_pb2.ListResponse:
        def run() -> api_pb2.ListResponse:
            result = self.h.list(
                self._info(request.ref), request.ref.namespace, self._list_options(request)
            )
            return api_pb2.ListResponse(
                items=[_dumps(o) for o in result.items],
                resource_version=result.resource_version,
                **{"continue": result.continue_token},
            )

        return self._guard(context, run)

    @staticmethod
    def _list_options(request: api_pb2.ListRequest) -> ListOptions:
        return ListOptions(
            label_selector=request.label_selector,
            field_selector=request.field_selector,
            limit=request.limit,
            continue_token=getattr(request, "continue"),
            resource_version=request.resource_version,
            resource_version_match=request.resource_version_match,
        )

    def _update(
        self, request: api_pb2.UpdateRequest, context: grpc.ServicerContext, sub: str
    ) -> api_pb2.ObjectResponse:
        def run() -> api_pb2.ObjectResponse:
            ref = request.ref
            obj, warnings = self.h.update(
                self._info(ref),
                ref.namespace,
                ref.name,
                _loads(request.object, "object"),
                subresource=sub,
                dry_run=request.dry_run,
                strict=request.strict,
            )
            return self._reply(obj, warnings)

        return self._guard(context, run)

    def Update(
        self, request: api_pb2.UpdateRequest, context: grpc.ServicerContext
    ) -> api_pb2.ObjectResponse:
        return self._update(request, context, request.ref.subresource)

    def UpdateStatus(
        self, request: api_pb2.UpdateRequest, context: grpc.ServicerContext
    ) -> api_pb2.ObjectResponse:
        return self._update(request, context, "status")

    def Patch(
        self, request: api_pb2.PatchRequest, context: grpc.ServicerContext
    ) -> api_pb2.ObjectResponse:
        def run() -> api_pb2.ObjectResponse:
            ref = request.ref
            obj, warnings = self.h.patch(
                self._info(ref),
                ref.namespace,
                ref.name,
                request.patch_type or "application/merge-patch+json",
                _loads(request.patch, "patch"),
                subresource=ref.subresource,
                dry_run=request.dry_run,
            )
            return self._reply(obj, warnings)

        return self._guard(context, run)

    def Delete(
        self, request: api_pb2.DeleteRequest, context: grpc.ServicerContext
    ) -> api_pb2.ObjectResponse:
        def run() -> api_pb2.ObjectResponse:
            ref = request.ref
            opts = DeleteOptions(
                grace_period_seconds=(
                    request.grace_period_seconds
                    if request.HasField("grace_period_seconds")
                    else None
                ),
                propagation_policy=request.propagation_policy or None,
                precondition_uid=request.precondition_uid or None,
                precondition_resource_version=request.precondition_resource_version or None,
                dry_run=request.dry_run,
            )
            return self._reply(self.h.delete(self._info(ref), ref.namespace, ref.name, opts))

        return self._guard(context, run)

    def Bind(
        self, request: api_pb2.BindRequest, context: grpc.ServicerContext
    ) -> api_pb2.ObjectResponse:
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": request.name, "uid": request.uid},
            "target": {"apiVersion": "v1", "kind": "Node", "name": request.node_name},
        }
        return self._guard(
            context, lambda: self._reply(self.h.bind(request.namespace, request.name, binding))
        )

    def Watch(
        self, request: api_pb2.WatchRequest, context: grpc.ServicerContext
    ) -> Iterator[api_pb2.WatchEvent]:
        def start() -> Iterator[Any]:
            info = self._info(request.ref)
            opts = ListOptions(
                label_selector=request.label_selector,
                field_selector=request.field_selector,
                resource_version=request.resource_version,
            )
            return self.h.watch(
                info,
                request.ref.namespace,
                opts,
                bookmarks=request.allow_bookmarks,
                initial_events_end=True,
                timeout=float(request.timeout_seconds) or None,
                stopped=lambda: not context.is_active(),
            )

        events = self._guard(context, start)
        try:
            for ev in events:
                yield api_pb2.WatchEvent(type=ev.type, object=ev.object_json())
        except errors.ApiError as err:
            yield api_pb2.WatchEvent(type="ERROR", object=_dumps(err.to_status()))
        finally:
            events.close()  # type: ignore[attr-defined]


class GrpcFrontEnd:
    def __init__(
        self, handlers: Handlers, pki: Pki | None, host: str, port: int, *, max_workers: int = 2048
    ) -> None:
        # Every open Watch holds a worker thread: size the pool for node agents x watches each.
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc"),
            options=[
                ("grpc.so_reuseport", 0),
                ("grpc.max_receive_message_length", 64 * 1024 * 1024),
                ("grpc.max_send_message_length", 512 * 1024 * 1024),
            ],
        )
        api_pb2_grpc.add_ApiServicer_to_server(
            ApiServicer(handlers, require_auth=pki is not None), self.server
        )
        address = f"{host}:{port}"
        if pki is None:
            self.port = self.server.add_insecure_port(address)
        else:
            creds = grpc.ssl_server_credentials(
                [(pki.serving_key.read_bytes(), pki.serving_cert.read_bytes())],
                root_certificates=pki.ca_cert.read_bytes(),
                require_client_auth=True,  # gRPC cannot request a cert optionally
            )
            self.port = self.server.add_secure_port(address, creds)

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop(grace=1).wait()
