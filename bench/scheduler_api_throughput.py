"""Scheduler throughput through the real API: pods bound per second, 1,000 pending pods onto
20 nodes, with `python -m controlplane.scheduler` talking gRPC to an apiserver over Debian's etcd.

Every binding is a gRPC call, an etcd compare-and-swap and a watch event back to the
scheduler's informer, plus a Scheduled Event. The peer measured in the same run is the
scheduling core alone against the in-memory cluster (`controlplane.scheduler.inmemory`), so the
ratio is what the API round trips cost. Kubernetes' CI threshold is 90 pods/s.

    .venv/bin/python bench/scheduler_api_throughput.py [--pods 1000] [--nodes 20]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from controlplane.apiserver.server import Apiserver, ApiserverConfig
from controlplane.scheduler.inmemory import InMemoryCluster, make_node, make_pod
from controlplane.scheduler.scheduler import Scheduler
from kubelab.client import NODES, PODS, Client


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def in_memory(pods: int, nodes: int) -> float:
    cluster = InMemoryCluster()
    scheduler = Scheduler(cluster, cluster, cluster)
    cluster.subscribe(scheduler)
    for i in range(nodes):
        cluster.add_node(make_node(f"n{i}", cpu="8"))
    for i in range(pods):
        cluster.create_pod(make_pod(f"p{i}", cpu="100m", memory="64Mi"))
    start = time.perf_counter()
    scheduler.run_until_idle()
    return pods / (time.perf_counter() - start)


def through_api(pods: int, nodes: int, work: Path) -> float:
    etcd_port, peer = free_port(), free_port()
    etcd_argv = [
        shutil.which("etcd") or "etcd", "--name", "b", "--data-dir", str(work / "etcd"),
        "--listen-client-urls", f"http://127.0.0.1:{etcd_port}",
        "--advertise-client-urls", f"http://127.0.0.1:{etcd_port}",
        "--listen-peer-urls", f"http://127.0.0.1:{peer}",
        "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
        "--initial-cluster", f"b=http://127.0.0.1:{peer}", "--log-level", "error",
    ]  # fmt: skip
    etcd = subprocess.Popen(etcd_argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = Apiserver(
        ApiserverConfig(
            etcd_servers=(f"127.0.0.1:{etcd_port}",),
            cert_dir=work / "pki",
            secure_port=0,
            grpc_port=0,
        )
    )
    scheduler = None
    try:
        server.start()
        api = f"127.0.0.1:{server.grpc_port}"
        client = Client.from_cert_dir(work / "pki", [api])
        for i in range(nodes):
            node = make_node(f"n{i}", cpu="8")
            node["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
            client.create(NODES, node)
        for i in range(pods):
            client.create(PODS, make_pod(f"p{i}", cpu="100m", memory="64Mi"))
        start = time.perf_counter()
        sched_argv = [
            sys.executable, "-m", "controlplane.scheduler",
            "--kubeconfig", str(work / "pki" / "admin.kubeconfig"),
            "--apiserver", api, "--leader-elect=false",
        ]  # fmt: skip
        scheduler = subprocess.Popen(
            sched_argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = start + 600
        while time.perf_counter() < deadline:
            items = client.list(PODS, namespace="default").items
            if sum(1 for p in items if p["spec"].get("nodeName")) == pods:
                break
            time.sleep(0.2)
        else:
            raise RuntimeError("not every pod was bound within 600 s")
        rate = pods / (time.perf_counter() - start)
        client.close()
        return rate
    finally:
        if scheduler is not None:
            scheduler.terminate()
            scheduler.wait(20)
        server.stop()
        etcd.terminate()
        etcd.wait(20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--nodes", type=int, default=20)
    args = parser.parse_args()
    core = in_memory(args.pods, args.nodes)
    with tempfile.TemporaryDirectory(prefix="kubelab-sched-bench-") as tmp:
        api = through_api(args.pods, args.nodes, Path(tmp))
    print(
        f"{args.pods} pods onto {args.nodes} nodes: through the API {api:.0f} pods/s "
        f"(process start, informer list, bind, events included); scheduling core in memory "
        f"{core:.0f} pods/s; API/core {api / core:.2f}; vs Kubernetes' CI threshold 90 pods/s: "
        f"{api / 90:.2f}x"
    )


if __name__ == "__main__":
    main()
