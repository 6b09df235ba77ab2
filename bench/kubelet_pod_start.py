"""Pod start latency and kubelet memory, on one node.

Default (`--source api`): a real etcd, the apiserver (`python -m controlplane.apiserver`, its
own process) and a kubelet (`python -m node_agent.kubelet --kubeconfig`) in a private node
namespace joined to the host by a veth pair. For N in (1, 10, 100): N pods are created
unbound (no scheduler runs), then bound to the node all at once (16 threads) through the
`pods/binding` subresource; per pod, latency is measured from its Binding being written (the
bind call returned) to a watch in this process seeing the pod `Running` with its `podIP`, and
to its `Ready` condition `True`. RSS is the kubelet process with the N pods running; CPU is
the kubelet process's user+system time from the first Binding to the last pod Ready, per pod
(a figure that does not depend on how busy the machine is).

`--source static`: the older standalone measurement: N static pod manifests written at once
into `--pod-manifest-path` (file check every 0.1 s); latency = manifests written -> the pod's
Running-with-IP report, read from the status files the kubelet writes.

Peer in the same run: starting one bare `python3 -I -S -c pass` (the floor under the
per-container shim). Runs as root; every kernel object carries the run's `klb<hex>` tag and is
removed afterwards.

CPU per pod is also given for the kubelet's whole process tree (zygote, shims, containers;
reaped processes through their parent's children's time), the apiserver, the store, this
process (the binding threads and the watch) and their total. On a VM whose host slows it the
same work takes more CPU: the kubelet's milliseconds per pod show how fast the machine ran.
`--runtime-dir-on-disk` keeps the kubelet's runtime state under its --root-dir (the layout
before `--runtime-dir` defaulted to the /run tmpfs), for a before/after in the same session.

Usage: .venv/bin/python bench/kubelet_pod_start.py [--counts 1,10,100] [--image busybox]
           [--source api|static] [--store etcd|kvstore] [--runtime-dir-on-disk]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from percentile import percentile

from kubelab.client import NODES, PODS, Client

BINDERS = 16  # threads writing Bindings


def python_floor(n: int = 10) -> float:
    took = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-I", "-S", "-c", "pass"], check=True)
        took.append(time.perf_counter() - t)
    return statistics.median(took)


def loop_ms() -> float:
    """CPU milliseconds of a fixed pure-Python loop, a rough look at the machine's speed (on
    a shared VM it varies by up to 2x; it did not track a run's figures well: the kubelet's
    CPU per pod, for the same work every run, does)."""
    start, n = time.process_time(), 0
    for i in range(1_000_000):
        n += i
    return (time.process_time() - start) * 1000


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (fields 14 and 15 of /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, str, float, float] | None:
    """(ppid, start time, own CPU s, reaped children's CPU s) of a process, or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    own = (int(fields[11]) + int(fields[12])) / tick
    children = (int(fields[13]) + int(fields[14])) / tick
    return int(fields[1]), fields[19], own, children


def tree_cpu(root: int) -> dict[tuple[int, str], float]:
    """CPU seconds (own + reaped children's) of `root` and every descendant, keyed by
    (pid, start time) so that a reused pid is not taken for the same process."""
    procs = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st is not None:
                procs[int(entry)] = st
    kids: dict[int, list[int]] = {}
    for pid, (ppid, *_rest) in procs.items():
        kids.setdefault(ppid, []).append(pid)
    out, todo = {}, [root]
    while todo:
        pid = todo.pop()
        if pid in procs:
            _, start, own, children = procs[pid]
            out[(pid, start)] = own + children
            todo += kids.get(pid, [])
    return out


def tree_delta(before: dict[tuple[int, str], float], after: dict[tuple[int, str], float]) -> float:
    """CPU used between two `tree_cpu` snapshots by processes alive at the second one (the
    zygote's reaped shims count in its children's time)."""
    return sum(cpu - before.get(key, 0.0) for key, cpu in after.items())


def rss_mb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    return 0


def container(image: str) -> dict[str, Any]:
    c: dict[str, Any] = {"name": "c", "image": image}
    if image == "busybox":
        c["command"] = ["sleep", "3600"]
    return c


def pod_object(name: str, image: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"terminationGracePeriodSeconds": 0, "containers": [container(image)]},
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@contextmanager
def node_namespace(tag: str) -> Iterator[tuple[str, str, str]]:
    """A node namespace `<tag>-node` joined to the host by a veth pair with link-local
    addresses; yields (namespace, host address, node address)."""
    ns = f"{tag}-node"
    octet = 100 + secrets.randbelow(100)
    host_ip, node_ip = f"169.254.{octet}.1", f"169.254.{octet}.2"
    sh("ip", "netns", "add", ns)
    try:
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "link", "add", f"{tag}h", "type", "veth", "peer", "name", f"{tag}n")
        sh("ip", "link", "set", f"{tag}n", "netns", ns)
        sh("ip", "addr", "add", f"{host_ip}/30", "dev", f"{tag}h")
        sh("ip", "link", "set", f"{tag}h", "up")
        sh("ip", "-n", ns, "addr", "add", f"{node_ip}/30", "dev", f"{tag}n")
        sh("ip", "-n", ns, "link", "set", f"{tag}n", "up")
        yield ns, host_ip, node_ip
    finally:
        subprocess.run(["ip", "link", "del", f"{tag}h"], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)


@contextmanager
def control_plane(
    work: Path, host_ip: str, store: str
) -> Iterator[tuple[Client, str, tuple[int, int]]]:
    """etcd (or kubelab's kvstore) on loopback and the apiserver on `host_ip`, both processes."""
    client_port, peer = free_port(), free_port()
    flags = [
        "--name", "b", "--data-dir", str(work / "store"),
        "--listen-client-urls", f"http://127.0.0.1:{client_port}",
        "--advertise-client-urls", f"http://127.0.0.1:{client_port}",
        "--listen-peer-urls", f"http://127.0.0.1:{peer}",
        "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
        "--initial-cluster", f"b=http://127.0.0.1:{peer}",
    ]  # fmt: skip
    argv = (
        [shutil.which("etcd") or "/usr/bin/etcd", *flags, "--log-level", "error"]
        if store == "etcd"
        else [sys.executable, "-m", "controlplane.kvstore", *flags]
    )
    procs = [subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    grpc_port = free_port()
    api = f"{host_ip}:{grpc_port}"
    api_argv = [
        sys.executable, "-m", "controlplane.apiserver",
        "--etcd-servers", f"127.0.0.1:{client_port}",
        "--bind-address", host_ip, "--secure-port", "0",
        "--grpc-port", str(grpc_port), "--cert-dir", str(work / "pki"),
        "--tls-san", host_ip, "--watch-bookmark-interval", "1", "-v", "0",
    ]  # fmt: skip
    with (work / "apiserver.log").open("wb") as log:
        procs.append(subprocess.Popen(api_argv, stdout=log, stderr=subprocess.STDOUT))
    client: Client | None = None
    try:
        deadline = time.time() + 60
        while True:
            if procs[1].poll() is not None or time.time() > deadline:
                raise SystemExit(
                    f"apiserver did not start:\n{(work / 'apiserver.log').read_text()}"
                )
            if (work / "pki" / "admin.kubeconfig").exists():
                try:
                    client = client or Client.from_cert_dir(work / "pki", [api], timeout=2)
                    client.list(NODES)
                    break
                except Exception:  # not answering yet
                    pass
            time.sleep(0.2)
        client.timeout = 10
        yield client, api, (procs[0].pid, procs[1].pid)
    finally:
        if client is not None:
            client.close()
        for proc in reversed(procs):
            stop(proc)


class PodWatch:
    """Records when each pod is first seen Running with an IP, and first seen Ready."""

    def __init__(self, client: Client, namespace: str, rv: str) -> None:
        self.running: dict[str, float] = {}
        self.ready: dict[str, float] = {}
        self._watch = client.watch(PODS, namespace=namespace, resource_version=rv)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with suppress(Exception):
            for event in self._watch:
                now = time.time()
                name = event.object["metadata"]["name"]
                status = event.object.get("status") or {}
                if status.get("phase") == "Running" and status.get("podIP"):
                    self.running.setdefault(name, now)
                conds = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
                if conds.get("Ready") == "True":
                    self.ready.setdefault(name, now)

    def stop(self) -> None:
        self._watch.stop()


@dataclass(frozen=True)
class ApiLab:
    tag: str
    ns: str
    node_ip: str
    work: Path
    client: Client
    api: str
    pids: tuple[int, int]  # the store's and the apiserver's
    on_disk: bool  # --runtime-dir = --root-dir (the layout before the /run tmpfs)


@dataclass(frozen=True)
class Cpu:
    """CPU seconds from the first Binding to the last pod Ready, per process group."""

    kubelet: float  # the kubelet process alone
    node: float  # the kubelet, its zygote, the shims and the containers
    apiserver: float
    store: float
    bench: float  # this process: the binding threads and the watch (as a scheduler would)


def wait_registered(
    client: Client, node: str, kubelet: subprocess.Popen[bytes], log_path: Path
) -> None:
    deadline = time.time() + 60
    while True:
        try:
            got = client.get(NODES, node)
            if any(c["type"] == "Ready" and c["status"] == "True"
                   for c in got["status"].get("conditions", [])):  # fmt: skip
                break
        except Exception:  # not registered yet
            pass
        if kubelet.poll() is not None or time.time() > deadline:
            raise SystemExit(f"kubelet did not register:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.1)


def api_round(lab: ApiLab, n: int, image: str) -> tuple[list[float], list[float], int, Cpu]:
    tag, ns, node_ip, work, client, api = (
        lab.tag,
        lab.ns,
        lab.node_ip,
        lab.work,
        lab.client,
        lab.api,
    )
    node = f"{tag}-{n}"
    root = work / f"root{n}"
    namespace = "default"
    argv = [
        "nsenter", f"--net=/run/netns/{ns}", sys.executable, "-m", "node_agent.kubelet",
        "--node-name", node, "--root-dir", str(root), "--pod-cidr", "10.244.0.0/24",
        "--node-ip", node_ip, "--netns-prefix", f"{tag}-p-", "--cgroup-parent", f"kubelab-{tag}",
        "--kubeconfig", str(work / "pki" / "admin.kubeconfig"), "--apiserver", api,
        "--port", "0",
    ]  # fmt: skip
    if lab.on_disk:
        argv += ["--runtime-dir", str(root)]
    names = [f"p{n}-{i:03d}" for i in range(n)]
    log_path = work / f"kubelet{n}.log"
    with log_path.open("wb") as log:
        kubelet = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    spy = None
    if os.environ.get("PROFILE"):  # py-spy samples the kubelet into PROFILE-<n>.txt
        spy_argv = [
            "py-spy", "record", "-p", str(kubelet.pid), "-f", "raw", "--threads", "--gil",
            "-r", os.environ.get("PROFILE_RATE", "50"), "-o", f"{os.environ['PROFILE']}-{n}.txt",
        ]  # fmt: skip
        spy = subprocess.Popen(spy_argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_registered(client, node, kubelet, log_path)
        rv = ""
        for name in names:
            rv = client.create(PODS, pod_object(name, image), namespace=namespace)["metadata"][
                "resourceVersion"
            ]
        time.sleep(1.0)  # let the kubelet settle after its first list
        watch = PodWatch(client, namespace, rv)
        bound: dict[str, float] = {}
        cpu0 = cpu_seconds(kubelet.pid)
        others0 = [cpu_seconds(p) for p in lab.pids]
        tree0 = tree_cpu(kubelet.pid)
        own0 = cpu_seconds(os.getpid())

        def bind(name: str) -> None:
            client.bind(namespace, name, node)
            bound[name] = time.time()

        # All at once, as a scheduler with parallel binding would: the node gets a burst.
        with ThreadPoolExecutor(BINDERS) as pool:
            list(pool.map(bind, names))
        deadline = time.time() + 120
        while len(watch.ready) < n and time.time() < deadline:
            time.sleep(0.1)
        watch.stop()
        running = [watch.running[p] - bound[p] for p in names if p in watch.running]
        ready = [watch.ready[p] - bound[p] for p in names if p in watch.ready]
        tree = tree_delta(tree0, tree_cpu(kubelet.pid))
        store_cpu, api_cpu = (cpu_seconds(p) - c for p, c in zip(lab.pids, others0, strict=True))
        own = cpu_seconds(os.getpid()) - own0
        cpu = Cpu(cpu_seconds(kubelet.pid) - cpu0, tree, api_cpu, store_cpu, own)
        return running, ready, rss_mb(kubelet.pid), cpu
    finally:
        if spy is not None:
            stop(spy, signal.SIGINT)
        stop(kubelet)
        subprocess.run([*argv, "--cleanup"], capture_output=True, timeout=300, check=False)


# pods, running s, ready s, kubelet RSS MB, CPU s from the first Binding to all Ready
Result = tuple[int, list[float], list[float], int, Cpu]


def run_api(counts: list[int], image: str, store: str, on_disk: bool) -> list[Result]:
    tag = "klb" + secrets.token_hex(3)
    work = Path(tempfile.mkdtemp(prefix=f"{tag}-"))
    results = []
    try:
        with (
            node_namespace(tag) as (ns, host_ip, node_ip),
            control_plane(work, host_ip, store) as (client, api, pids),
        ):
            for n in counts:
                lab = ApiLab(tag, ns, node_ip, work, client, api, pids, on_disk)
                running, ready, rss, cpu = api_round(lab, n, image)
                results.append((n, running, ready, rss, cpu))
    finally:
        if os.environ.get("KEEP"):
            print(work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return results


def wait_ready_files(status_dir: Path, n: int, timeout: float = 120) -> dict[str, float]:
    """Poll the status files; the first time each pod is seen Running with an IP."""
    deadline = time.time() + timeout
    running: dict[str, float] = {}
    while time.time() < deadline and len(running) < n:
        for f in status_dir.glob("*.json"):
            if f.name in running:
                continue
            try:
                st = json.loads(f.read_text())["status"]
            except (OSError, ValueError, KeyError):
                continue
            if st.get("phase") == "Running" and st.get("podIP"):
                running[f.name] = time.time()
        time.sleep(0.02)
    return running


def run_static(counts: list[int], image: str) -> list[Result]:
    tag = "klb" + secrets.token_hex(3)
    node_ns = f"{tag}-node"
    work = Path(tempfile.mkdtemp(prefix=f"{tag}-"))
    sh("ip", "netns", "add", node_ns)
    sh("ip", "-n", node_ns, "link", "set", "lo", "up")
    results = []
    try:
        for n in counts:
            root, manifests = work / f"root{n}", work / f"manifests{n}"
            manifests.mkdir(parents=True)
            argv = [
                "nsenter", f"--net=/run/netns/{node_ns}", sys.executable, "-m",
                "node_agent.kubelet", "--node-name", tag, "--root-dir", str(root),
                "--pod-cidr", "10.244.0.0/24", "--pod-manifest-path", str(manifests),
                "--netns-prefix", f"{tag}-p-", "--file-check-frequency", "0.1", "--port", "0",
            ]  # fmt: skip
            log_path = work / f"kubelet{n}.log"
            with log_path.open("wb") as log:
                kubelet = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
            try:
                deadline = time.time() + 30
                while not (root / "status" / "node.json").exists():
                    if time.time() > deadline:
                        raise SystemExit(f"kubelet did not start:\n{log_path.read_text()}")
                    time.sleep(0.05)
                time.sleep(0.3)
                t0 = time.time()
                cpu0 = cpu_seconds(kubelet.pid)
                tree0 = tree_cpu(kubelet.pid)
                docs = [pod_object(f"p{i:03d}", image) for i in range(n)]
                (manifests / "pods.yaml").write_text(yaml.safe_dump_all(docs))
                seen = wait_ready_files(root / "status" / "pods", n)
                lat = [t - t0 for t in seen.values()]
                nan = float("nan")
                tree = tree_delta(tree0, tree_cpu(kubelet.pid))
                cpu = Cpu(cpu_seconds(kubelet.pid) - cpu0, tree, nan, nan, nan)
                results.append((n, lat, lat, rss_mb(kubelet.pid), cpu))
            finally:
                stop(kubelet)
                subprocess.run([*argv, "--cleanup"], capture_output=True, timeout=300, check=False)
    finally:
        subprocess.run(["ip", "netns", "del", node_ns], check=False)
        if os.environ.get("KEEP"):
            print(work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="1,10,100")
    parser.add_argument("--image", default="busybox")
    parser.add_argument("--source", choices=("api", "static"), default="api")
    parser.add_argument("--store", choices=("etcd", "kvstore"), default="etcd")
    parser.add_argument(
        "--runtime-dir-on-disk",
        action="store_true",
        help="pass --runtime-dir = --root-dir (runtime state on disk, as before /run)",
    )
    opts = parser.parse_args()
    counts = [int(c) for c in opts.counts.split(",")]
    before = loop_ms()
    if opts.source == "api":
        results = run_api(counts, opts.image, opts.store, opts.runtime_dir_on_disk)
        start = "Binding written"
    else:
        results = run_static(counts, opts.image)
        start = "manifests written"
    floor = python_floor()
    after = loop_ms()
    layout = "root-dir (disk)" if opts.runtime_dir_on_disk else "default (tmpfs)"
    print(f"source={opts.source} image={opts.image} runtime-dir={layout} latency from {start}")
    print(f"peer: bare `python3 -I -S -c pass` start = {floor * 1000:.0f} ms")
    print(f"machine speed: a 1M-step Python loop took {before:.0f} ms before, {after:.0f} after")
    head = ("pods", "running", "run p50", "run p99", "ready", "rdy p50", "rdy p99", "rdy max",
            "p99/peer", "RSS MB", "kubelet", "node", "apiserver", "store", "bench",
            "total")  # fmt: skip
    print(f"{'':>83} {'CPU ms per pod':-^60}")
    row = "{:>5} {:>7} {:>8} {:>8} {:>6} {:>8} {:>8} {:>8} {:>8} {:>7}" + " {:>9}" * 6
    print(row.format(*head))
    for n, running, ready, rss, cpu in results:
        total = cpu.node + cpu.apiserver + cpu.store + cpu.bench
        shares = (cpu.kubelet, cpu.node, cpu.apiserver, cpu.store, cpu.bench, total)
        per = [f"{x * 1000 / n:.1f}" for x in shares]
        print(
            row.format(
                n,
                len(running),
                f"{percentile(running, 0.5):.2f}",
                f"{percentile(running, 0.99):.2f}",
                len(ready),
                f"{percentile(ready, 0.5):.2f}",
                f"{percentile(ready, 0.99):.2f}",
                f"{max(ready, default=float('nan')):.2f}",
                f"{percentile(ready, 0.99) / floor:.1f}",
                rss,
                *per,
            )
        )
    print("node = the kubelet, its zygote, the shims and the containers; bench = this process")
    print("(the same work costs more CPU on a slowed machine: the kubelet's ms per pod tell)")


if __name__ == "__main__":
    main()
