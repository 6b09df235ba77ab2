"""The gRPC edge over a fake backend (no Raft): headers, error mapping, watch, lease expiry."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import grpc
import pytest

from controlplane.kvstore import errors
from controlplane.kvstore.backend import RaftStatus
from controlplane.kvstore.commands import Command, LeaseGrant
from controlplane.kvstore.config import build_config
from controlplane.kvstore.mvcc import Applied, MvccStore
from controlplane.kvstore.server import BackgroundServer, Lessor, Node, WatchHub
from kubelab.gen.etcd import kv_pb2, rpc_pb2
from tests.integration.kvstore.harness import Stubs, free_ports, stubs
from tests.support import wait_until

T = TypeVar("T")


@dataclass
class FakeBackend:
    """Applies commands at once to a local store, like a one-member cluster that never fails
    unless told to (`fail`, `diverged`)."""

    hub: WatchHub
    self_address: str = "127.0.0.1:1"
    store: MvccStore = field(default_factory=MvccStore)
    fail: errors.KvError | None = None
    diverged: bool = False
    proposed: list[Command] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def submit(self, command: Command) -> Future[Applied]:
        future: Future[Applied] = Future()
        if self.fail is not None:
            future.set_exception(self.fail)
            return future
        with self.lock:
            self.proposed.append(command)
            result = self.store.apply(command)
        self.hub.on_applied(result)
        future.set_result(result)
        return future

    def propose(self, command: Command, timeout: float) -> Applied:
        return self.submit(command).result(timeout)

    def barrier(self) -> Future[None]:
        future: Future[None] = Future()
        if self.fail is not None:
            future.set_exception(self.fail)
        else:
            future.set_result(None)
        return future

    def read_barrier(self, timeout: float) -> None:
        self.barrier().result(timeout)

    def read(self, fn: Callable[[MvccStore], T]) -> T:
        with self.lock:
            return fn(self.store)

    def status(self) -> RaftStatus:
        return RaftStatus(self.self_address, True, 3, 10, 10, self.diverged)


@dataclass
class Edge:
    node: Node
    backend: FakeBackend
    client: Stubs


@pytest.fixture
def edge() -> Iterator[Edge]:
    (port,) = free_ports(1)
    config = build_config(
        name="n1",
        data_dir="/nonexistent",
        listen_client_urls=f"http://127.0.0.1:{port}",
        advertise_client_urls=f"http://127.0.0.1:{port}",
        listen_peer_urls="http://127.0.0.1:1",
        initial_advertise_peer_urls="http://127.0.0.1:1",
        initial_cluster=None,
        heartbeat_ms=10,
        election_ms=100,
        peer_secret=None,
        max_request_bytes=1024,
        watch_progress_notify_interval="200ms",
    )
    hub = WatchHub()
    backend = FakeBackend(hub)
    node = Node(config, backend, hub)
    server = BackgroundServer(node)
    server.start()
    client = stubs(f"127.0.0.1:{port}")
    try:
        yield Edge(node, backend, client)
    finally:
        client.channel.close()
        server.stop(0)


def _error(call: Callable[[], object]) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        call()
    err: Any = info.value
    return err.code(), err.details()


def test_every_reply_has_the_header(edge: Edge) -> None:
    put = edge.client.kv.Put(rpc_pb2.PutRequest(key=b"a", value=b"1"), timeout=5)
    got = edge.client.kv.Range(rpc_pb2.RangeRequest(key=b"a"), timeout=5)
    status = edge.client.maintenance.Status(rpc_pb2.StatusRequest(), timeout=5)
    for header in (put.header, got.header, status.header):
        assert header.cluster_id == edge.node.cluster_id
        assert header.member_id == edge.node.member_id
        assert header.raft_term == 3
        assert header.revision == 2
    assert status.leader == edge.node.member_id


@pytest.mark.parametrize(
    ("failure", "code", "message"),
    [
        (errors.no_leader(), grpc.StatusCode.UNAVAILABLE, "etcdserver: no leader"),
        (errors.timed_out(), grpc.StatusCode.UNAVAILABLE, "etcdserver: request timed out"),
        (errors.leader_changed(), grpc.StatusCode.UNAVAILABLE, "etcdserver: leader changed"),
        (
            errors.too_many_requests(),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "etcdserver: too many requests",
        ),
    ],
    ids=["no-leader", "timeout", "leader-changed", "too-many"],
)
def test_backend_failures_map_to_etcd_statuses(
    edge: Edge, failure: errors.KvError, code: grpc.StatusCode, message: str
) -> None:
    edge.backend.fail = failure
    put = rpc_pb2.PutRequest(key=b"a", value=b"1")
    assert _error(lambda: edge.client.kv.Put(put, timeout=5)) == (code, message)
    assert _error(lambda: edge.client.kv.Range(rpc_pb2.RangeRequest(key=b"a"), timeout=5)) == (
        code,
        message,
    )
    # a serializable read needs no quorum
    edge.client.kv.Range(rpc_pb2.RangeRequest(key=b"a", serializable=True), timeout=5)


def test_a_diverged_replica_serves_nothing(edge: Edge) -> None:
    edge.backend.diverged = True
    for serializable in (False, True):
        req = rpc_pb2.RangeRequest(key=b"a", serializable=serializable)
        assert _error(partial(edge.client.kv.Range, req, timeout=5)) == (
            grpc.StatusCode.DATA_LOSS,
            "etcdserver: corrupt cluster",
        )
    status = edge.client.maintenance.Status(rpc_pb2.StatusRequest(), timeout=5)
    assert list(status.errors) == ["etcdserver: corrupt cluster"]


def test_oversized_request_is_rejected_before_proposing(edge: Edge) -> None:
    put = rpc_pb2.PutRequest(key=b"a", value=b"x" * 2048)
    assert _error(lambda: edge.client.kv.Put(put, timeout=5)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "etcdserver: request is too large",
    )
    assert edge.backend.proposed == []


def test_lease_ids_and_times_are_chosen_by_the_proposer(edge: Edge) -> None:
    before = time.time()
    granted = edge.client.lease.LeaseGrant(rpc_pb2.LeaseGrantRequest(TTL=1), timeout=5)
    (command,) = edge.backend.proposed
    assert isinstance(command, LeaseGrant)
    assert command.lease_id == granted.ID > 0
    assert command.at >= before
    assert granted.TTL == 1  # at least 1.5 election timeouts (0.15 s here), rounded up


def _longer(items: list[rpc_pb2.WatchRequest], than: int) -> bool:
    return len(items) > than


def test_watch_create_events_progress_and_cancel(edge: Edge) -> None:
    requests: list[rpc_pb2.WatchRequest] = []
    more = threading.Condition()

    def feed() -> Iterator[rpc_pb2.WatchRequest]:
        sent = 0
        while True:
            with more:
                more.wait_for(partial(_longer, requests, sent), timeout=10)
                if len(requests) <= sent:
                    return
                batch = requests[sent:]
                sent = len(requests)
            yield from batch

    def send(req: rpc_pb2.WatchRequest) -> None:
        with more:
            requests.append(req)
            more.notify()

    create = rpc_pb2.WatchCreateRequest(key=b"w", range_end=b"x", prev_kv=True)
    send(rpc_pb2.WatchRequest(create_request=create))
    responses = edge.client.watch.Watch(feed(), timeout=10)
    first = next(responses)
    assert first.created
    edge.client.kv.Put(rpc_pb2.PutRequest(key=b"w1", value=b"a"), timeout=5)
    edge.client.kv.Put(rpc_pb2.PutRequest(key=b"w1", value=b"b"), timeout=5)
    events: list[kv_pb2.Event] = []
    while len(events) < 2:
        events.extend(next(responses).events)
    assert [e.kv.value for e in events] == [b"a", b"b"]
    assert events[1].prev_kv.value == b"a"
    send(rpc_pb2.WatchRequest(progress_request=rpc_pb2.WatchProgressRequest()))
    progress = next(responses)
    assert (progress.watch_id, progress.header.revision) == (-1, 3)
    send(rpc_pb2.WatchRequest(cancel_request=rpc_pb2.WatchCancelRequest(watch_id=first.watch_id)))
    assert next(responses).canceled
    responses.cancel()


def test_lessor_expires_a_lease_only_on_the_leader_and_through_a_command(edge: Edge) -> None:
    edge.backend.propose(LeaseGrant(77, 1, at=time.time() - 5), 1)
    edge.client.kv.Put(rpc_pb2.PutRequest(key=b"l", value=b"v", lease=77), timeout=5)
    lessor = Lessor(edge.node, period=0.02)
    lessor.start()
    try:
        wait_until(lambda: 77 not in edge.backend.store.leases, 10)
    finally:
        lessor.stop()
    got = edge.client.kv.Range(rpc_pb2.RangeRequest(key=b"l"), timeout=5)
    assert list(got.kvs) == []


def test_watchers_with_progress_notify_get_periodic_progress(edge: Edge) -> None:
    edge.client.kv.Put(rpc_pb2.PutRequest(key=b"p", value=b"1"), timeout=5)
    create = rpc_pb2.WatchCreateRequest(key=b"p", progress_notify=True)
    done = threading.Event()

    def feed() -> Iterator[rpc_pb2.WatchRequest]:
        yield rpc_pb2.WatchRequest(create_request=create)
        done.wait(10)

    responses = edge.client.watch.Watch(feed(), timeout=10)
    try:
        assert next(responses).created
        progress = next(responses)  # nothing changes: a progress notification within ~200 ms
        assert list(progress.events) == []
        assert progress.header.revision == 2
        assert not progress.canceled
    finally:
        done.set()
        responses.cancel()
