"""Run a cluster of kvstore replicas, or of real etcd members, as processes on 127.0.0.1.

Used by the integration tests and by bench/kvstore_vs_etcd.py. Ports are free ports picked by
the kernel; data dirs live under a caller-given directory; `close()` kills every process this
harness started (by PID) even when a test failed.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from kubelab.gen.etcd import rpc_pb2, rpc_pb2_grpc
from tests.support import wait_until

ETCD = "/usr/bin/etcd"
ETCDCTL = "/usr/bin/etcdctl"
REPO = Path(__file__).resolve().parents[3]


def free_ports(count: int) -> list[int]:
    socks = []
    for _ in range(count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@dataclass
class Member:
    name: str
    client_port: int
    peer_port: int
    data_dir: Path
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

    @property
    def client_url(self) -> str:
        return f"http://{self.endpoint}"


@dataclass
class Stubs:
    channel: grpc.Channel
    kv: rpc_pb2_grpc.KVStub
    watch: rpc_pb2_grpc.WatchStub
    lease: rpc_pb2_grpc.LeaseStub
    cluster: rpc_pb2_grpc.ClusterStub
    maintenance: rpc_pb2_grpc.MaintenanceStub


def stubs(endpoint: str) -> Stubs:
    channel = grpc.insecure_channel(endpoint)
    return Stubs(
        channel,
        rpc_pb2_grpc.KVStub(channel),
        rpc_pb2_grpc.WatchStub(channel),
        rpc_pb2_grpc.LeaseStub(channel),
        rpc_pb2_grpc.ClusterStub(channel),
        rpc_pb2_grpc.MaintenanceStub(channel),
    )


@dataclass
class Cluster:
    """`kind` is "kvstore" or "etcd"; timings in milliseconds as the flags take them."""

    root: Path
    size: int = 3
    kind: str = "kvstore"
    heartbeat_ms: int = 100
    election_ms: int = 1000
    secret: bool = True
    extra_args: tuple[str, ...] = ()
    members: list[Member] = field(default_factory=list)
    _stubs: dict[str, Stubs] = field(default_factory=dict)

    def __post_init__(self) -> None:
        ports = free_ports(2 * self.size)
        self.root.mkdir(parents=True, exist_ok=True)
        for i in range(self.size):
            name = f"n{i + 1}"
            self.members.append(
                Member(
                    name,
                    ports[2 * i],
                    ports[2 * i + 1],
                    self.root / name,
                    self.root / f"{name}.log",
                )
            )
        self.secret_file = self.root / "peer-secret"
        self.secret_file.write_text(secrets.token_hex(24))

    @property
    def initial_cluster(self) -> str:
        return ",".join(f"{m.name}={m.peer_url}" for m in self.members)

    @property
    def endpoints(self) -> list[str]:
        return [m.endpoint for m in self.members]

    def argv(self, m: Member) -> list[str]:
        common = [
            "--name", m.name, "--data-dir", str(m.data_dir),
            "--listen-client-urls", m.client_url, "--advertise-client-urls", m.client_url,
            "--listen-peer-urls", m.peer_url, "--initial-advertise-peer-urls", m.peer_url,
            "--initial-cluster", self.initial_cluster,
            "--heartbeat-interval", str(self.heartbeat_ms),
            "--election-timeout", str(self.election_ms),
        ]  # fmt: skip
        if self.kind == "etcd":
            return [ETCD, *common, "--initial-cluster-state", "new",
                    "--initial-cluster-token", self.root.name, "--logger", "zap"]  # fmt: skip
        extra = ["--peer-secret-file", str(self.secret_file)] if self.secret else []
        return [sys.executable, "-m", "controlplane.kvstore", *common, *extra, *self.extra_args]

    def start(self, index: int) -> None:
        m = self.members[index]
        log = open(m.log_path, "ab")  # noqa: SIM115 - the child owns it
        env = dict(os.environ, PYTHONPATH=str(REPO))
        m.proc = subprocess.Popen(
            self.argv(m), stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=env
        )
        log.close()

    def start_all(self, wait: bool = True) -> None:
        for i in range(self.size):
            self.start(i)
        if wait:
            self.wait_leader()

    def kill(self, index: int, sig: int = signal.SIGKILL) -> None:
        m = self.members[index]
        if m.proc is not None and m.proc.poll() is None:
            m.proc.send_signal(sig)
            m.proc.wait(10)
        m.proc = None
        stale = self._stubs.pop(m.endpoint, None)
        if stale is not None:
            stale.channel.close()

    def alive(self) -> list[int]:
        return [i for i, m in enumerate(self.members) if m.proc and m.proc.poll() is None]

    def client(self, index: int) -> Stubs:
        m = self.members[index]
        if m.endpoint not in self._stubs:
            self._stubs[m.endpoint] = stubs(m.endpoint)
        return self._stubs[m.endpoint]

    def status(self, index: int, timeout: float = 1.0) -> rpc_pb2.StatusResponse:
        return self.client(index).maintenance.Status(rpc_pb2.StatusRequest(), timeout=timeout)

    def leader(self, among: Sequence[int] | None = None) -> int | None:
        """Index of the member every live member agrees is the leader, else None."""
        ids: set[int] = set()
        me: dict[int, int] = {}
        for i in among if among is not None else self.alive():
            try:
                st = self.status(i)
            except grpc.RpcError:
                return None
            ids.add(st.leader)
            me[st.header.member_id] = i
        if len(ids) != 1:
            return None
        (leader_id,) = ids
        return me.get(leader_id)

    def wait_leader(self, timeout: float = 20.0, among: Sequence[int] | None = None) -> int:
        def found() -> int | None:
            leader = self.leader(among)
            return None if leader is None else leader + 1  # index 0 must be truthy

        leader = wait_until(found, timeout, message=f"{self.kind} cluster has a leader")
        assert leader is not None
        return leader - 1

    def put(self, index: int, key: bytes, value: bytes, timeout: float = 10.0) -> int:
        resp = self.client(index).kv.Put(rpc_pb2.PutRequest(key=key, value=value), timeout=timeout)
        return int(resp.header.revision)

    def get(self, index: int, key: bytes, timeout: float = 10.0, **kw: object) -> list[bytes]:
        resp = self.client(index).kv.Range(
            rpc_pb2.RangeRequest(key=key, **kw),  # type: ignore[arg-type]
            timeout=timeout,
        )
        return [kv.value for kv in resp.kvs]

    def etcdctl(self, *args: str, endpoints: Sequence[str] | None = None, timeout: float = 30.0,
                check: bool = True, stdin: str | None = None) -> str:  # fmt: skip
        eps = ",".join(endpoints or self.endpoints)
        proc = subprocess.run(
            [ETCDCTL, f"--endpoints={eps}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=dict(os.environ, ETCDCTL_API="3"),
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"etcdctl {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()}"
            )
        return proc.stdout

    def close(self) -> None:
        for s in self._stubs.values():
            s.channel.close()
        self._stubs.clear()
        for i in range(self.size):
            self.kill(i)

    def logs(self) -> str:
        out = []
        for m in self.members:
            if m.log_path.exists():
                out.append(f"--- {m.name}\n" + m.log_path.read_text(errors="replace")[-3000:])
        return "\n".join(out)
