"""The etcd v3 gRPC edge: KV, Watch, Lease, Cluster and Maintenance over a `Backend`.

Turns requests into commands (stamping times and lease ids here, never inside apply), waits for
them to be applied, and maps `KvError`s to the gRPC status etcd gives. Reads are linearizable
through a read barrier unless `serializable` is set. Every reply carries a header with the
cluster id, this member's id, the store revision and the Raft term.
"""

# ruff: noqa: N802 - gRPC method names are etcd's (Range, Put, LeaseGrant, ...)
from __future__ import annotations

import logging
import math
import queue
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc

from controlplane.kvstore import errors, snapshot
from controlplane.kvstore.backend import Backend
from controlplane.kvstore.commands import (
    Command,
    Compact,
    LeaseExpire,
    LeaseGrant,
    LeaseKeepAlive,
    LeaseRevoke,
    PublishMember,
    Write,
    WriteKind,
)
from controlplane.kvstore.config import Config
from controlplane.kvstore.mvcc import Applied, Change, MvccStore
from kubelab.gen.etcd import rpc_pb2, rpc_pb2_grpc

log = logging.getLogger(__name__)
R = TypeVar("R")

SERVER_VERSION = "3.4.0"
SNAPSHOT_CHUNK = 64 * 1024
GRPC_OVERHEAD_BYTES = 512 * 1024  # as etcd: the gRPC limit sits above --max-request-bytes
PROGRESS_WATCH_ID = -1


class WatchHub:
    """Wakes every watch stream after each apply (they then read what changed themselves)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wakers: set[threading.Event] = set()

    def on_applied(self, _result: Applied) -> None:
        with self._lock:
            for event in self._wakers:
                event.set()

    def register(self, event: threading.Event) -> None:
        with self._lock:
            self._wakers.add(event)

    def unregister(self, event: threading.Event) -> None:
        with self._lock:
            self._wakers.discard(event)


class Node:
    """Shared state of the edge: config, backend, member ids, timeouts."""

    def __init__(self, config: Config, backend: Backend, hub: WatchHub) -> None:
        self.config = config
        self.backend = backend
        self.hub = hub
        self.member_id = config.self_member.member_id
        self.cluster_id = config.cluster_id
        self.request_timeout = 5.0 + 2 * config.timing.election_timeout
        self.min_lease_ttl = math.ceil(1.5 * config.timing.election_timeout)
        self._by_address = {m.peer.address: m for m in config.members}

    def header(self, revision: int | None = None) -> rpc_pb2.ResponseHeader:
        status = self.backend.status()
        if revision is None:
            revision = self.backend.read(lambda s: s.revision)
        return rpc_pb2.ResponseHeader(
            cluster_id=self.cluster_id,
            member_id=self.member_id,
            revision=revision,
            raft_term=status.term,
        )

    def leader_id(self) -> int:
        leader = self.backend.status().leader
        member = self._by_address.get(leader) if leader else None
        return member.member_id if member else 0

    def propose(self, command: Command) -> Applied:
        result = self.backend.propose(command, self.request_timeout)
        if result.error is not None:
            raise result.error
        return result

    def linearize(self, serializable: bool = False) -> None:
        if self.backend.status().diverged:
            raise errors.corrupt()  # never serve a state that may differ from the others'
        if not serializable:
            self.backend.read_barrier(self.request_timeout)

    def read(self, fn: Callable[[MvccStore], R]) -> R:
        return self.backend.read(fn)

    def check_size(self, request: Any) -> None:
        if request.ByteSize() > self.config.max_request_bytes:
            raise errors.request_too_large()


def abort(context: grpc.ServicerContext, exc: errors.KvError) -> None:
    if isinstance(exc, errors.UnavailableError) and exc.unknown_outcome:
        log.info("request outcome unknown code=%s message=%r", exc.code, exc.message)
    context.abort(grpc.StatusCode[exc.code], exc.message)


def unary(fn: Callable[[Any, Any, grpc.ServicerContext], R]) -> Callable[..., R]:
    def handler(self: Any, request: Any, context: grpc.ServicerContext) -> R:
        try:
            return fn(self, request, context)
        except errors.KvError as exc:
            abort(context, exc)
            raise AssertionError("unreachable") from exc

    handler.__name__ = fn.__name__
    return handler


class KVServicer(rpc_pb2_grpc.KVServicer):
    def __init__(self, node: Node) -> None:
        self.node = node

    @unary
    def Range(self, request: rpc_pb2.RangeRequest, context: Any) -> rpc_pb2.RangeResponse:
        self.node.linearize(request.serializable)

        def read(store: MvccStore) -> rpc_pb2.RangeResponse:
            resp = store.range(request)
            resp.header.CopyFrom(self.node.header(store.revision))
            return resp

        return self.node.read(read)

    def _write(self, kind: WriteKind, request: Any) -> Any:
        self.node.check_size(request)
        result = self.node.propose(Write(kind, request.SerializeToString()))
        result.response.header.CopyFrom(self.node.header(result.revision))
        return result.response

    @unary
    def Put(self, request: rpc_pb2.PutRequest, context: Any) -> rpc_pb2.PutResponse:
        if not request.key:
            raise errors.empty_key()
        return self._write(WriteKind.PUT, request)  # type: ignore[no-any-return]

    @unary
    def DeleteRange(
        self, request: rpc_pb2.DeleteRangeRequest, context: Any
    ) -> rpc_pb2.DeleteRangeResponse:
        if not request.key:
            raise errors.empty_key()
        return self._write(WriteKind.DELETE, request)  # type: ignore[no-any-return]

    @unary
    def Txn(self, request: rpc_pb2.TxnRequest, context: Any) -> rpc_pb2.TxnResponse:
        return self._write(WriteKind.TXN, request)  # type: ignore[no-any-return]

    @unary
    def Compact(
        self, request: rpc_pb2.CompactionRequest, context: Any
    ) -> rpc_pb2.CompactionResponse:
        result = self.node.propose(Compact(request.revision))
        return rpc_pb2.CompactionResponse(header=self.node.header(result.revision))


@dataclass
class _Watcher:
    watch_id: int
    key: bytes
    range_end: bytes
    next_rev: int
    prev_kv: bool
    no_put: bool
    no_delete: bool

    def wants(self, change: Change) -> bool:
        if change.record.tombstone:
            return not self.no_delete
        return not self.no_put


class WatchServicer(rpc_pb2_grpc.WatchServicer):
    def __init__(self, node: Node) -> None:
        self.node = node

    def Watch(
        self, request_iterator: Iterator[rpc_pb2.WatchRequest], context: grpc.ServicerContext
    ) -> Iterator[rpc_pb2.WatchResponse]:
        wake = threading.Event()
        inbox: queue.SimpleQueue[rpc_pb2.WatchRequest | None] = queue.SimpleQueue()

        def reader() -> None:
            try:
                for req in request_iterator:
                    inbox.put(req)
                    wake.set()
            except Exception as exc:  # the client went away
                log.debug("watch stream reader ended: %s", exc)
            inbox.put(None)
            wake.set()

        threading.Thread(target=reader, name="kv-watch-reader", daemon=True).start()
        self.node.hub.register(wake)
        try:
            yield from self._serve(inbox, wake, context)
        finally:
            self.node.hub.unregister(wake)

    def _serve(  # noqa: PLR0912 - one dispatch over the three request kinds
        self,
        inbox: queue.SimpleQueue[rpc_pb2.WatchRequest | None],
        wake: threading.Event,
        context: grpc.ServicerContext,
    ) -> Iterator[rpc_pb2.WatchResponse]:
        watchers: dict[int, _Watcher] = {}
        next_id = 0
        while context.is_active():
            wake.wait(1.0)
            wake.clear()
            while True:
                try:
                    req = inbox.get_nowait()
                except queue.Empty:
                    break
                if req is None:
                    return
                which = req.WhichOneof("request_union")
                if which == "create_request":
                    create = req.create_request
                    watch_id = create.watch_id
                    if watch_id == 0 or watch_id in watchers:
                        while next_id in watchers:
                            next_id += 1
                        watch_id = next_id
                        next_id += 1
                    current = self.node.read(lambda s: s.revision)
                    start = create.start_revision if create.start_revision > 0 else current + 1
                    watchers[watch_id] = _Watcher(
                        watch_id=watch_id,
                        key=create.key,
                        range_end=create.range_end,
                        next_rev=start,
                        prev_kv=create.prev_kv,
                        no_put=rpc_pb2.WatchCreateRequest.NOPUT in create.filters,
                        no_delete=rpc_pb2.WatchCreateRequest.NODELETE in create.filters,
                    )
                    yield rpc_pb2.WatchResponse(
                        header=self.node.header(current), watch_id=watch_id, created=True
                    )
                elif which == "cancel_request":
                    watch_id = req.cancel_request.watch_id
                    if watchers.pop(watch_id, None) is not None:
                        yield rpc_pb2.WatchResponse(
                            header=self.node.header(), watch_id=watch_id, canceled=True
                        )
                elif which == "progress_request":
                    yield rpc_pb2.WatchResponse(
                        header=self.node.header(), watch_id=PROGRESS_WATCH_ID
                    )
            for watcher in list(watchers.values()):
                response = self._catch_up(watcher)
                if response is None:
                    continue
                if response.canceled:
                    del watchers[watcher.watch_id]
                yield response

    def _catch_up(self, w: _Watcher) -> rpc_pb2.WatchResponse | None:
        def collect(store: MvccStore) -> tuple[int, int, list[Change]] | None:
            if w.next_rev > store.revision:
                return None
            if w.next_rev < store.compact_revision:
                return (store.revision, store.compact_revision, [])
            return (store.revision, 0, store.changes_since(w.next_rev, w.key, w.range_end))

        found = self.node.read(collect)
        if found is None:
            return None
        revision, compacted_at, changes = found
        header = self.node.header(revision)
        if compacted_at:
            return rpc_pb2.WatchResponse(
                header=header,
                watch_id=w.watch_id,
                canceled=True,
                compact_revision=compacted_at,
                cancel_reason="etcdserver: mvcc: required revision has been compacted",
            )
        w.next_rev = revision + 1
        events = [c.to_event(prev_kv=w.prev_kv) for c in changes if w.wants(c)]
        if not events:
            return None
        return rpc_pb2.WatchResponse(header=header, watch_id=w.watch_id, events=events)


class LeaseServicer(rpc_pb2_grpc.LeaseServicer):
    def __init__(self, node: Node) -> None:
        self.node = node

    @unary
    def LeaseGrant(
        self, request: rpc_pb2.LeaseGrantRequest, context: Any
    ) -> rpc_pb2.LeaseGrantResponse:
        lease_id = request.ID or secrets.randbits(62) + 1
        ttl = max(request.TTL, self.node.min_lease_ttl)
        result = self.node.propose(LeaseGrant(lease_id, ttl, at=time.time()))
        result.response.header.CopyFrom(self.node.header(result.revision))
        return result.response  # type: ignore[no-any-return]

    @unary
    def LeaseRevoke(
        self, request: rpc_pb2.LeaseRevokeRequest, context: Any
    ) -> rpc_pb2.LeaseRevokeResponse:
        result = self.node.propose(LeaseRevoke(request.ID))
        return rpc_pb2.LeaseRevokeResponse(header=self.node.header(result.revision))

    def LeaseKeepAlive(
        self,
        request_iterator: Iterator[rpc_pb2.LeaseKeepAliveRequest],
        context: grpc.ServicerContext,
    ) -> Iterator[rpc_pb2.LeaseKeepAliveResponse]:
        for request in request_iterator:
            try:
                result = self.node.propose(LeaseKeepAlive(request.ID, at=time.time()))
                ttl = result.response.TTL
                revision = result.revision
            except errors.LeaseError:
                ttl, revision = 0, self.node.read(lambda s: s.revision)
            except errors.KvError as exc:
                abort(context, exc)
                return
            yield rpc_pb2.LeaseKeepAliveResponse(
                header=self.node.header(revision), ID=request.ID, TTL=ttl
            )

    @unary
    def LeaseTimeToLive(
        self, request: rpc_pb2.LeaseTimeToLiveRequest, context: Any
    ) -> rpc_pb2.LeaseTimeToLiveResponse:
        self.node.linearize()
        now = time.time()

        def read(store: MvccStore) -> rpc_pb2.LeaseTimeToLiveResponse:
            header = self.node.header(store.revision)
            lease = store.leases.get(request.ID)
            if lease is None:
                return rpc_pb2.LeaseTimeToLiveResponse(header=header, ID=request.ID, TTL=-1)
            resp = rpc_pb2.LeaseTimeToLiveResponse(
                header=header,
                ID=request.ID,
                TTL=max(0, math.ceil(lease.deadline - now)),
                grantedTTL=lease.granted_ttl,
            )
            if request.keys:
                resp.keys.extend(sorted(lease.keys))
            return resp

        return self.node.read(read)

    @unary
    def LeaseLeases(
        self, request: rpc_pb2.LeaseLeasesRequest, context: Any
    ) -> rpc_pb2.LeaseLeasesResponse:
        self.node.linearize()

        def read(store: MvccStore) -> rpc_pb2.LeaseLeasesResponse:
            leases = [rpc_pb2.LeaseStatus(ID=lid) for lid in sorted(store.leases)]
            return rpc_pb2.LeaseLeasesResponse(
                header=self.node.header(store.revision), leases=leases
            )

        return self.node.read(read)


class ClusterServicer(rpc_pb2_grpc.ClusterServicer):
    def __init__(self, node: Node) -> None:
        self.node = node

    @unary
    def MemberList(
        self, request: rpc_pb2.MemberListRequest, context: Any
    ) -> rpc_pb2.MemberListResponse:
        config = self.node.config
        published = self.node.read(lambda s: dict(s.members))
        members = []
        for m in config.members:
            member = rpc_pb2.Member(ID=m.member_id, name=m.name, peerURLs=[m.peer_url])
            if m.name == config.name:
                member.clientURLs.extend(config.advertise_client_urls)
            elif m.member_id in published:
                member.clientURLs.extend(published[m.member_id][1])
            members.append(member)
        return rpc_pb2.MemberListResponse(header=self.node.header(), members=members)


class MaintenanceServicer(rpc_pb2_grpc.MaintenanceServicer):
    def __init__(self, node: Node) -> None:
        self.node = node

    @unary
    def Status(self, request: rpc_pb2.StatusRequest, context: Any) -> rpc_pb2.StatusResponse:
        status = self.node.backend.status()
        size, revision = self.node.read(lambda s: (s.size, s.revision))
        resp = rpc_pb2.StatusResponse(
            header=self.node.header(revision),
            version=SERVER_VERSION,
            dbSize=size,
            dbSizeInUse=size,
            leader=self.node.leader_id(),
            raftIndex=status.commit_index,
            raftTerm=status.term,
            raftAppliedIndex=status.applied_index,
        )
        if status.diverged:
            resp.errors.append("etcdserver: corrupt cluster")
        return resp

    @unary
    def Alarm(self, request: rpc_pb2.AlarmRequest, context: Any) -> rpc_pb2.AlarmResponse:
        return rpc_pb2.AlarmResponse(header=self.node.header())

    @unary
    def Defragment(
        self, request: rpc_pb2.DefragmentRequest, context: Any
    ) -> rpc_pb2.DefragmentResponse:
        return rpc_pb2.DefragmentResponse(header=self.node.header())

    def Hash(self, request: rpc_pb2.HashRequest, context: grpc.ServicerContext) -> Any:
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "kvstore: Hash is not served")

    def HashKV(self, request: rpc_pb2.HashKVRequest, context: grpc.ServicerContext) -> Any:
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "kvstore: HashKV is not served")

    def MoveLeader(self, request: rpc_pb2.MoveLeaderRequest, context: grpc.ServicerContext) -> Any:
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "kvstore: MoveLeader is not served")

    def Snapshot(
        self, request: rpc_pb2.SnapshotRequest, context: grpc.ServicerContext
    ) -> Iterator[rpc_pb2.SnapshotResponse]:
        dump, revision = self.node.read(lambda s: (s.dump(), s.revision))
        blob = snapshot.encode(dump)
        header = self.node.header(revision)
        for offset in range(0, len(blob), SNAPSHOT_CHUNK):
            chunk = blob[offset : offset + SNAPSHOT_CHUNK]
            yield rpc_pb2.SnapshotResponse(
                header=header,
                remaining_bytes=len(blob) - offset - len(chunk),
                blob=chunk,
                version=SERVER_VERSION,
            )


class Publisher:
    """Puts this member's name and client URLs into the log once (again after a change)."""

    def __init__(self, node: Node, period: float = 0.5) -> None:
        self.node = node
        self.period = period
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="kv-publish", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        config = self.node.config
        mine = (config.name, tuple(config.advertise_client_urls))
        command = PublishMember(self.node.member_id, *mine)
        while not self._stop.wait(self.period):
            if self.node.read(lambda s: s.members.get(self.node.member_id)) == mine:
                return
            try:
                self.node.propose(command)
                log.info("published member=%x client_urls=%s", command.member_id, mine[1])
            except errors.KvError as exc:
                log.debug("publish not applied yet: %s", exc)


class Lessor:
    """On the leader only: proposes the expiry of leases past their deadline.

    Like etcd, a new leader first gives every lease a full TTL from the moment it took over,
    so a leader change never expires a lease whose keep-alives went to the old leader.
    """

    def __init__(self, node: Node, period: float = 0.25) -> None:
        self.node = node
        self.period = period
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="kv-lessor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        leader_since: float | None = None
        while not self._stop.wait(self.period):
            if not self.node.backend.status().is_leader:
                leader_since = None
                continue
            now = time.time()
            if leader_since is None:
                leader_since = now
            leases = self.node.read(
                lambda s: [(le.lease_id, le.deadline, le.ttl) for le in s.leases.values()]
            )
            for lease_id, deadline, ttl in leases:
                if deadline <= now and leader_since + ttl <= now:
                    try:
                        self.node.backend.propose(LeaseExpire(lease_id, at=now), 5.0)
                        log.info("lease expired lease=%x", lease_id)
                    except errors.KvError as exc:
                        log.info("lease expiry not applied lease=%x error=%s", lease_id, exc)
                        break


def build_server(node: Node, *, max_workers: int = 128) -> grpc.Server:
    limit = node.config.max_request_bytes + GRPC_OVERHEAD_BYTES
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="kv-grpc"),
        options=[
            ("grpc.max_receive_message_length", limit),
            ("grpc.max_send_message_length", 2**31 - 1),
            ("grpc.so_reuseport", 0),
        ],
    )
    rpc_pb2_grpc.add_KVServicer_to_server(KVServicer(node), server)
    rpc_pb2_grpc.add_WatchServicer_to_server(WatchServicer(node), server)
    rpc_pb2_grpc.add_LeaseServicer_to_server(LeaseServicer(node), server)
    rpc_pb2_grpc.add_ClusterServicer_to_server(ClusterServicer(node), server)
    rpc_pb2_grpc.add_MaintenanceServicer_to_server(MaintenanceServicer(node), server)
    for endpoint in node.config.listen_client:
        server.add_insecure_port(endpoint.address)
    return server
