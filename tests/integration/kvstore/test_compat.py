"""The real etcdctl (and etcd's gRPC protocol) against a 3-replica kvstore AND a real etcd.

Every test runs against both backends: passing against the real etcd shows the test checks
etcd's behaviour, passing against the kvstore shows the kvstore has it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from kubelab.gen.etcd import kv_pb2, rpc_pb2
from tests.integration.kvstore.harness import ETCD, ETCDCTL, Cluster
from tests.support import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def _missing(kind: str) -> str | None:
    if not shutil.which(ETCDCTL):
        return "needs etcdctl (Debian etcd-client, scripts/system-deps.sh)"
    if kind == "etcd" and not shutil.which(ETCD):
        return "needs etcd (Debian etcd-server, scripts/system-deps.sh)"
    return None


@pytest.fixture(scope="module", params=["kvstore", "etcd"])
def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    kind = request.param
    reason = _missing(kind)
    if reason:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(reason)
        pytest.skip(reason)
    c = Cluster(tmp_path_factory.mktemp(f"compat-{kind}"), kind=kind)
    try:
        c.start_all()
        yield c
    except BaseException:
        print(c.logs())
        raise
    finally:
        c.close()


def test_put_get_del(cluster: Cluster) -> None:
    assert cluster.etcdctl("put", "key1", "value1").strip() == "OK"
    assert cluster.etcdctl("get", "key1") == "key1\nvalue1\n"
    assert cluster.etcdctl("del", "key1").strip() == "1"
    assert cluster.etcdctl("get", "key1") == ""
    assert cluster.etcdctl("del", "key1").strip() == "0"


def test_get_prefix_keys_only_and_rev(cluster: Cluster) -> None:
    for key in ("/p/a", "/p/b", "/q/c"):
        cluster.etcdctl("put", key, "x")
    assert cluster.etcdctl("get", "/p/", "--prefix", "--keys-only").split() == ["/p/a", "/p/b"]
    first = cluster.etcdctl("put", "/r/k", "one", "-w", "json")
    rev = int(re.search(r'"revision":(\d+)', first).group(1))  # type: ignore[union-attr]
    cluster.etcdctl("put", "/r/k", "two")
    assert cluster.etcdctl("get", "/r/k", "--print-value-only").strip() == "two"
    assert cluster.etcdctl("get", "/r/k", f"--rev={rev}", "--print-value-only").strip() == "one"
    listed = cluster.etcdctl("get", "", "--prefix", "--keys-only").split()
    assert {"/p/a", "/p/b", "/q/c", "/r/k"} <= set(listed)


def test_get_from_each_endpoint_sees_the_write(cluster: Cluster) -> None:
    cluster.etcdctl("put", "everywhere", "v", endpoints=[cluster.endpoints[1]])
    for ep in cluster.endpoints:
        assert cluster.etcdctl("get", "everywhere", "--print-value-only", endpoints=[ep]) == "v\n"


def test_txn(cluster: Cluster) -> None:
    cluster.etcdctl("put", "tx", "1")
    script = 'value("tx") = "1"\n\nput tx 2\n\nput tx 3\n\n'
    assert cluster.etcdctl("txn", stdin=script).split() == ["SUCCESS", "OK"]
    assert cluster.etcdctl("get", "tx", "--print-value-only").strip() == "2"
    assert cluster.etcdctl("txn", stdin=script).split() == ["FAILURE", "OK"]
    assert cluster.etcdctl("get", "tx", "--print-value-only").strip() == "3"


class _EtcdctlWatch:
    """`etcdctl watch ...` in the background; its output lines collected by a reader thread."""

    def __init__(self, cluster: Cluster, *args: str) -> None:
        self.proc = subprocess.Popen(
            [ETCDCTL, f"--endpoints={cluster.endpoints[0]}", "watch", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ, ETCDCTL_API="3"),
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def close(self) -> None:
        self.proc.kill()
        self.proc.communicate()
        self._reader.join(5)


def test_watch_live_and_from_revision(cluster: Cluster) -> None:
    first = cluster.etcdctl("put", "w/k", "a", "-w", "json")
    rev = int(re.search(r'"revision":(\d+)', first).group(1))  # type: ignore[union-attr]
    cluster.etcdctl("put", "w/k", "b")
    past = _EtcdctlWatch(cluster, "w/k", f"--rev={rev}")
    live = _EtcdctlWatch(cluster, "w/", "--prefix")
    try:
        wait_until(lambda: past.lines[:6] == ["PUT", "w/k", "a", "PUT", "w/k", "b"], 20)

        def registered() -> bool:
            # etcdctl prints nothing on creation: put a marker until the live watch shows it
            cluster.etcdctl("put", "w/marker", "m")
            return "w/marker" in live.lines

        wait_until(registered, 20, interval=0.2)
        cluster.etcdctl("put", "w/k2", "c")
        cluster.etcdctl("del", "w/k2")

        def events() -> list[tuple[str, ...]]:
            out: list[tuple[str, ...]] = []
            lines = list(live.lines)
            i = 0
            while i < len(lines):
                if lines[i] == "PUT" and i + 2 < len(lines):
                    out.append(("PUT", lines[i + 1], lines[i + 2]))
                    i += 3
                elif lines[i] == "DELETE" and i + 1 < len(lines):
                    out.append(("DELETE", lines[i + 1]))
                    i += 2
                else:
                    i += 1
            return [e for e in out if e[1] != "w/marker"]

        expected = [("PUT", "w/k2", "c"), ("DELETE", "w/k2")]
        wait_until(lambda: events() == expected, 20, message="live watch saw the put and del")
    finally:
        past.close()
        live.close()


def test_lease_grant_put_keepalive_revoke(cluster: Cluster) -> None:
    granted = cluster.etcdctl("lease", "grant", "60")
    match = re.match(r"lease ([0-9a-f]+) granted with TTL\((\d+)s\)", granted)
    assert match, granted
    lease = match.group(1)
    assert cluster.etcdctl("put", "leased", "v", f"--lease={lease}").strip() == "OK"
    kept = cluster.etcdctl("lease", "keep-alive", "--once", lease)
    assert f"lease {lease} keepalived with TTL(60)" in kept
    ttl = cluster.etcdctl("lease", "timetolive", lease, "--keys")
    assert "attached keys([leased])" in ttl
    assert lease in cluster.etcdctl("lease", "list")
    assert cluster.etcdctl("lease", "revoke", lease).strip() == f"lease {lease} revoked"
    assert cluster.etcdctl("get", "leased") == ""


def test_expired_lease_deletes_its_keys_everywhere(cluster: Cluster) -> None:
    granted = cluster.etcdctl("lease", "grant", "2")
    lease = granted.split()[1]
    cluster.etcdctl("put", "short", "v", f"--lease={lease}")

    def gone_everywhere() -> bool:
        return all(cluster.get(i, b"short", serializable=True) == [] for i in range(3))

    wait_until(gone_everywhere, 20, message="keys of an expired lease are deleted")


def test_member_list_endpoint_status_and_health(cluster: Cluster) -> None:
    members = cluster.etcdctl("member", "list").strip().splitlines()
    assert sorted(line.split(", ")[2] for line in members) == ["n1", "n2", "n3"]
    assert all(", started, " in line for line in members)
    wait_until(
        lambda: cluster.etcdctl("member", "list").count("http://127.0.0.1:") == 6,
        20,
        message="every member lists its peer URL and its client URL",
    )
    status = cluster.etcdctl("endpoint", "status").strip().splitlines()
    assert len(status) == 3
    assert [line.split(", ")[4] for line in status].count("true") == 1
    health = subprocess.run(
        [ETCDCTL, f"--endpoints={','.join(cluster.endpoints)}", "endpoint", "health"],
        capture_output=True,
        text=True,
        env=dict(os.environ, ETCDCTL_API="3"),
        timeout=30,
    )
    assert health.returncode == 0, health.stderr
    assert (health.stdout + health.stderr).count("is healthy") == 3


def test_endpoint_hashkv_agrees_across_members(cluster: Cluster) -> None:
    out = cluster.etcdctl("put", "hash/k", "v", "-w", "json")
    rev = int(re.search(r'"revision":(\d+)', out).group(1))  # type: ignore[union-attr]

    def hashes() -> set[str] | None:
        lines = cluster.etcdctl("endpoint", "hashkv", f"--rev={rev}").strip().splitlines()
        if len(lines) != 3:
            return None
        return {line.split(", ")[1] for line in lines}

    agreed = wait_until(hashes, 20, message="every member hashed the revision")
    assert agreed is not None
    assert len(agreed) == 1


def test_snapshot_save(cluster: Cluster, tmp_path: Path) -> None:
    cluster.etcdctl("put", "snap", "shot")
    target = tmp_path / "backup.db"
    out = subprocess.run(
        [ETCDCTL, f"--endpoints={cluster.endpoints[0]}", "snapshot", "save", str(target)],
        capture_output=True,
        text=True,
        env=dict(os.environ, ETCDCTL_API="3"),
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "Snapshot saved at" in out.stdout + out.stderr
    assert target.stat().st_size > 0


# ------------------------------------------------------------- the protocol, with a gRPC client


def _code(call: Callable[[], object]) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        call()
    err: Any = info.value
    return err.code(), err.details()


def test_errors_match_etcd(cluster: Cluster) -> None:
    kv, lease = cluster.client(0).kv, cluster.client(0).lease
    big = rpc_pb2.PutRequest(key=b"big", value=b"x" * (1_700_000))
    assert _code(lambda: kv.Put(big, timeout=10)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "etcdserver: request is too large",
    )
    assert _code(lambda: kv.Put(rpc_pb2.PutRequest(key=b"k", lease=12345), timeout=10)) == (
        grpc.StatusCode.NOT_FOUND,
        "etcdserver: requested lease not found",
    )
    assert _code(lambda: lease.LeaseRevoke(rpc_pb2.LeaseRevokeRequest(ID=4242), timeout=10)) == (
        grpc.StatusCode.NOT_FOUND,
        "etcdserver: requested lease not found",
    )
    assert _code(lambda: kv.Put(rpc_pb2.PutRequest(key=b""), timeout=10)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "etcdserver: key is not provided",
    )
    future = rpc_pb2.RangeRequest(key=b"k", revision=10**9)
    assert _code(lambda: kv.Range(future, timeout=10)) == (
        grpc.StatusCode.OUT_OF_RANGE,
        "etcdserver: mvcc: required revision is a future revision",
    )
    put = rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=b"d", value=b"1"))
    dup = rpc_pb2.TxnRequest(success=[put, put])
    assert _code(lambda: kv.Txn(dup, timeout=10)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "etcdserver: duplicate key given in txn request",
    )


def test_headers_revisions_and_versions(cluster: Cluster) -> None:
    kv = cluster.client(1).kv
    r1 = kv.Put(rpc_pb2.PutRequest(key=b"hdr", value=b"1"), timeout=10)
    r2 = kv.Put(rpc_pb2.PutRequest(key=b"hdr", value=b"2", prev_kv=True), timeout=10)
    assert r2.header.revision == r1.header.revision + 1
    assert r2.prev_kv.value == b"1"
    assert r1.header.cluster_id
    assert r1.header.member_id
    assert r1.header.raft_term
    got = kv.Range(rpc_pb2.RangeRequest(key=b"hdr"), timeout=10)
    assert got.header.revision >= r2.header.revision
    (item,) = got.kvs
    assert (item.create_revision, item.mod_revision, item.version) == (
        r1.header.revision,
        r2.header.revision,
        2,
    )


class _WatchCall:
    """One Watch stream with a single create request, kept open until `cancel()`."""

    def __init__(self, cluster: Cluster, index: int, create: rpc_pb2.WatchCreateRequest) -> None:
        self._done = threading.Event()

        def requests() -> Iterator[rpc_pb2.WatchRequest]:
            yield rpc_pb2.WatchRequest(create_request=create)
            self._done.wait(60)

        self._call: Any = cluster.client(index).watch.Watch(requests(), timeout=60)

    def __iter__(self) -> Iterator[rpc_pb2.WatchResponse]:
        return iter(self._call)

    def cancel(self) -> None:
        self._done.set()
        self._call.cancel()


def _watch_stream(
    cluster: Cluster, index: int, create: rpc_pb2.WatchCreateRequest
) -> tuple[_WatchCall, _WatchCall]:
    call = _WatchCall(cluster, index, create)
    return call, call


def test_watch_resumes_after_reconnect_without_loss_or_duplicates(cluster: Cluster) -> None:
    kv = cluster.client(0).kv
    revs = [
        kv.Put(
            rpc_pb2.PutRequest(key=b"rw/" + bytes([65 + i]), value=b"v"), timeout=10
        ).header.revision
        for i in range(5)
    ]
    create = rpc_pb2.WatchCreateRequest(key=b"rw/", range_end=b"rw0", start_revision=revs[0])
    stream, call = _watch_stream(cluster, 1, create)
    seen: list[int] = []
    for resp in stream:
        seen.extend(e.kv.mod_revision for e in resp.events)
        if len(seen) >= 2:
            break
    call.cancel()
    for i in range(5, 8):
        kv.Put(rpc_pb2.PutRequest(key=b"rw/" + bytes([65 + i]), value=b"v"), timeout=10)
    create = rpc_pb2.WatchCreateRequest(key=b"rw/", range_end=b"rw0", start_revision=seen[-1] + 1)
    stream, call = _watch_stream(cluster, 2, create)
    for resp in stream:
        assert resp.header.member_id
        seen.extend(e.kv.mod_revision for e in resp.events)
        if len(seen) >= 8:
            break
    call.cancel()
    assert seen == sorted(set(seen))
    assert len(seen) == 8
    assert seen[:5] == revs


def test_watch_prev_kv_filters_and_compacted_start(cluster: Cluster) -> None:
    kv = cluster.client(0).kv
    r1 = kv.Put(rpc_pb2.PutRequest(key=b"wf", value=b"1"), timeout=10).header.revision
    kv.Put(rpc_pb2.PutRequest(key=b"wf", value=b"2"), timeout=10)
    kv.DeleteRange(rpc_pb2.DeleteRangeRequest(key=b"wf"), timeout=10)
    create = rpc_pb2.WatchCreateRequest(
        key=b"wf", start_revision=r1, prev_kv=True, filters=[rpc_pb2.WatchCreateRequest.NOPUT]
    )
    stream, call = _watch_stream(cluster, 0, create)
    events: list[kv_pb2.Event] = []
    created = False
    for resp in stream:
        created = created or resp.created
        events.extend(resp.events)
        if events:
            break
    call.cancel()
    assert created
    assert [e.type for e in events] == [kv_pb2.Event.DELETE]
    assert events[0].prev_kv.value == b"2"

    top = kv.Put(rpc_pb2.PutRequest(key=b"wc", value=b"x"), timeout=10).header.revision
    kv.Compact(rpc_pb2.CompactionRequest(revision=top), timeout=10)
    stream, call = _watch_stream(
        cluster, 1, rpc_pb2.WatchCreateRequest(key=b"wc", start_revision=top - 1)
    )
    compact_revision = 0
    for resp in stream:
        if resp.compact_revision:
            compact_revision = resp.compact_revision
            assert resp.canceled
            break
    call.cancel()
    assert compact_revision == top
    assert _code(
        lambda: kv.Range(rpc_pb2.RangeRequest(key=b"wc", revision=top - 1), timeout=10)
    ) == (
        grpc.StatusCode.OUT_OF_RANGE,
        "etcdserver: mvcc: required revision has been compacted",
    )
