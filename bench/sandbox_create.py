"""Pod sandbox creation time: the kubelet's rtnetlink client (`rtnl`) against pyroute2.

Per pod: a named netns, a veth pair with `eth0` in it, the host end on the node bridge with
hairpin on, `lo` and `eth0` up with the pod's address, a default route (`BridgeNetwork.setup`),
then `teardown`. The peer in the same run does the same netlink requests through pyroute2's
IPRoute (how network.py did it before rtnl). Also prints the resident memory each adapter adds
to a fresh interpreter. Root; everything lives in a private namespace `klb<hex>-node` and is
removed afterwards.

    .venv/bin/python bench/sandbox_create.py [--pods 50] [--rounds 3]
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from percentile import percentile
from pyroute2 import IPRoute

from node_agent.kubelet.ipam import HostLocalIPAM, gateway, parse_cidr
from node_agent.kubelet.network import (
    NETNS_DIR,
    BridgeNetwork,
    Sandbox,
    create_netns,
    entered,
    remove_netns,
)


class Pyroute2Network(BridgeNetwork):
    """The same sandbox through pyroute2 (the peer)."""

    def setup(self, uid: str) -> Sandbox:
        name, veth = self.netns_name(uid), self.veth_name(uid)
        path = f"{NETNS_DIR}/{name}"
        ip = str(self.ipam.allocate(uid))
        gw = str(gateway(self.cidr))
        create_netns(name)
        with IPRoute() as ipr:
            ipr.link("add", ifname=veth, kind="veth", peer={"ifname": "eth0", "net_ns_fd": name})
            idx = ipr.link("get", ifname=veth)[0]["index"]
            br = ipr.link("get", ifname=self.bridge)[0]["index"]
            ipr.link("set", index=idx, master=br, state="up")
            ipr.brport("set", index=idx, mode=1)
        with entered(path), IPRoute() as ns:
            ns.link("set", index=ns.link("get", ifname="lo")[0]["index"], state="up")
            eth0 = ns.link("get", ifname="eth0")[0]["index"]
            ns.addr("add", index=eth0, address=ip, prefixlen=self.cidr.prefixlen)
            ns.link("set", index=eth0, state="up")
            ns.route("add", dst="default", gateway=gw)
        return Sandbox(name, ip, veth)

    def teardown(self, uid: str) -> None:
        with IPRoute() as ipr:
            ipr.link("del", ifname=self.veth_name(uid))
        remove_netns(self.netns_name(uid))
        self.ipam.release(uid)


def timed(net: BridgeNetwork, pods: int) -> tuple[list[float], list[float]]:
    uids = [f"{secrets.token_hex(16)}" for _ in range(pods)]
    setup, teardown = [], []
    for uid in uids:
        t = time.perf_counter()
        net.setup(uid)
        setup.append(time.perf_counter() - t)
    for uid in uids:
        t = time.perf_counter()
        net.teardown(uid)
        teardown.append(time.perf_counter() - t)
    return setup, teardown


def import_rss_mb(module: str) -> float:
    """RSS of a fresh interpreter that imported `module`, in MB."""
    code = f"import {module}\nprint(open('/proc/self/status').read().split('VmRSS:')[1].split()[0])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    tag = "klb" + secrets.token_hex(3)
    node = f"{tag}-node"
    subprocess.run(["ip", "netns", "add", node], check=True)
    results: dict[str, list[float]] = {"rtnl": [], "pyroute2": []}
    down: dict[str, list[float]] = {"rtnl": [], "pyroute2": []}
    try:
        with tempfile.TemporaryDirectory(prefix=f"{tag}-") as tmp, entered(f"/run/netns/{node}"):
            cidr = parse_cidr("10.244.0.0/24")
            kinds: dict[str, type[BridgeNetwork]] = {
                "rtnl": BridgeNetwork,
                "pyroute2": Pyroute2Network,
            }
            nets = {
                k: cls(
                    cidr,
                    HostLocalIPAM(Path(tmp) / k, cidr),
                    bridge=f"{tag}br",
                    netns_prefix=f"{tag}-p-",
                )
                for k, cls in kinds.items()
            }
            nets["rtnl"].ensure_node()
            for _ in range(args.rounds):  # interleaved, so both see the same machine load
                for k, net in nets.items():
                    s, d = timed(net, args.pods)
                    results[k] += s
                    down[k] += d
    finally:
        for name in Path(NETNS_DIR).glob(f"{tag}-p-*"):
            subprocess.run(["ip", "netns", "del", name.name], check=False)
        subprocess.run(["ip", "netns", "del", node], check=False)

    def ms(values: list[float], q: float) -> float:
        return 1000 * percentile(values, q)

    print(f"{args.rounds} rounds x {args.pods} pods, sequential; load average {load()}")
    print(f"{'adapter':>9} {'setup p50':>10} {'setup p90':>10} {'teardown p50':>13}")
    for k, took in results.items():
        p50, p90, t50 = ms(took, 0.5), ms(took, 0.9), ms(down[k], 0.5)
        print(f"{k:>9} {p50:>8.1f}ms {p90:>8.1f}ms {t50:>11.1f}ms")
    ratio = statistics.median(results["rtnl"]) / statistics.median(results["pyroute2"])
    print(f"setup p50 rtnl/pyroute2 = {ratio:.2f}")
    base = import_rss_mb("os")
    mine = import_rss_mb("node_agent.kubelet.network")
    peer = import_rss_mb("pyroute2")
    print(
        f"RSS of a fresh interpreter: bare {base:.1f} MB, + network.py (rtnl) {mine:.1f} MB, "
        f"+ pyroute2 {peer:.1f} MB"
    )


def load() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


if __name__ == "__main__":
    main()
