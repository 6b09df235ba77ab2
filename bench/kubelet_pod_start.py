"""Pod start latency and kubelet memory, on one node in standalone mode.

For N in (1, 10, 100) pods: writes N static pod manifests at once into a kubelet's
`--pod-manifest-path` (file check every 0.1 s) and measures, per pod, the time from writing the
manifests to the kubelet reporting the pod Running with its IP, and to Ready (the kubelet's own
timestamped log lines). Then reports the kubelet's RSS with the 100 pods running. Peer in the
same run: starting one bare `python3 -c pass` (the floor under the per-container shim).

Runs as root in a private node namespace `klb<hex>-node`; removes everything afterwards.
Usage: .venv/bin/python bench/kubelet_pod_start.py [--counts 1,10,100] [--image busybox]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import yaml

LINE = re.compile(
    r"^(\S+ \S+) INFO node_agent\.kubelet\.kubelet "
    r"pod status pod=default/(\S+) phase=Running ip=(\S+)"
)


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def python_floor(n: int = 10) -> float:
    took = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-I", "-S", "-c", "pass"], check=True)
        took.append(time.perf_counter() - t)
    return statistics.median(took)


def wait_ready(status_dir: Path, n: int, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        done = 0
        for f in status_dir.glob("*.json"):
            try:
                st = json.loads(f.read_text())["status"]
            except (OSError, ValueError, KeyError):
                continue
            conds = {c["type"]: c["status"] for c in st.get("conditions", [])}
            done += conds.get("Ready") == "True"
        if done >= n:
            return
        time.sleep(0.2)


def latencies(log_path: Path, t0: float) -> list[float]:
    """Seconds from writing the manifests to each pod's first `phase=Running ip=` report."""
    running: dict[str, float] = {}
    for line in log_path.read_text().splitlines():
        m = LINE.match(line)
        if m and m.group(2) not in running:
            ts = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
            running[m.group(2)] = ts - t0
    return list(running.values())


def rss_mb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    return 0


def manifest(i: int, image: str) -> dict[str, object]:
    container: dict[str, object] = {"name": "c", "image": image}
    if image == "busybox":
        container["command"] = ["sleep", "3600"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"p{i:03d}"},
        "spec": {"terminationGracePeriodSeconds": 0, "containers": [container]},
    }


def run(counts: list[int], image: str) -> None:
    tag = "klb" + secrets.token_hex(3)
    node_ns = f"{tag}-node"
    work = Path(tempfile.mkdtemp(prefix=f"{tag}-"))
    subprocess.run(["ip", "netns", "add", node_ns], check=True)
    subprocess.run(["ip", "-n", node_ns, "link", "set", "lo", "up"], check=True)
    results = []
    try:
        for n in counts:
            root, manifests = work / f"root{n}", work / f"manifests{n}"
            manifests.mkdir(parents=True)
            argv = [
                "nsenter", f"--net=/run/netns/{node_ns}", sys.executable, "-m",
                "node_agent.kubelet", "--node-name", tag, "--root-dir", str(root),
                "--pod-cidr", "10.244.0.0/24", "--pod-manifest-path", str(manifests),
                "--netns-prefix", f"{tag}-p-", "--file-check-frequency", "0.1",
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
                (manifests / "pods.yaml").write_text(
                    yaml.safe_dump_all([manifest(i, image) for i in range(n)])
                )
                wait_ready(root / "status" / "pods", n)
                lat = latencies(log_path, t0)
                results.append(
                    (n, len(lat), pct(lat, 0.5), pct(lat, 0.99), max(lat), rss_mb(kubelet.pid))
                )
            finally:
                kubelet.send_signal(signal.SIGTERM)
                kubelet.wait(timeout=30)
                subprocess.run([*argv, "--cleanup"], capture_output=True, timeout=300)
    finally:
        subprocess.run(["ip", "netns", "del", node_ns], check=False)
        if not os.environ.get("KEEP"):
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(work)
    floor = python_floor()
    print(f"image={image}  peer: bare `python3 -I -S -c pass` start = {floor * 1000:.0f} ms")
    head = ("pods", "running", "p50 s", "p99 s", "max s", "p50/peer", "kubelet RSS MB")
    print("{:>5} {:>8} {:>7} {:>7} {:>7} {:>9} {:>15}".format(*head))
    for n, got, p50, p99, mx, rss in results:
        print(f"{n:>5} {got:>8} {p50:>7.2f} {p99:>7.2f} {mx:>7.2f} {p50 / floor:>9.1f} {rss:>15}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="1,10,100")
    parser.add_argument("--image", default="busybox")
    opts = parser.parse_args()
    run([int(c) for c in opts.counts.split(",")], opts.image)


if __name__ == "__main__":
    main()
