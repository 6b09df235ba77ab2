"""The gRPC front end (port 6444): kubelab's `Api` service over the same `Handlers` as REST.

Clients authenticate with a certificate from the cluster CA (mutual TLS; CN = user, O = groups);
a call without one fails UNAUTHENTICATED. ApiErrors become gRPC status codes with the Kubernetes
Status JSON as details, which `kubelab.client` turns back into the same exception classes.

The server is `grpc.aio` on one event-loop thread: unary calls run the blocking `Handlers` in a
thread pool; Watch streams are coroutines on the loop, fed by the watch cache (`grpc_watch.py`).
"""

# ruff: noqa: N802  (servicer methods are named by the proto)

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable, Coroutine
from concurrent import futures
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message

from controlplane.apiserver.certs import Pki
from controlplane.apiserver.grpc_watch import Wakeups, WatchService
from controlplane.apiserver.handlers import DeleteOptions, Handlers, ListOptions
from kubelab.api import errors
from kubelab.api.kind import KindInfo
from kubelab.gen.api import api_pb2

log = logging.getLogger(__name__)
T = TypeVar("T")
SERVICE = "kubelab.api.v1.Api"

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


class ApiServicer:
    """The unary methods of the `Api` service (Watch is `grpc_watch.WatchService`)."""

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

    def info(self, ref: api_pb2.ResourceRef) -> KindInfo:
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
            info = self.info(request.ref)
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
                self.h.get(self.info(request.ref), request.ref.namespace, request.ref.name)
            ),
        )

    def List(
        self, request: api_pb2.ListRequest, context: grpc.ServicerContext
    ) -> api_pb2.ListResponse:
        def run() -> api_pb2.ListResponse:
            result = self.h.list(
                self.info(request.ref), request.ref.namespace, self._list_options(request)
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
                self.info(ref),
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
                self.info(ref),
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
            return self._reply(self.h.delete(self.info(ref), ref.namespace, ref.name, opts))

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


UNARY: tuple[tuple[str, type[Message], type[Message]], ...] = (
    ("Create", api_pb2.CreateRequest, api_pb2.ObjectResponse),
    ("Get", api_pb2.GetRequest, api_pb2.ObjectResponse),
    ("List", api_pb2.ListRequest, api_pb2.ListResponse),
    ("Update", api_pb2.UpdateRequest, api_pb2.ObjectResponse),
    ("UpdateStatus", api_pb2.UpdateRequest, api_pb2.ObjectResponse),
    ("Patch", api_pb2.PatchRequest, api_pb2.ObjectResponse),
    ("Delete", api_pb2.DeleteRequest, api_pb2.ObjectResponse),
    ("Bind", api_pb2.BindRequest, api_pb2.ObjectResponse),
)


def method_handlers(servicer: ApiServicer, watch: WatchService) -> grpc.GenericRpcHandler:
    """The `Api` service: unary calls on the servicer's blocking methods (the server runs them
    in its thread pool), `Watch` as a coroutine whose frames are already serialized."""
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
        name: grpc.unary_unary_rpc_method_handler(
            getattr(servicer, name),
            request_deserializer=request.FromString,
            response_serializer=response.SerializeToString,
        )
        for name, request, response in UNARY
    }
    handlers["Watch"] = grpc.unary_stream_rpc_method_handler(
        watch.watch,  # an async generator: grpc.aio iterates it
        request_deserializer=api_pb2.WatchRequest.FromString,
        response_serializer=None,  # identity: frames are bytes, serialized once per event
    )
    return grpc.method_handlers_generic_handler(SERVICE, handlers)


WATCH_WORKERS = 2048  # watch starts and direct store watches (each may wait on the store)


class GrpcFrontEnd:
    """A `grpc.aio` server on its own event-loop thread. Unary calls run in a thread pool (they
    block on the store); every Watch stream is a coroutine on the loop (`grpc_watch.py`)."""

    def __init__(
        self, handlers: Handlers, pki: Pki | None, host: str, port: int, *, max_workers: int = 8
    ) -> None:
        # Unary calls: a few threads keep the store busy; dozens would only pass the GIL
        # around. Watch starts and direct store watches block for longer: a pool of their own.
        self._pool = futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc")
        self._watch_pool = futures.ThreadPoolExecutor(
            max_workers=WATCH_WORKERS, thread_name_prefix="grpc-watch"
        )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="grpc")
        self._thread.start()
        self._stopped = False
        try:
            self.server, self.wakeups, self.port = self._call(
                self._create(handlers, pki, f"{host}:{port}")
            )
        except BaseException:
            self._close_loop()
            raise

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    async def _create(
        self, handlers: Handlers, pki: Pki | None, address: str
    ) -> tuple[grpc.aio.Server, Wakeups, int]:
        server = grpc.aio.server(
            migration_thread_pool=self._pool,
            options=[
                ("grpc.so_reuseport", 0),
                ("grpc.max_receive_message_length", 64 * 1024 * 1024),
                ("grpc.max_send_message_length", 512 * 1024 * 1024),
            ],
        )
        servicer = ApiServicer(handlers, require_auth=pki is not None)
        wakeups = Wakeups(asyncio.get_running_loop())
        watch = WatchService(
            handlers,
            self._watch_pool,
            wakeups,
            servicer.info,
            grpc_code,
            require_auth=pki is not None,
        )
        server.add_generic_rpc_handlers((method_handlers(servicer, watch),))
        if pki is None:
            port = server.add_insecure_port(address)
        else:
            creds = grpc.ssl_server_credentials(
                [(pki.serving_key.read_bytes(), pki.serving_cert.read_bytes())],
                root_certificates=pki.ca_cert.read_bytes(),
                require_client_auth=True,  # gRPC cannot request a cert optionally
            )
            port = server.add_secure_port(address, creds)
        return server, wakeups, port

    def start(self) -> None:
        self._call(self.server.start())

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._call(self.server.stop(grace=1))
        self.wakeups.close()
        self._call(self._loop.shutdown_asyncgens())
        self._close_loop()

    def _close_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._watch_pool.shutdown(wait=False, cancel_futures=True)
