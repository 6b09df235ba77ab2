"""Fixtures for netlab's kernel tests: labs under a unique `nl<hex>` prefix, always cleaned.

Each test's record lives in its own state directory; whatever happens, teardown runs
`netlab.clean(prefix)` and then checks that no namespace, root link or iptables rule of the
prefix is left.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import netlab
from netlab.plan import Plan
from tests.support import wait_until

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "netlab"

CLIENT = (
    "import socket,sys\n"
    "s=socket.create_connection((sys.argv[1],int(sys.argv[2])),timeout=2)\n"
    "print(s.recv(100).decode())\n"
)
SERVER = (
    "import socket,sys\n"
    "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
    "s.bind(('0.0.0.0',int(sys.argv[1]))); s.listen()\n"
    "while True:\n"
    "    c,a=s.accept(); c.sendall(a[0].encode()); c.close()\n"
)


def kernel_objects(prefix: str) -> dict[str, list[str]]:
    """Everything of `prefix` the kernel has: namespaces, root links, iptables lines."""
    netns = subprocess.run(["ip", "-o", "netns", "list"], capture_output=True, text=True).stdout
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    return {
        "netns": [ln.split()[0] for ln in netns.splitlines() if ln.startswith(f"{prefix}-")],
        "links": [
            name
            for ln in links.splitlines()
            if (name := ln.split(":", 2)[1].strip().split("@")[0]).startswith(f"{prefix}-")
        ],
        "iptables": [ln for ln in rules.splitlines() if prefix in ln],
    }


NOTHING: dict[str, list[str]] = {"netns": [], "links": [], "iptables": []}


class Labs:
    """Builds labs from examples or dicts under this test's prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.servers: list[subprocess.Popen[bytes]] = []

    def example(self, name: str, **changes: Any) -> netlab.Topology:
        data = yaml.safe_load((EXAMPLES / name).read_text())
        data.update(changes)
        return self.topology(data)

    def topology(self, data: dict[str, Any]) -> netlab.Topology:
        data = {**data, "name": self.prefix, "prefix": self.prefix}
        return netlab.from_dict(data, source=f"test:{self.prefix}")

    def up(self, topo: netlab.Topology) -> Plan:
        return netlab.up(topo)

    def run(self, host: str, *argv: str) -> subprocess.CompletedProcess[str]:
        return netlab.run(self.prefix, host, list(argv), timeout=20)

    def ping(self, host: str, address: str, timeout: float = 10.0) -> bool:
        """True once a ping from `host` to `address` is answered (links may need a moment after
        they come up); False if none is within `timeout` seconds."""
        try:
            return wait_until(lambda: self._ping_once(host, address), timeout=timeout)
        except TimeoutError:
            return False

    def unreachable(self, host: str, address: str) -> bool:
        """True when one ping from `host` to `address` (1 s) goes unanswered."""
        return not self._ping_once(host, address)

    def _ping_once(self, host: str, address: str) -> bool:
        return self.run(host, "ping", "-c1", "-W1", address).returncode == 0

    def serve(self, host: str, port: int) -> None:
        proc = netlab.popen(
            self.prefix,
            host,
            [sys.executable, "-c", SERVER, str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.servers.append(proc)

    def connect(self, host: str, address: str, port: int) -> str | None:
        """The peer address the server saw, or None when the connection failed."""
        out = self.run(host, sys.executable, "-c", CLIENT, address, str(port))
        return out.stdout.strip() if out.returncode == 0 else None

    def stop(self) -> None:
        for proc in self.servers:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def labs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Labs]:
    prefix = f"nl{secrets.token_hex(3)}"
    monkeypatch.setenv("NETLAB_STATE_DIR", str(tmp_path / "state"))
    assert kernel_objects(prefix) == NOTHING
    lab = Labs(prefix)
    try:
        yield lab
    finally:
        lab.stop()
        netlab.clean(prefix)
        assert kernel_objects(prefix) == NOTHING
