"""Host-local IP address management for one node's pod CIDR.

`next_free()` is the pure choice: the gateway (the CIDR's first host address) is the bridge's,
pods get the rest round-robin after the last one handed out, never one in use. `HostLocalIPAM`
persists reservations as one file per address under a directory (the owner's pod uid inside,
created with O_EXCL), so allocations survive kubelet restarts and two allocators never hand
out the same address. It does no networking.
"""

from __future__ import annotations

import ipaddress
import os
import threading
from collections.abc import Iterable
from pathlib import Path

from node_agent.kubelet.errors import IPAMExhaustedError, ManifestError
from node_agent.kubelet.fsutil import write_bytes

Network = ipaddress.IPv4Network
Address = ipaddress.IPv4Address


def parse_cidr(text: str, field: str = "--pod-cidr") -> Network:
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        raise ManifestError(field, text, f"an IPv4 network such as 10.244.1.0/24 ({exc})") from None
    if not isinstance(net, ipaddress.IPv4Network) or net.prefixlen > 30:
        raise ManifestError(field, text, "an IPv4 network with prefix length <= /30")
    return net


def gateway(cidr: Network) -> Address:
    return cidr.network_address + 1


def next_free(cidr: Network, used: Iterable[Address], last: Address | None) -> Address:
    """The first free pod address after `last` (wrapping), skipping the gateway and broadcast."""
    taken = set(used) | {gateway(cidr)}
    first = int(cidr.network_address) + 2
    end = int(cidr.broadcast_address)  # exclusive
    size = end - first
    start = int(last) + 1 if last is not None and first <= int(last) < end else first
    for i in range(size):
        candidate = Address(first + (start - first + i) % size)
        if candidate not in taken:
            return candidate
    raise IPAMExhaustedError(f"no free address in {cidr}: {len(taken) - 1} in use")


class HostLocalIPAM:
    def __init__(self, directory: Path, cidr: Network) -> None:
        self.cidr = cidr
        self.dir = directory / str(cidr).replace("/", "_")
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # The files are the truth (they survive restarts); this cache, read once, spares a
        # directory scan per lookup. Only this allocator writes the directory.
        self._cache = self._scan()

    def _scan(self) -> dict[Address, str]:
        out = {}
        for entry in self.dir.iterdir():
            try:
                addr = Address(entry.name)
            except ValueError:
                continue
            out[addr] = entry.read_text().strip()
        return out

    def _reserved(self) -> dict[Address, str]:
        return dict(self._cache)

    def reservations(self) -> dict[str, str]:
        """Owner -> address, for adoption and leak checks."""
        with self._lock:
            return {owner: str(addr) for addr, owner in self._cache.items()}

    def lookup(self, owner: str) -> str | None:
        with self._lock:
            for addr, who in self._cache.items():
                if who == owner:
                    return str(addr)
        return None

    def allocate(self, owner: str) -> Address:
        """The address reserved for `owner`, reserving a new one when it has none."""
        with self._lock:
            reserved = self._reserved()
            for addr, who in reserved.items():
                if who == owner:
                    return addr
            last_file = self.dir / "last_reserved_ip"
            last = Address(last_file.read_text().strip()) if last_file.exists() else None
            while True:
                addr = next_free(self.cidr, reserved, last)
                try:
                    fd = os.open(self.dir / str(addr), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                except FileExistsError:
                    reserved[addr] = "?"
                    continue
                try:
                    os.write(fd, owner.encode())
                finally:
                    os.close(fd)
                write_bytes(last_file, str(addr))
                self._cache[addr] = owner
                return addr

    def release(self, owner: str) -> None:
        with self._lock:
            for addr, who in self._reserved().items():
                if who == owner:
                    (self.dir / str(addr)).unlink(missing_ok=True)
                    del self._cache[addr]
