"""Time `netlab.up` and `netlab.down` for N hosts on one bridge (N = 10, 100, 500 by default).

Peer measured in the same run: the same lab built by calling `ip` once per object (what a
shell-script lab or Mininet-style tool does), for N up to 100. Needs root. Usage:

    .venv/bin/python bench/netlab_scale.py [N ...]
"""

from __future__ import annotations

import ipaddress
import secrets
import subprocess
import sys
import time
from typing import Any

import netlab


def topology(prefix: str, n: int) -> dict[str, Any]:
    net = ipaddress.ip_network("10.200.0.0/16")
    hosts = {f"h{i}": {} for i in range(n)}
    links = [
        [{"node": f"h{i}", "ifname": "eth0", "addresses": [f"{net[i + 2]}/16"]}, "lan"]
        for i in range(n)
    ]
    return {
        "name": prefix,
        "prefix": prefix,
        "hosts": hosts,
        "bridges": {"lan": {}},
        "links": links,
    }


def run_netlab(n: int) -> tuple[float, float]:
    prefix = f"nlb{secrets.token_hex(2)}"
    topo = netlab.from_dict(topology(prefix, n))
    try:
        t0 = time.monotonic()
        netlab.up(topo)
        t1 = time.monotonic()
        ping = subprocess.run(
            ["ip", "netns", "exec", f"{prefix}-h0", "ping", "-c1", "-W2", "10.200.0.3"],
            capture_output=True,
        )
        assert ping.returncode == 0, "lab is not connected"
        t2 = time.monotonic()
        netlab.down(topo)
        t3 = time.monotonic()
    finally:
        netlab.clean(prefix)
    return t1 - t0, t3 - t2


def _ip(*argv: str) -> None:
    subprocess.run(["ip", *argv], check=True, capture_output=True)


def run_ip_per_object(n: int) -> tuple[float, float]:
    prefix = f"nlp{secrets.token_hex(2)}"
    try:
        t0 = time.monotonic()
        _ip("link", "add", f"{prefix}-lan", "type", "bridge")
        _ip("link", "set", f"{prefix}-lan", "up")
        for i in range(n):
            ns, veth = f"{prefix}-h{i}", f"{prefix}-h{i}"
            _ip("netns", "add", ns)
            _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
            _ip("link", "set", veth, "master", f"{prefix}-lan", "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "addr", "add", f"10.201.{i // 250}.{i % 250 + 2}/16", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
        t1 = time.monotonic()
        for i in range(n):
            _ip("netns", "del", f"{prefix}-h{i}")
        _ip("link", "del", f"{prefix}-lan")
        t2 = time.monotonic()
    finally:
        netlab.clean(prefix)
    return t1 - t0, t2 - t1


def main(sizes: list[int]) -> None:
    print(
        f"{'N':>5} {'netlab up':>10} {'down':>8} {'ip/object up':>13} {'down':>8} {'up ratio':>9}"
    )
    for n in sizes:
        up, down = run_netlab(n)
        if n <= 100:
            pup, pdown = run_ip_per_object(n)
            peer = f"{pup:13.2f} {pdown:8.2f} {pup / up:8.1f}x"
        else:
            peer = f"{'-':>13} {'-':>8} {'-':>9}"
        print(f"{n:5d} {up:10.2f} {down:8.2f} {peer}", flush=True)


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [10, 100, 500])
