"""Scheduler throughput through the real API: pods bound per second, 1,000 pending pods onto
20 nodes, with `python -m controlplane.scheduler` talking gRPC to an apiserver over Debian's etcd.

Every binding is a gRPC call, an etcd compare-and-swap and a watch event back to the
scheduler's informer, plus a Scheduled Event. The scheduler process is started once the pods
exist; the benchmark watches the pods (no polling lists, which would load the apiserver it
measures) and times each pod's binding as the watch reports it.

Peers measured in the same run, each against a fresh etcd and apiserver:
- the same process with `--bind-workers 0` (every Binding posted before the next pod is
  scheduled, the behaviour before bindings ran concurrently), so the ratio is what the
  asynchronous binding cycle buys;
- the scheduling core alone against the in-memory cluster (`controlplane.scheduler.inmemory`),
  so API/core is what the round trips cost.
Kubernetes' CI threshold is 90 pods/s.

    .venv/bin/python bench/scheduler_api_throughput.py [--pods 1000] [--nodes 20]
        [--bind-workers 16] [--repeat 1]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from controlplane.apiserver.server import Apiserver, ApiserverConfig
from controlplane.scheduler.inmemory import InMemoryCluster, make_node, make_pod
from controlplane.scheduler.options import DEFAULT_BIND_WORKERS
from controlplane.scheduler.scheduler import Scheduler
from kubelab.client import NODES, PODS, Client

THRESHOLD = 90.0


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


@dataclass(frozen=True)
class Run:
    total: float  # pods / (process start -> last pod bound)
    steady: float  # pods / (first pod bound -> last pod bound)
    first_bind: float  # seconds from process start to the first binding
    # CPU seconds per pod while the pods were bound: less sensitive to a busy machine than rates
    scheduler_cpu_ms: float
    apiserver_cpu_ms: float  # this process: the apiserver and the benchmark's own watch
    etcd_cpu_ms: float


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class BindWatcher:
    """Times each pod's first appearance with spec.nodeName on a watch."""

    def __init__(self, client: Client, resource_version: str, want: int) -> None:
        self.want = want
        self.bound: dict[str, float] = {}
        self.done = threading.Event()
        self.watch = client.watch(PODS, namespace="default", resource_version=resource_version)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for event in self.watch:
            obj = event.object
            name = obj["metadata"]["name"]
            if obj["spec"].get("nodeName") and name not in self.bound:
                self.bound[name] = time.perf_counter()
                if len(self.bound) == self.want:
                    self.done.set()
                    return

    def stop(self) -> None:
        self.watch.stop()


def through_api(pods: int, nodes: int, work: Path, bind_workers: int) -> Run:
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
    watcher = None
    client = None
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
        rv = client.list(PODS, namespace="default").resource_version
        watcher = BindWatcher(client, rv, pods)
        sched_argv = [
            sys.executable, "-m", "controlplane.scheduler",
            "--kubeconfig", str(work / "pki" / "admin.kubeconfig"),
            "--apiserver", api, "--leader-elect=false", "--bind-workers", str(bind_workers),
        ]  # fmt: skip
        log = (work / f"scheduler-{bind_workers}.log").open("w")
        own0, etcd0 = own_cpu_seconds(), cpu_seconds(etcd.pid)
        start = time.perf_counter()
        scheduler = subprocess.Popen(sched_argv, stdout=subprocess.DEVNULL, stderr=log)
        if not watcher.done.wait(600):
            raise RuntimeError(f"only {len(watcher.bound)}/{pods} pods were bound within 600 s")
        sched_cpu = cpu_seconds(scheduler.pid)
        own, etcd_cpu = own_cpu_seconds() - own0, cpu_seconds(etcd.pid) - etcd0
        times = sorted(watcher.bound.values())
        first, last = times[0], times[-1]
        return Run(
            total=pods / (last - start),
            steady=(pods - 1) / (last - first) if last > first else float("inf"),
            first_bind=first - start,
            scheduler_cpu_ms=1000 * sched_cpu / pods,
            apiserver_cpu_ms=1000 * own / pods,
            etcd_cpu_ms=1000 * etcd_cpu / pods,
        )
    finally:
        if watcher is not None:
            watcher.stop()
        if client is not None:
            client.close()
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
    parser.add_argument("--bind-workers", type=int, default=DEFAULT_BIND_WORKERS)
    parser.add_argument("--repeat", type=int, default=1, help="runs per mode; medians printed")
    args = parser.parse_args()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"# {args.pods} pods onto {args.nodes} nodes; {os.cpu_count()} CPUs, load {load}")
    core = statistics.median(in_memory(args.pods, args.nodes) for _ in range(args.repeat))
    results: dict[int, list[Run]] = {args.bind_workers: [], 0: []}
    for _ in range(args.repeat):
        for workers, runs in results.items():  # interleaved: both modes see the same load
            with tempfile.TemporaryDirectory(prefix="kubelab-sched-bench-") as tmp:
                runs.append(through_api(args.pods, args.nodes, Path(tmp), workers))
    print(
        f"{'mode':<26}{'pods/s':>7}{'steady':>7}{'1st bind s':>11}{'vs 90/s':>8}"
        f"{'CPU ms/pod: scheduler':>23}{'apiserver':>10}{'etcd':>6}"
    )
    medians = {}
    for workers, runs in results.items():
        total = statistics.median(r.total for r in runs)
        steady = statistics.median(r.steady for r in runs)
        first = statistics.median(r.first_bind for r in runs)
        sched = statistics.median(r.scheduler_cpu_ms for r in runs)
        apiserver = statistics.median(r.apiserver_cpu_ms for r in runs)
        etcd = statistics.median(r.etcd_cpu_ms for r in runs)
        medians[workers] = total
        mode = f"API, --bind-workers {workers}"
        print(
            f"{mode:<26}{total:>7.0f}{steady:>7.0f}{first:>11.2f}{total / THRESHOLD:>7.2f}x"
            f"{sched:>23.1f}{apiserver:>10.1f}{etcd:>6.1f}"
        )
    print(f"{'in-memory core':<28}{core:>8.0f}")
    fast, slow = medians[args.bind_workers], medians[0]
    print(
        f"concurrent/inline binding {fast / slow:.2f}x; API/core {fast / core:.2f}; "
        f"load now {', '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    print("pods/s: process start -> last pod bound; steady: first -> last binding;")
    print("CPU ms/pod: user+system CPU of each process while the pods were bound, per pod")


if __name__ == "__main__":
    main()
