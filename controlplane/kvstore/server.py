"""The etcd v3 gRPC edge: KV, Watch, Lease, Cluster and Maintenance over a `Backend`.

Turns requests into commands (stamping times and lease ids here, never inside apply), waits for
them to be applied, and maps `KvError`s to the gRPC status etcd gives (node.py). Reads are
linearizable through a read index unless `serializable` is set. Every reply carries a header
with the cluster id, this member's id, the store revision and the Raft term.

The server is grpc.aio: a request waiting for Raft holds no thread, only a future that the
Raft thread resolves. Reads of the store take its lock briefly on the event loop. The Watch
service is in watch.py; the lessor and the member publisher (threads) in housekeeping.py.
"""

# ruff: noqa: N802 - gRPC method names are etcd's (Range, Put, LeaseGrant, ...)
from __future__ import annotations

import asyncio
import logging
import math
import secrets
import threading
import time
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import grpc

from controlplane.kvstore import errors, snapshot
from controlplane.kvstore.commands import (
    Compact,
    LeaseGrant,
    LeaseKeepAlive,
    LeaseRevoke,
    Write,
    WriteKind,
)
from controlplane.kvstore.housekeeping import Lessor, Publisher
from controlplane.kvstore.mvcc import MvccStore
from controlplane.kvstore.node import Context, Node, abort, unary
from controlplane.kvstore.watch import WatchHub, WatchServicer
from kubelab.gen.etcd import rpc_pb2, rpc_pb2_grpc

log = logging.getLogger(__name__)
R = TypeVar("R")

SERVER_VERSION = "3.4.0"
SNAPSHOT_CHUNK = 64 * 1024
GRPC_OVERHEAD_BYTES = 512 * 1024  # as etcd: the gRPC limit sits above --max-request-bytes

__all__ = ["BackgroundServer", "Lessor", "Node", "Publisher", "WatchHub", "build_server"]


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

    @unary
    async def HashKV(self, request: rpc_pb2.HashKVRequest, context: Any) -> rpc_pb2.HashKVResponse:
        def read(store: MvccStore) -> rpc_pb2.HashKVResponse:
            crc, revision = store.hash_kv(request.revision)
            return rpc_pb2.HashKVResponse(
                header=self.node.header(store.revision),
                hash=crc,
                compact_revision=store.compact_revision,
                hash_revision=revision,
            )

        return self.node.read(read)

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
