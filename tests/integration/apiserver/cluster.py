"""Test helpers: a real etcd on random loopback ports, and an in-process apiserver over it.

The store backend is a parameter (`STORE_BACKENDS`), so kubelab's own kvstore can be added as a
second backend next to the real etcd without touching the tests.
"""

from __future__ import annotations

import http.server
import importlib.util
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest

from controlplane.apiserver.certs import issue_client_cert
from controlplane.apiserver.server import Apiserver, ApiserverConfig
from controlplane.apiserver.storage import EtcdStore
from kubelab.client import Client
from tests.support import wait_until

# Stores the integration tests run against: `KUBELAB_TEST_STORES=etcd,kvstore` adds kubelab's
# own kvstore (started with etcd's flag names) once it exists.
STORE_BACKENDS = [s for s in os.environ.get("KUBELAB_TEST_STORES", "etcd").split(",") if s]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class StoreProcess:
    endpoints: list[str]
    proc: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@contextmanager
def run_etcd(data_dir: Path, client_port: int = 0) -> Iterator[StoreProcess]:
    etcd = shutil.which("etcd") or "/usr/bin/etcd"
    if not os.path.exists(etcd):
        pytest.skip("needs etcd (Debian etcd-server; scripts/system-deps.sh installs it)")
    client, peer = client_port or free_port(), free_port()
    argv = [
        etcd,
        "--name",
        "t",
        "--data-dir",
        str(data_dir),
        "--listen-client-urls",
        f"http://127.0.0.1:{client}",
        "--advertise-client-urls",
        f"http://127.0.0.1:{client}",
        "--listen-peer-urls",
        f"http://127.0.0.1:{peer}",
        "--initial-advertise-peer-urls",
        f"http://127.0.0.1:{peer}",
        "--initial-cluster",
        f"t=http://127.0.0.1:{peer}",
        "--log-level",
        "error",
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = StoreProcess([f"127.0.0.1:{client}"], proc)
    try:
        probe = EtcdStore(store.endpoints, timeout=1)
        wait_until(lambda: probe.revision() > 0, 20, message="etcd answers")
        probe.close()
        yield store
    finally:
        store.stop()


@contextmanager
def run_store(backend: str, data_dir: Path) -> Iterator[StoreProcess]:
    if backend == "etcd":
        with run_etcd(data_dir) as store:
            yield store
    elif backend == "kvstore":
        with run_kvstore(data_dir) as store:
            yield store
    else:
        raise ValueError(f"unknown store backend {backend!r}")


@contextmanager
def run_kvstore(data_dir: Path) -> Iterator[StoreProcess]:
    """kubelab's kvstore as a one-member cluster, with etcd's flag names (ARCHITECTURE.md)."""
    if importlib.util.find_spec("controlplane.kvstore.__main__") is None:
        pytest.skip("controlplane.kvstore has no __main__ yet")
    client, peer = free_port(), free_port()
    argv = [
        sys.executable, "-m", "controlplane.kvstore", "--name", "t", "--data-dir", str(data_dir),
        "--listen-client-urls", f"http://127.0.0.1:{client}",
        "--advertise-client-urls", f"http://127.0.0.1:{client}",
        "--listen-peer-urls", f"http://127.0.0.1:{peer}",
        "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
        "--initial-cluster", f"t=http://127.0.0.1:{peer}",
    ]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = StoreProcess([f"127.0.0.1:{client}"], proc)
    try:
        probe = EtcdStore(store.endpoints, timeout=1)
        wait_until(lambda: probe.revision() >= 0 and proc.poll() is None, 30, message="kvstore")
        probe.close()
        yield store
    finally:
        store.stop()


@contextmanager
def run_apiserver(
    endpoints: list[str],
    cert_dir: Path,
    *,
    bookmark_interval: float = 10.0,
    cache_size: int = 4096,
    event_ttl: int = 3600,
) -> Iterator[Apiserver]:
    server = Apiserver(
        ApiserverConfig(
            etcd_servers=tuple(endpoints),
            cert_dir=cert_dir,
            secure_port=0,
            grpc_port=0,
            bookmark_interval=bookmark_interval,
            watch_cache_size=cache_size,
            event_ttl=event_ttl,
        )
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def grpc_client(server: Apiserver, cert_dir: Path) -> Client:
    return Client.from_cert_dir(cert_dir, [f"127.0.0.1:{server.grpc_port}"])


def kubeconfig(server: Apiserver) -> Path:
    assert server.pki is not None
    return server.pki.admin_kubeconfig


def kill_quietly(proc: subprocess.Popen[bytes]) -> None:
    with suppress(ProcessLookupError):
        proc.kill()


class FakeKubelet:
    """An HTTPS server answering the kubelet's `/containerLogs/<ns>/<pod>/<container>`."""

    def __init__(self, cert_dir: Path, logs: dict[str, str]) -> None:
        cert, key = issue_client_cert(cert_dir, "kubelet-serving", (), cert_dir / "fake-kubelet")
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests.append(self.path)
                path = self.path.split("?", 1)[0]
                body = logs.get(path.removeprefix("/containerLogs/"))
                data = (body if body is not None else "not found").encode()
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(cert), str(key))
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def node_at(name: str, port: int) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name},
        "status": {
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
        },
    }


@contextmanager
def run_etcd_cluster(data_dir: Path, members: int = 3) -> Iterator[list[StoreProcess]]:
    """A real etcd cluster of `members` on loopback; each StoreProcess is one member."""
    etcd = shutil.which("etcd") or "/usr/bin/etcd"
    if not os.path.exists(etcd):
        pytest.skip("needs etcd (Debian etcd-server; scripts/system-deps.sh installs it)")
    ports = [(free_port(), free_port()) for _ in range(members)]
    initial = ",".join(f"m{i}=http://127.0.0.1:{peer}" for i, (_, peer) in enumerate(ports))
    procs: list[StoreProcess] = []
    try:
        for i, (client, peer) in enumerate(ports):
            argv = [
                etcd, "--name", f"m{i}", "--data-dir", str(data_dir / f"m{i}"),
                "--listen-client-urls", f"http://127.0.0.1:{client}",
                "--advertise-client-urls", f"http://127.0.0.1:{client}",
                "--listen-peer-urls", f"http://127.0.0.1:{peer}",
                "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
                "--initial-cluster", initial, "--initial-cluster-state", "new",
                "--log-level", "error",
            ]  # fmt: skip
            proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(StoreProcess([f"127.0.0.1:{client}"], proc))
        probe = EtcdStore([p.endpoints[0] for p in procs], timeout=1)
        wait_until(lambda: probe.revision() > 0, 30, message="etcd cluster answers")
        probe.close()
        yield procs
    finally:
        for p in procs:
            p.stop()
