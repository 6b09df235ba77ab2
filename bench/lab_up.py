"""`kubelab up` with the real components: time to every node Ready and to a first pod Running,
and memory per machine. Needs root; builds and removes its own labs (unique names, LANs in
10.254.x.0/24, a private state root and kubeconfig).

The issue's targets are the reference figures (no kind or k3d on this machine to measure in
the same run): 3 control planes + 3 workers Ready in under 10 s (k3d ~20 s, kind ~33 s for one
node), under 50 MB per worker. "Per worker" is the RSS of every process in the worker's
namespace (the kubelet and its zygote, no pods); per control plane likewise (store, apiserver,
scheduler, kubelet). RSS counts pages shared between processes (libpython, libc) once per
process; PSS (proportional set size, /proc/PID/smaps_rollup) splits them, so a worker's PSS is
what it adds to the machine. The worker's processes are also listed one by one.

    sudo .venv/bin/python bench/lab_up.py [--sizes 1x2,3x3] [--store kvstore] [--repeat 1]
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from kubelab.client import PODS, Client

KUBELAB = str(Path(sys.executable).parent / "kubelab")


def pss_kb(pid: int) -> int:
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    for line in rollup.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def processes(netns: str) -> list[tuple[str, float, float]]:
    """(short command line, RSS MB, PSS MB) of every process in `netns`."""
    pids = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True)
    out = []
    for pid in pids.stdout.split():
        try:
            proc = psutil.Process(int(pid))
            argv = proc.cmdline()
            rss = proc.memory_info().rss
        except psutil.NoSuchProcess:
            continue
        name = next((a for a in argv if a.startswith(("node_agent", "controlplane"))), "")
        if "--zygote" in argv:
            name = "zygote"
        out.append((name or Path(argv[0]).name, rss / 2**20, pss_kb(int(pid)) / 2**10))
    return out


def memory_mb(netns: str) -> tuple[float, float]:
    """(RSS, PSS) of every process in `netns`, summed, in MB."""
    procs = processes(netns)
    return sum(p[1] for p in procs), sum(p[2] for p in procs)


def one(cps: int, workers: int, store: str, base: Path) -> dict[str, float]:
    name = f"b{secrets.token_hex(3)[:5]}"
    env = {
        **os.environ,
        "KUBELAB_ROOT": str(base / "root"),
        "KUBECONFIG": str(base / f"{name}.kubeconfig"),
    }
    lan = f"10.254.{16 + secrets.randbelow(230)}.0/24"
    argv = [
        KUBELAB, "up", "--name", name, "--control-planes", str(cps), "--nodes", str(workers),
        "--store", store, "--fast", "--lan", lan, "--kubeconfig", env["KUBECONFIG"],
    ]  # fmt: skip
    start = time.monotonic()
    up = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    ready = time.monotonic() - start
    try:
        if up.returncode != 0:
            raise RuntimeError(f"kubelab up failed: {up.stderr.strip()}")
        lab = base / "root" / name
        endpoints = [f"{lan.rsplit('.', 1)[0]}.{10 + i}:6444" for i in range(cps)]
        client = Client.from_kubeconfig(lab / "kubeconfig", endpoints=endpoints)
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "first"},
            "spec": {"containers": [{"name": "c", "image": "pause"}]},
        }
        t0 = time.monotonic()
        client.create(PODS, pod, namespace="default")
        while (
            client.get(PODS, "first", namespace="default").get("status", {}).get("phase")
            != "Running"
        ):
            if time.monotonic() - t0 > 60:
                raise RuntimeError("first pod not Running within 60 s")
            time.sleep(0.05)
        first_pod = time.monotonic() - t0
        client.close()
        worker = [memory_mb(f"{name}-node-{i + 1}") for i in range(workers)]
        cp_mb = [memory_mb(f"{name}-cp-{i + 1}")[0] for i in range(cps)]
        # Without the pod: the worker that runs it is measured with it, so report the smallest.
        smallest = min(range(workers), key=lambda i: worker[i][0])
        for proc, rss, pss in processes(f"{name}-node-{smallest + 1}"):
            print(f"  worker process {proc}: RSS {rss:.1f} MB, PSS {pss:.1f} MB")
        return {
            "ready_s": ready,
            "first_pod_s": first_pod,
            "worker_mb": worker[smallest][0],
            "worker_pss_mb": worker[smallest][1],
            "cp_mb": statistics.mean(cp_mb),
        }
    finally:
        subprocess.run(
            [KUBELAB, "down", "--name", name, "--kubeconfig", env["KUBECONFIG"]],
            capture_output=True,
            env=env,
            timeout=120,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1x2,3x3")
    parser.add_argument("--store", default="kvstore", choices=["kvstore", "etcd"])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kubelab-bench-") as tmp:
        for size in args.sizes.split(","):
            cps, workers = (int(x) for x in size.split("x"))
            runs = [one(cps, workers, args.store, Path(tmp)) for _ in range(args.repeat)]
            med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            print(
                f"{cps}+{workers} store={args.store} (median of {len(runs)}): "
                f"every node Ready {med['ready_s']:.1f} s (target < 10 s: "
                f"{med['ready_s'] / 10:.2f}x), first pod Running {med['first_pod_s']:.2f} s after "
                f"create, worker RSS {med['worker_mb']:.0f} MB (target < 50 MB: "
                f"{med['worker_mb'] / 50:.2f}x; PSS {med['worker_pss_mb']:.0f} MB), "
                f"control plane RSS {med['cp_mb']:.0f} MB per machine"
            )


if __name__ == "__main__":
    main()
