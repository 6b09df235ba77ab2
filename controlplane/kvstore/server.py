"""The etcd v3 gRPC edge: KV, Watch, Lease, Cluster and Maintenance over a `Backend`.

Turns requests into commands (stamping times and lease ids here, never inside apply), waits for
them to be applied, and maps `KvError`s to the gRPC status etcd gives. Reads are linearizable
through a read barrier unless `serializable` is set. Every reply carries a header with the
cluster id, this member's id, the store revision and the Raft term.

The server is grpc.aio: a request waiting for Raft holds no thread, only a future that the
Raft thread resolves. Reads of the store take its lock briefly on the event loop; the lessor
and the member publisher are plain threads using the blocking `Backend.propose`.
"""

# ruff: noqa: N802 - gRPC method names are etcd's (Range, Put, LeaseGrant, ...)
from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Future
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
    """Wakes every watch stream after each apply (they then read what changed themselves).

    `on_applied` runs on the Raft thread; streams live on the event loop, so it only
    schedules their wake-ups there.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wakers: dict[asyncio.Event, asyncio.AbstractEventLoop] = {}

    def on_applied(self, _result: Applied) -> None:
        with self._lock:
            wakers = list(self._wakers.items())
        for event, loop in wakers:
            with contextlib.suppress(RuntimeError):  # the loop is closing
                loop.call_soon_threadsafe(event.set)

    def register(self, event: asyncio.Event) -> None:
        with self._lock:
            self._wakers[event] = asyncio.get_running_loop()

    def unregister(self, event: asyncio.Event) -> None:
        with self._lock:
            self._wakers.pop(event, None)


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

    async def propose(self, command: Command) -> Applied:
        result = await self._wait(self.backend.submit(command))
        if result.error is not None:
            raise result.error
        return result

    async def linearize(self, serializable: bool = False) -> None:
        if self.backend.status().diverged:
            raise errors.corrupt()  # never serve a state that may differ from the others'
        if not serializable:
            await self._wait(self.backend.barrier())

    async def _wait(self, future: Future[R]) -> R:
        # shield: a timeout must not cancel the proposal, whose outcome is then unknown
        try:
            return await asyncio.wait_for(
                asyncio.shield(asyncio.wrap_future(future)), self.request_timeout
            )
        except TimeoutError:
            raise errors.timed_out() from None

    def read(self, fn: Callable[[MvccStore], R]) -> R:
        return self.backend.read(fn)

    def check_size(self, request: Any) -> None:
        if request.ByteSize() > self.config.max_request_bytes:
            raise errors.request_too_large()


Context = grpc.aio.ServicerContext[Any, Any]


async def abort(context: Context, exc: errors.KvError) -> None:
    if isinstance(exc, errors.UnavailableError) and exc.unknown_outcome:
        log.info("request outcome unknown code=%s message=%r", exc.code, exc.message)
    await context.abort(grpc.StatusCode[exc.code], exc.message)


def unary(
    fn: Callable[[Any, Any, Context], Awaitable[R]],
) -> Callable[[Any, Any, Context], Awaitable[R]]:
    async def handler(self: Any, request: Any, context: Context) -> R:
        try:
            return await fn(self, request, context)
        except errors.KvError as exc:
            await abort(context, exc)
            raise AssertionError("unreachable") from exc

    handler.__name__ = fn.__name__
    return handler


class KVServicer(rpc_pb2_grpc.KVServicer):
    def __init__(self, node: Node) -> None:
        self.node = node

    @unary
    async def Range(self, request: rpc_pb2.RangeRequest, context: Any) -> rpc_pb2.RangeResponse:
        await self.node.linearize(request.serializable)

        def read(store: MvccStore) -> rpc_pb2.RangeResponse:
            resp = store.range(request)
            resp.header.CopyFrom(self.node.header(store.revision))
            return resp

        return self.node.read(read)

    async def _write(self, kind: WriteKind, request: Any) -> Any:
        self.node.check_size(request)
        result = await self.node.propose(Write(kind, request.SerializeToString()))
        result.response.header.CopyFrom(self.node.header(result.revision))
        return result.response

    @unary
    async def Put(self, request: rpc_pb2.PutRequest, context: Any) -> rpc_pb2.PutResponse:
        if not request.key:
            raise errors.empty_key()
        return await self._write(WriteKind.PUT, request)  # type: ignore[no-any-return]

    @unary
    async def DeleteRange(
        self, request: rpc_pb2.DeleteRangeRequest, context: Any
    ) -> rpc_pb2.DeleteRangeResponse:
        if not request.key:
            raise errors.empty_key()
        return await self._write(WriteKind.DELETE, request)  # type: ignore[no-any-return]

    @unary
    async def Txn(self, request: rpc_pb2.TxnRequest, context: Any) -> rpc_pb2.TxnResponse:
        return await self._write(WriteKind.TXN, request)  # type: ignore[no-any-return]

    @unary
    async def Compact(
        self, request: rpc_pb2.CompactionRequest, context: Any
    ) -> rpc_pb2.CompactionResponse:
        result = await self.node.propose(Compact(request.revision))
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

    async def Watch(
        self, request_iterator: AsyncIterator[rpc_pb2.WatchRequest], context: Context
    ) -> AsyncIterator[rpc_pb2.WatchResponse]:
        wake = asyncio.Event()
        inbox: asyncio.Queue[rpc_pb2.WatchRequest | None] = asyncio.Queue()

        async def reader() -> None:
            try:
                async for req in request_iterator:
                    inbox.put_nowait(req)
                    wake.set()
            except Exception as exc:  # the client went away
                log.debug("watch stream reader ended: %s", exc)
            inbox.put_nowait(None)
            wake.set()

        task = asyncio.ensure_future(reader())
        self.node.hub.register(wake)
        try:
            async for response in self._serve(inbox, wake):
                yield response
        finally:
            self.node.hub.unregister(wake)
            task.cancel()

    async def _serve(
        self,
        inbox: asyncio.Queue[rpc_pb2.WatchRequest | None],
        wake: asyncio.Event,
    ) -> AsyncIterator[rpc_pb2.WatchResponse]:
        watchers: dict[int, _Watcher] = {}
        next_id = 0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), 1.0)
            wake.clear()
            while not inbox.empty():
                req = inbox.get_nowait()
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
    async def LeaseGrant(
        self, request: rpc_pb2.LeaseGrantRequest, context: Any
    ) -> rpc_pb2.LeaseGrantResponse:
        lease_id = request.ID or secrets.randbits(62) + 1
        ttl = max(request.TTL, self.node.min_lease_ttl)
        result = await self.node.propose(LeaseGrant(lease_id, ttl, at=time.time()))
        result.response.header.CopyFrom(self.node.header(result.revision))
        return result.response  # type: ignore[no-any-return]

    @unary
    async def LeaseRevoke(
        self, request: rpc_pb2.LeaseRevokeRequest, context: Any
    ) -> rpc_pb2.LeaseRevokeResponse:
        result = await self.node.propose(LeaseRevoke(request.ID))
        return rpc_pb2.LeaseRevokeResponse(header=self.node.header(result.revision))

    async def LeaseKeepAlive(
        self,
        request_iterator: AsyncIterator[rpc_pb2.LeaseKeepAliveRequest],
        context: Context,
    ) -> AsyncIterator[rpc_pb2.LeaseKeepAliveResponse]:
        async for request in request_iterator:
            try:
                result = await self.node.propose(LeaseKeepAlive(request.ID, at=time.time()))
                ttl = result.response.TTL
                revision = result.revision
            except errors.LeaseError:
                ttl, revision = 0, self.node.read(lambda s: s.revision)
            except errors.KvError as exc:
                await abort(context, exc)
                return
            yield rpc_pb2.LeaseKeepAliveResponse(
                header=self.node.header(revision), ID=request.ID, TTL=ttl
            )

    @unary
    async def LeaseTimeToLive(
        self, request: rpc_pb2.LeaseTimeToLiveRequest, context: Any
    ) -> rpc_pb2.LeaseTimeToLiveResponse:
        await self.node.linearize()
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
    async def LeaseLeases(
        self, request: rpc_pb2.LeaseLeasesRequest, context: Any
    ) -> rpc_pb2.LeaseLeasesResponse:
        await self.node.linearize()

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
    async def MemberList(
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
    async def Status(self, request: rpc_pb2.StatusRequest, context: Any) -> rpc_pb2.StatusResponse:
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
    async def Alarm(self, request: rpc_pb2.AlarmRequest, context: Any) -> rpc_pb2.AlarmResponse:
        return rpc_pb2.AlarmResponse(header=self.node.header())

    @unary
    async def Defragment(
        self, request: rpc_pb2.DefragmentRequest, context: Any
    ) -> rpc_pb2.DefragmentResponse:
        return rpc_pb2.DefragmentResponse(header=self.node.header())

    async def Hash(self, request: rpc_pb2.HashRequest, context: Context) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "kvstore: Hash is not served")

    async def HashKV(self, request: rpc_pb2.HashKVRequest, context: Context) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "kvstore: HashKV is not served")

    async def MoveLeader(self, request: rpc_pb2.MoveLeaderRequest, context: Context) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "kvstore: MoveLeader is not served")

    async def Snapshot(
        self, request: rpc_pb2.SnapshotRequest, context: Context
    ) -> AsyncIterator[rpc_pb2.SnapshotResponse]:
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
                result = self.node.backend.propose(command, self.node.request_timeout)
                if result.error is not None:
                    raise result.error
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


def build_server(node: Node) -> grpc.aio.Server:
    """The aio server with every etcd service; call (and start it) inside the event loop."""
    limit = node.config.max_request_bytes + GRPC_OVERHEAD_BYTES
    server = grpc.aio.server(
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


class BackgroundServer:
    """The aio server on its own event-loop thread, for embedding in synchronous code."""

    def __init__(self, node: Node) -> None:
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._server: grpc.aio.Server | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="kv-grpc-loop", daemon=True)
        self._node = node

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def start() -> None:
            self._server = build_server(self._node)
            await self._server.start()

        try:
            self._loop.run_until_complete(start())
        except BaseException as exc:
            self._error = exc
            self._started.set()
            return
        self._started.set()
        self._loop.run_forever()

    def start(self) -> None:
        self._thread.start()
        self._started.wait()
        if self._error is not None:
            raise self._error

    def stop(self, grace: float | None = None) -> None:
        server = self._server
        if server is not None:
            asyncio.run_coroutine_threadsafe(server.stop(grace), self._loop).result(grace or 5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
