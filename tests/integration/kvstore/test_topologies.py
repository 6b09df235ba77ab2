"""One replica and five replicas; bad flags; a replica that refuses unauthenticated remote peers."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubelab.gen.etcd import rpc_pb2
from tests.integration.kvstore.harness import REPO, Cluster
from tests.integration.kvstore.test_faults import write_anywhere

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture
def single(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path / "one", size=1, kind="kvstore", secret=False)
    try:
        c.start_all()
        yield c
    finally:
        c.close()


def test_single_replica_serves_etcdctl_and_keeps_data_across_restart(single: Cluster) -> None:
    assert single.etcdctl("put", "solo", "1").strip() == "OK"
    assert single.etcdctl("get", "solo", "--print-value-only") == "1\n"
    single.kill(0)
    single.start(0)
    single.wait_leader()
    assert single.etcdctl("get", "solo", "--print-value-only") == "1\n"
    assert single.put(0, b"solo", b"2") == 3


def test_five_replicas_survive_two_failures(tmp_path: Path) -> None:
    c = Cluster(tmp_path / "five", size=5, kind="kvstore", heartbeat_ms=50, election_ms=500)
    try:
        c.start_all()
        assert write_anywhere(c, b"five/a", b"1")
        leader = c.wait_leader()
        follower = next(i for i in range(5) if i != leader)
        c.kill(leader)
        c.kill(follower)
        c.wait_leader(among=c.alive())
        assert write_anywhere(c, b"five/b", b"2")
        for i in c.alive():
            got = c.client(i).kv.Range(
                rpc_pb2.RangeRequest(key=b"five/", range_end=b"five0"), timeout=10
            )
            assert [kv.value for kv in got.kvs] == [b"1", b"2"]
    except BaseException:
        print(c.logs())
        raise
    finally:
        c.close()


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "controlplane.kvstore", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        timeout=60,
    )


def test_bad_flags_exit_with_a_message_naming_the_flag(tmp_path: Path) -> None:
    bad = _run("--name", "n1", "--data-dir", str(tmp_path), "--initial-cluster", "n1")
    assert bad.returncode == 2
    assert "--initial-cluster='n1'" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_remote_peers_without_a_secret_are_refused(tmp_path: Path) -> None:
    out = _run(
        "--name", "n1", "--data-dir", str(tmp_path),
        "--listen-peer-urls", "http://10.250.0.10:2380",
        "--initial-advertise-peer-urls", "http://10.250.0.10:2380",
        "--initial-cluster", "n1=http://10.250.0.10:2380,n2=http://10.250.0.11:2380",
    )  # fmt: skip
    assert out.returncode == 2
    assert "--peer-secret-file is required" in out.stderr
