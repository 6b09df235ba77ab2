"""The rendered HAProxy config, run by the real Debian haproxy, fails over between backends.

Backends are plain TCP listeners on loopback that answer with their name; the load balancer
binds a loopback address too, so nothing leaves the machine.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubelab.lab.haproxy import Backend, HealthCheck, LoadBalancer, render
from tests.support import wait_until

pytestmark = pytest.mark.timeout(60)


class NameServer:
    """Accepts connections on 127.0.0.1 and writes its name to each, until closed."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn, contextlib.suppress(OSError):
                conn.sendall(self.name.encode())

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() in the thread
        self.sock.close()
        self.thread.join(5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ask(port: int) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
        return conn.recv(64).decode()


@pytest.fixture
def backends() -> Iterator[list[NameServer]]:
    servers = [NameServer("cp-1"), NameServer("cp-2")]
    yield servers
    for s in servers:
        s.close()


def test_haproxy_balances_and_fails_over(tmp_path: Path, backends: list[NameServer]) -> None:
    haproxy = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin")
    if haproxy is None:
        pytest.skip("needs haproxy (scripts/system-deps.sh installs it)")
    port = free_port()
    lb = LoadBalancer(
        name="t",
        bind_address="127.0.0.1",
        bind_port=port,
        backends=tuple(Backend(s.name, "127.0.0.1", s.port) for s in backends),
        check=HealthCheck.TCP,
        inter_ms=100,
        fall=1,
        rise=1,
    )
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(render(lb))
    check = subprocess.run([haproxy, "-c", "-f", str(cfg)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    proc = subprocess.Popen(
        [haproxy, "-db", "-f", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_until(lambda: ask(port), 10, message="haproxy answers")
        seen = {ask(port) for _ in range(6)}
        assert seen == {"cp-1", "cp-2"}  # round robin over both

        backends[0].close()  # cp-1's apiserver dies
        wait_until(
            lambda: all(ask(port) == "cp-2" for _ in range(6)), 10, message="only cp-2 answers"
        )
    finally:
        proc.terminate()
        proc.wait(10)
