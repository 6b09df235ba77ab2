"""The apiserver's only door to the store: a small etcd v3 client over gRPC, with failover.

It speaks KV Range/Put/DeleteRange/Txn and Watch, nothing else, so it runs unchanged against a
real etcd and against kubelab's kvstore. Every write is a compare-and-swap transaction on the
key's mod_revision (create: "create_revision == 0"). With several `--etcd-servers` a call that
fails with UNAVAILABLE (or times out) moves to the next endpoint and is retried there.

Must not: know about Kubernetes objects (that is `registry_store`), or hold locks across calls.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Protocol, TypeVar

import grpc

from controlplane.apiserver.errors import Compacted, StoreError
from kubelab.gen.etcd import kv_pb2, rpc_pb2, rpc_pb2_grpc

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
# A list of thousands of objects is one Range response: lift gRPC's 4 MiB default.
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 512 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
]


@dataclass(frozen=True)
class KV:
    key: str
    value: bytes
    mod_revision: int
    create_revision: int


class EventType(Enum):
    PUT = "PUT"
    DELETE = "DELETE"


@dataclass(frozen=True)
class StoreEvent:
    type: EventType
    kv: KV
    prev: KV | None


@dataclass(frozen=True)
class RangeResult:
    kvs: list[KV]
    more: bool
    count: int
    revision: int


@dataclass(frozen=True)
class WriteResult:
    """A CAS write: on failure `current` is the key's present value (None if absent)."""

    succeeded: bool
    revision: int
    current: KV | None = None


class StoreWatch(Protocol):
    def events(self) -> Iterator[list[StoreEvent]]: ...

    def close(self) -> None: ...


class Store(Protocol):
    def get(self, key: str) -> tuple[KV | None, int]: ...

    def range(
        self, prefix: str, *, start: str = "", limit: int = 0, revision: int = 0
    ) -> RangeResult: ...

    def create(self, key: str, value: bytes, *, lease: int = 0) -> WriteResult: ...

    def update(
        self, key: str, value: bytes, mod_revision: int, *, lease: int = 0
    ) -> WriteResult: ...

    def grant_lease(self, ttl: int) -> int: ...

    def delete(self, key: str, mod_revision: int) -> WriteResult: ...

    def watch(self, prefix: str, start_revision: int, *, prev_kv: bool = True) -> StoreWatch: ...

    def revision(self) -> int: ...

    def close(self) -> None: ...


def prefix_end(prefix: bytes) -> bytes:
    """The etcd range_end that selects every key starting with `prefix`."""
    end = bytearray(prefix)
    for i in range(len(end) - 1, -1, -1):
        if end[i] < 0xFF:
            end[i] += 1
            return bytes(end[: i + 1])
    return b"\0"


def _kv(kv: kv_pb2.KeyValue) -> KV:
    return KV(kv.key.decode(), kv.value, kv.mod_revision, kv.create_revision)


class EtcdStore:
    """A `Store` over the etcd v3 gRPC API, failing over across `endpoints` (host:port)."""

    def __init__(self, endpoints: list[str], *, timeout: float = 5.0) -> None:
        if not endpoints:
            raise ValueError("--etcd-servers: at least one endpoint is required")
        self.endpoints = [e.removeprefix("http://").removeprefix("https://") for e in endpoints]
        self.timeout = timeout
        self._lock = threading.Lock()
        self._current = 0
        self._channel: grpc.Channel | None = None
        self._kv: rpc_pb2_grpc.KVStub | None = None

    def _stubs(self) -> tuple[grpc.Channel, rpc_pb2_grpc.KVStub, int]:
        with self._lock:
            if self._channel is None:
                endpoint = self.endpoints[self._current]
                self._channel = grpc.insecure_channel(endpoint, options=CHANNEL_OPTIONS)
                self._kv = rpc_pb2_grpc.KVStub(self._channel)
            assert self._kv is not None
            return self._channel, self._kv, self._current

    def _failover(self, seen: int, error: grpc.RpcError) -> None:
        with self._lock:
            if self._current != seen:
                return
            log.warning(
                "etcd endpoint failed endpoint=%s code=%s; trying next",
                self.endpoints[self._current],
                error.code(),
            )
            if self._channel is not None:
                self._channel.close()
            self._channel, self._kv = None, None
            self._current = (self._current + 1) % len(self.endpoints)

    def _call(self, fn: Callable[[rpc_pb2_grpc.KVStub], T]) -> T:
        attempts = max(2, len(self.endpoints) * 2)
        last: grpc.RpcError | None = None
        for _ in range(attempts):
            _, kv, seen = self._stubs()
            try:
                return fn(kv)
            except grpc.RpcError as exc:
                if exc.code() not in RETRYABLE:
                    raise StoreError(f"etcd: {exc.details()}", retryable=False) from exc
                last = exc
                self._failover(seen, exc)
        raise StoreError(f"etcd unavailable at {', '.join(self.endpoints)}: {last}")

    def get(self, key: str) -> tuple[KV | None, int]:
        resp = self._call(
            lambda kv: kv.Range(rpc_pb2.RangeRequest(key=key.encode()), timeout=self.timeout)
        )
        return (_kv(resp.kvs[0]) if resp.kvs else None), resp.header.revision

    def range(
        self, prefix: str, *, start: str = "", limit: int = 0, revision: int = 0
    ) -> RangeResult:
        req = rpc_pb2.RangeRequest(
            key=(start or prefix).encode(),
            range_end=prefix_end(prefix.encode()),
            limit=limit,
            revision=revision,
        )
        try:
            resp = self._call(lambda kv: kv.Range(req, timeout=self.timeout))
        except StoreError as exc:
            if "compacted" in str(exc):
                raise Compacted(revision, 0) from exc
            raise
        return RangeResult([_kv(k) for k in resp.kvs], resp.more, resp.count, resp.header.revision)

    def _txn(self, compare: rpc_pb2.Compare, op: rpc_pb2.RequestOp, key: str) -> WriteResult:
        req = rpc_pb2.TxnRequest(
            compare=[compare],
            success=[op],
            failure=[rpc_pb2.RequestOp(request_range=rpc_pb2.RangeRequest(key=key.encode()))],
        )
        resp = self._call(lambda kv: kv.Txn(req, timeout=self.timeout))
        if resp.succeeded:
            return WriteResult(True, resp.header.revision)
        kvs = resp.responses[0].response_range.kvs if resp.responses else []
        return WriteResult(False, resp.header.revision, _kv(kvs[0]) if kvs else None)

    def create(self, key: str, value: bytes, *, lease: int = 0) -> WriteResult:
        compare = rpc_pb2.Compare(
            result=rpc_pb2.Compare.EQUAL,
            target=rpc_pb2.Compare.CREATE,
            key=key.encode(),
            create_revision=0,
        )
        op = rpc_pb2.RequestOp(
            request_put=rpc_pb2.PutRequest(key=key.encode(), value=value, lease=lease)
        )
        return self._txn(compare, op, key)

    def update(self, key: str, value: bytes, mod_revision: int, *, lease: int = 0) -> WriteResult:
        compare = rpc_pb2.Compare(
            result=rpc_pb2.Compare.EQUAL,
            target=rpc_pb2.Compare.MOD,
            key=key.encode(),
            mod_revision=mod_revision,
        )
        op = rpc_pb2.RequestOp(
            request_put=rpc_pb2.PutRequest(key=key.encode(), value=value, lease=lease)
        )
        return self._txn(compare, op, key)

    def delete(self, key: str, mod_revision: int) -> WriteResult:
        compare = rpc_pb2.Compare(
            result=rpc_pb2.Compare.EQUAL,
            target=rpc_pb2.Compare.MOD,
            key=key.encode(),
            mod_revision=mod_revision,
        )
        op = rpc_pb2.RequestOp(request_delete_range=rpc_pb2.DeleteRangeRequest(key=key.encode()))
        return self._txn(compare, op, key)

    def grant_lease(self, ttl: int) -> int:
        """A store lease of `ttl` seconds; keys put with it vanish when it expires."""
        channel, _, _ = self._stubs()
        stub = rpc_pb2_grpc.LeaseStub(channel)
        try:
            resp = stub.LeaseGrant(rpc_pb2.LeaseGrantRequest(TTL=ttl), timeout=self.timeout)
        except grpc.RpcError as exc:
            raise StoreError(f"etcd lease grant: {exc.details()}", retryable=False) from exc
        return int(resp.ID)

    def revision(self) -> int:
        resp = self._call(
            lambda kv: kv.Range(
                rpc_pb2.RangeRequest(key=b"\0", count_only=True), timeout=self.timeout
            )
        )
        return int(resp.header.revision)

    def compact(self, revision: int) -> None:
        self._call(
            lambda kv: kv.Compact(
                rpc_pb2.CompactionRequest(revision=revision, physical=True), timeout=self.timeout
            )
        )

    def watch(self, prefix: str, start_revision: int, *, prev_kv: bool = True) -> EtcdWatch:
        """Events from `start_revision` on; with `prev_kv`, each carries the key's value
        before it (a reader that keeps the state itself, the watch cache, does without)."""
        channel, _, seen = self._stubs()
        return EtcdWatch(self, channel, seen, prefix, start_revision, prev_kv=prev_kv)

    def close(self) -> None:
        with self._lock:
            if self._channel is not None:
                self._channel.close()
            self._channel, self._kv = None, None


class EtcdWatch:
    """One etcd watch stream on a key prefix, from `start_revision` (inclusive).

    `events()` yields batches in revision order. It raises Compacted when the start revision is
    gone, and StoreError when the stream breaks (the caller resumes from its last revision).
    """

    def __init__(
        self,
        store: EtcdStore,
        channel: grpc.Channel,
        seen: int,
        prefix: str,
        start_revision: int,
        *,
        prev_kv: bool = True,
    ) -> None:
        self._store = store
        self._seen = seen
        self.prefix = prefix
        self.start_revision = start_revision
        self._requests: queue.Queue[rpc_pb2.WatchRequest | None] = queue.Queue()
        create = rpc_pb2.WatchCreateRequest(
            key=prefix.encode(),
            range_end=prefix_end(prefix.encode()),
            start_revision=start_revision,
            prev_kv=prev_kv,
            progress_notify=True,
        )
        self._requests.put(rpc_pb2.WatchRequest(create_request=create))
        stub = rpc_pb2_grpc.WatchStub(channel)
        self._stream = stub.Watch(self._request_iter())
        self._closed = False

    def _request_iter(self) -> Iterator[rpc_pb2.WatchRequest]:
        while True:
            req = self._requests.get()
            if req is None:
                return
            yield req

    def events(self) -> Iterator[list[StoreEvent]]:
        try:
            for resp in self._stream:
                if resp.compact_revision:
                    raise Compacted(self.start_revision, resp.compact_revision)
                if resp.canceled:
                    raise StoreError(f"etcd canceled the watch: {resp.cancel_reason}")
                batch = []
                for ev in resp.events:
                    etype = EventType.DELETE if ev.type == kv_pb2.Event.DELETE else EventType.PUT
                    prev = _kv(ev.prev_kv) if ev.HasField("prev_kv") else None
                    batch.append(StoreEvent(etype, _kv(ev.kv), prev))
                if batch:
                    yield batch
        except grpc.RpcError as exc:
            if self._closed:
                return
            if exc.code() in RETRYABLE:
                self._store._failover(self._seen, exc)
            raise StoreError(f"etcd watch broke: {exc.code()}") from exc
        if not self._closed:
            raise StoreError("etcd watch stream ended")

    def close(self) -> None:
        self._closed = True
        self._requests.put(None)
        self._stream.cancel()
