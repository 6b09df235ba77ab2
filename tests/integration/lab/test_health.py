"""The store probe against Debian's etcd on loopback: member, leader, term; and a dead one."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubelab.lab.health import leader, store_members
from tests.support import wait_until

pytestmark = pytest.mark.timeout(60)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def etcd(tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("etcd")
    if binary is None:
        pytest.skip("needs etcd (scripts/system-deps.sh installs etcd-server)")
    client, peer = free_port(), free_port()
    argv = [
        binary, "--name", "cp-1", "--data-dir", str(tmp_path / "etcd"),
        "--listen-client-urls", f"http://127.0.0.1:{client}",
        "--advertise-client-urls", f"http://127.0.0.1:{client}",
        "--listen-peer-urls", f"http://127.0.0.1:{peer}",
        "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
        "--initial-cluster", f"cp-1=http://127.0.0.1:{peer}",
        "--log-level", "error",
    ]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield f"127.0.0.1:{client}"
    finally:
        proc.terminate()
        proc.wait(10)


def test_store_members_and_leader(etcd: str) -> None:
    dead = f"127.0.0.1:{free_port()}"

    def answered() -> bool:
        return store_members([("cp-1", etcd)])[0].error is None

    wait_until(answered, 20, message="etcd answers")
    members = store_members([("cp-1", etcd), ("cp-2", dead)], timeout=1.0)
    assert members[0].error is None
    assert members[0].member_id == members[0].leader_id
    assert members[1].error == "UNAVAILABLE"
    name, term = leader(members)
    assert name == "cp-1"
    assert term is not None
    assert term >= 1
