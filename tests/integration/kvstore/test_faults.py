"""Three kvstore replicas as processes under kill -9 and restarts: no acknowledged write lost,
no hang without quorum, a linearizable history under faults, persistence, snapshot restore."""

from __future__ import annotations

import math
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import grpc
import pytest

from kubelab.gen.etcd import rpc_pb2
from tests.integration.kvstore.harness import REPO, Cluster
from tests.integration.kvstore.linearizability import Op, check
from tests.support import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

DEFINITE_FAILURES = ("etcdserver: no leader", "etcdserver: too many requests")


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path / "kv", kind="kvstore", heartbeat_ms=50, election_ms=500)
    try:
        c.start_all()
        yield c
    except BaseException:
        print(c.logs())
        raise
    finally:
        c.close()


def write_anywhere(c: Cluster, key: bytes, value: bytes, deadline: float = 20.0) -> bool:
    """Put through whichever live member answers; True once acknowledged.

    A failure whose outcome is unknown is not retried (that could apply it twice); the
    caller counts it as "maybe written".
    """
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        for i in c.alive():
            try:
                c.put(i, key, value, timeout=5)
                return True
            except grpc.RpcError as exc:
                details = str(exc.details() or "")
                if not any(d in details for d in DEFINITE_FAILURES) and "connect" not in details:
                    return False
        time.sleep(0.05)
    return False


def all_present(c: Cluster, index: int, expected: dict[bytes, bytes]) -> bool:
    resp = c.client(index).kv.Range(
        rpc_pb2.RangeRequest(key=b"ack/", range_end=b"ack0"), timeout=10
    )
    have = {kv.key: kv.value for kv in resp.kvs}
    return all(have.get(k) == v for k, v in expected.items())


def test_kill_leader_then_follower_loses_no_acknowledged_write(cluster: Cluster) -> None:
    acked: dict[bytes, bytes] = {}

    def write_batch(start: int, count: int) -> None:
        for n in range(start, start + count):
            key, value = b"ack/%04d" % n, b"v%d" % n
            if write_anywhere(cluster, key, value):
                acked[key] = value

    write_batch(0, 20)
    leader = cluster.wait_leader()
    cluster.kill(leader)
    write_batch(20, 20)
    survivors = cluster.alive()
    new_leader = cluster.wait_leader(among=survivors)
    assert new_leader != leader
    follower = next(i for i in survivors if i != new_leader)
    cluster.start(leader)
    wait_until(
        lambda: all_present(cluster, leader, acked), 30, message="restarted leader caught up"
    )
    cluster.kill(follower)
    write_batch(40, 20)
    cluster.start(follower)
    assert len(acked) >= 55
    for i in range(3):
        wait_until(partial(all_present, cluster, i, acked), 30, message=f"member {i} has all")
    assert_replicas_agree(cluster)


def test_without_quorum_requests_fail_fast_with_etcd_errors_then_recover(
    cluster: Cluster,
) -> None:
    assert write_anywhere(cluster, b"ack/before", b"1")
    leader = cluster.wait_leader()
    others = [i for i in range(3) if i != leader]
    cluster.kill(others[0])
    cluster.kill(others[1])
    for call in (
        lambda: cluster.put(leader, b"ack/lost", b"x", timeout=30),
        lambda: cluster.get(leader, b"ack/before", timeout=30),
    ):
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as info:
            call()
        err: Any = info.value
        assert time.monotonic() - started < 12
        assert err.code() == grpc.StatusCode.UNAVAILABLE
        assert err.details() in (
            "etcdserver: no leader",
            "etcdserver: request timed out",
            "etcdserver: leader changed",
        )
    # a serializable read answers from local state even without a quorum
    assert cluster.get(leader, b"ack/before", serializable=True) == [b"1"]
    cluster.start(others[0])
    cluster.start(others[1])
    cluster.wait_leader()
    assert write_anywhere(cluster, b"ack/after", b"2")
    for i in range(3):
        both = {b"ack/before": b"1", b"ack/after": b"2"}
        wait_until(partial(all_present, cluster, i, both), 30)


def test_all_members_killed_and_restarted_keep_every_acknowledged_write(
    cluster: Cluster,
) -> None:
    acked = {b"ack/%03d" % n: b"v%d" % n for n in range(30)}
    for k, v in acked.items():
        assert write_anywhere(cluster, k, v)
    top = cluster.client(0).kv.Range(rpc_pb2.RangeRequest(key=b"ack/"), timeout=10)
    for i in range(3):
        cluster.kill(i)
    cluster.start_all()
    for i in range(3):
        wait_until(partial(all_present, cluster, i, acked), 30, message=f"member {i} has all")
    after = cluster.client(1).kv.Range(rpc_pb2.RangeRequest(key=b"ack/000"), timeout=10)
    assert after.header.revision >= top.header.revision
    assert after.kvs[0].create_revision == 2


def test_history_of_reads_writes_and_cas_under_faults_is_linearizable(cluster: Cluster) -> None:
    rng = random.Random(1234)
    keys = ["a", "b", "c"]
    history: list[Op] = []
    lock = threading.Lock()
    stop = threading.Event()
    epoch = time.monotonic()

    def now() -> float:
        return time.monotonic() - epoch

    def client(worker: int) -> None:
        local = random.Random(worker)
        for n in range(80):
            if stop.is_set():
                return
            alive = cluster.alive()
            if not alive:
                time.sleep(0.05)
                continue
            i = local.choice(alive)
            key = local.choice(keys)
            kind = local.choice(["read", "write", "cas"])
            value = f"w{worker}-{n}"
            stubs = cluster.client(i)
            start = now()
            try:
                if kind == "read":
                    resp = stubs.kv.Range(rpc_pb2.RangeRequest(key=key.encode()), timeout=5)
                    seen = resp.kvs[0].value.decode() if resp.kvs else None
                    op = Op(key, "read", start, now(), seen)
                elif kind == "write":
                    stubs.kv.Put(
                        rpc_pb2.PutRequest(key=key.encode(), value=value.encode()), timeout=5
                    )
                    op = Op(key, "write", start, now(), value)
                else:
                    old = local.choice([None, *(f"w{w}-{m}" for w in range(4) for m in (n - 1, n))])
                    txn = _cas(key, old, value)
                    done = stubs.kv.Txn(txn, timeout=5)
                    op = Op(key, "cas", start, now(), value, expected=old, ok=done.succeeded)
            except grpc.RpcError as exc:
                details = exc.details() or ""
                if kind == "read" or any(d in details for d in DEFINITE_FAILURES):
                    continue  # a failed read, or a write that surely did not happen
                expected = old if kind == "cas" else None
                op = Op(key, "cas" if kind == "cas" else "write", start, math.inf, value, expected)
            with lock:
                history.append(op)

    def nemesis() -> None:
        time.sleep(1.0)
        leader = cluster.leader()
        if leader is not None:
            cluster.kill(leader)
        time.sleep(1.5)
        if leader is not None:
            cluster.start(leader)
        time.sleep(1.5)
        victim = rng.choice(cluster.alive())
        cluster.kill(victim)
        time.sleep(1.0)
        cluster.start(victim)

    threads = [threading.Thread(target=client, args=(w,)) for w in range(4)]
    faults = threading.Thread(target=nemesis)
    for t in [*threads, faults]:
        t.start()
    faults.join(60)
    for t in threads:
        t.join(120)
    stop.set()
    completed = [op for op in history if not op.unknown]
    assert len(completed) > 100, f"only {len(completed)} operations completed"
    verdict = check(history)
    assert verdict.ok, f"not linearizable on key {verdict.key}:\n{verdict.explanation}"
    # and every replica holds the same MVCC history (etcd's HashKV corruption check)
    assert_replicas_agree(cluster)


def assert_replicas_agree(c: Cluster) -> None:
    def revisions() -> list[int] | None:
        try:
            return [c.status(i).header.revision for i in c.alive()]
        except grpc.RpcError:
            return None  # a restarted replica is not serving yet

    answered = wait_until(revisions, 30, message="every replica answers")
    assert answered
    top = max(answered)

    def hashes() -> set[int] | None:
        try:
            return {
                c.client(i).maintenance.HashKV(rpc_pb2.HashKVRequest(revision=top), timeout=5).hash
                for i in c.alive()
            }
        except grpc.RpcError:
            return None  # a replica has not applied `top` yet

    agreed = wait_until(hashes, 30, message="every replica reached the revision")
    assert agreed is not None
    assert len(agreed) == 1, f"replicas disagree at revision {top}: {agreed}"


def _cas(key: str, old: str | None, new: str) -> rpc_pb2.TxnRequest:
    if old is None:
        compare = rpc_pb2.Compare(
            key=key.encode(),
            target=rpc_pb2.Compare.VERSION,
            result=rpc_pb2.Compare.EQUAL,
            version=0,
        )
    else:
        compare = rpc_pb2.Compare(
            key=key.encode(),
            target=rpc_pb2.Compare.VALUE,
            result=rpc_pb2.Compare.EQUAL,
            value=old.encode(),
        )
    put = rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=key.encode(), value=new.encode()))
    return rpc_pb2.TxnRequest(compare=[compare], success=[put])


def test_snapshot_restore_brings_a_cluster_back(cluster: Cluster, tmp_path: Path) -> None:
    data = {b"ack/%02d" % n: b"v%d" % n for n in range(10)}
    for k, v in data.items():
        assert write_anywhere(cluster, k, v)
    backup = tmp_path / "backup.db"
    cluster.etcdctl("snapshot", "save", str(backup), endpoints=[cluster.endpoints[0]])
    revision = cluster.client(0).kv.Range(rpc_pb2.RangeRequest(key=b"x"), timeout=10)
    fresh = Cluster(tmp_path / "restored", kind="kvstore", heartbeat_ms=50, election_ms=500)
    try:
        for m in fresh.members:
            out = _restore(backup, m.data_dir)
            assert out.returncode == 0, out.stderr
        again = _restore(backup, fresh.members[0].data_dir)
        assert again.returncode == 2
        assert "not empty" in again.stderr
        fresh.start_all()
        for i in range(3):
            wait_until(partial(all_present, fresh, i, data), 30)
        assert fresh.put(0, b"ack/new", b"n") == revision.header.revision + 1
    finally:
        fresh.close()


def _restore(backup: Path, data_dir: Path) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "controlplane.kvstore", "snapshot", "restore", str(backup)]
    return subprocess.run(
        [*argv, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        timeout=60,
    )


def test_replica_with_a_wrong_peer_secret_is_kept_out(tmp_path: Path) -> None:
    c = Cluster(tmp_path / "kv", kind="kvstore", heartbeat_ms=50, election_ms=500)
    try:
        c.start(0)
        c.start(1)
        c.wait_leader(among=[0, 1])
        real = c.secret_file.read_text()
        c.secret_file.write_text("a-completely-different-secret")
        c.start(2)
        # once it answers, it has read the wrong secret
        wait_until(lambda: c.status(2).header.member_id != 0, 20)
        c.secret_file.write_text(real)
        assert write_anywhere(c, b"ack/secret", b"1")
        # the intruder never gets the data, nor learns who leads
        time.sleep(1.0)
        assert c.get(2, b"ack/secret", serializable=True) == []
        assert c.status(2).leader == 0
        assert c.get(0, b"ack/secret") == [b"1"]
    finally:
        c.close()


def test_member_catches_up_from_a_raft_snapshot_after_log_compaction(tmp_path: Path) -> None:
    c = Cluster(
        tmp_path / "kv",
        kind="kvstore",
        heartbeat_ms=50,
        election_ms=500,
        extra_args=("--snapshot-count", "20"),
    )
    try:
        c.start_all()
        leader = c.wait_leader()
        follower = next(i for i in range(3) if i != leader)
        c.kill(follower)
        acked = {b"ack/%03d" % n: b"v%d" % n for n in range(80)}
        for k, v in acked.items():
            assert write_anywhere(c, k, v)
        wait_until((c.members[leader].data_dir / "raft.dump").exists, 30)
        c.start(follower)
        wait_until(partial(all_present, c, follower, acked), 30, message="caught up")
        # it was behind the leader's compacted log, so it got the state as a snapshot
        assert "state installed from a Raft snapshot" in c.members[follower].log_path.read_text()
        top = c.client(leader).kv.Range(rpc_pb2.RangeRequest(key=b"ack/079"), timeout=10)
        for i in range(3):
            c.kill(i)
        c.start_all()
        for i in range(3):
            wait_until(partial(all_present, c, i, acked), 30, message=f"member {i} restored")
        again = c.client(follower).kv.Range(rpc_pb2.RangeRequest(key=b"ack/079"), timeout=10)
        assert again.kvs[0].mod_revision == top.kvs[0].mod_revision
        assert again.header.revision >= top.header.revision
    except BaseException:
        print(c.logs())
        raise
    finally:
        c.close()
