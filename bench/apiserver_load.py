"""Apiserver load benchmark: creates through REST and gRPC, a list of 5,000 pods, watch delivery.

    .venv/bin/python bench/apiserver_load.py [--creates 1000] [--clients 10] [--watchers 100]

Starts a real etcd and `python -m controlplane.apiserver` on random loopback ports in a temp dir,
then measures from this process: create latency/throughput with N concurrent clients over HTTPS
(kubectl's path) and over gRPC (the components' path), the time to list 5,000 pods, and the delay
from a write being acknowledged to the event reaching W gRPC watchers. The peer measured in the
same run is a raw etcd compare-and-swap create, the floor under every apiserver create.
"""

# ruff: noqa: PLR0915  (one linear script: setup, measure, report)

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from percentile import percentile

from controlplane.apiserver.storage import EtcdStore
from kubelab.client import NAMESPACES, PODS, Client
from kubelab.client.client import CHANNEL_OPTIONS
from kubelab.gen.api import api_pb2, api_pb2_grpc
from tests.integration.apiserver.cluster import free_port, run_etcd
from tests.support import wait_until


def pod(name: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"bench": "yes"}},
        "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sleep", "1d"]}]},
    }


def pct(values: list[float], p: float) -> float:
    """The `p`th percentile of latencies in seconds, in milliseconds."""
    return percentile(values, p / 100) * 1000


def run_parallel(
    clients: int, per_client: int, op: Callable[[int, int], None], rate: float = 0.0
) -> tuple[float, list[float]]:
    """Closed loop (`rate` 0): each client sends its next call when the last returns; latency
    from send to reply. Open loop (`rate` > 0): the k-th call (client k % clients) is due at
    start + k / rate and its latency runs from when it was due, so a server that falls behind
    pays for the queue it builds (no coordinated omission)."""
    latencies: list[float] = []
    lock = threading.Lock()
    start = time.perf_counter() + (0.05 if rate else 0.0)

    def worker(c: int) -> None:
        mine = []
        for i in range(per_client):
            if rate:
                t0 = start + (i * clients + c) / rate
                delay = t0 - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            else:
                t0 = time.perf_counter()
            op(c, i)
            mine.append(time.perf_counter() - t0)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start, latencies


def report(label: str, elapsed: float, lat: list[float]) -> None:
    print(
        f"{label:<28} {len(lat) / elapsed:8.1f}/s  p50 {pct(lat, 50):7.1f} ms  "
        f"p99 {pct(lat, 99):7.1f} ms  (n={len(lat)})"
    )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--creates", type=int, default=1000)
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument(
        "--rate",
        type=float,
        default=200.0,
        help="creates/s offered in the paced (open-loop) run of each front end; 0 skips it",
    )
    ap.add_argument("--list-size", type=int, default=5000)
    ap.add_argument("--watchers", type=int, default=100)
    ap.add_argument("--watch-writes", type=int, default=50)
    ap.add_argument("--watch-procs", type=int, default=4)
    ap.add_argument(
        "--watch-interval",
        type=float,
        default=0.02,
        help="seconds between the watched writes (after each create returns)",
    )
    ap.add_argument(
        "--only-watch", action="store_true", help="skip creates and the list; measure watch only"
    )
    ap.add_argument(
        "--watcher",
        choices=("client", "aio"),
        default="client",
        help="client: each watcher a thread iterating kubelab.client's Watch (what components "
        "do); aio: each watcher a coroutine on one grpc.aio loop per process",
    )
    if len(sys.argv) > 1 and sys.argv[1] == "--watch-worker":
        mode, pki, port, rv, count, writes = sys.argv[2:8]
        worker = watch_worker if mode == "client" else aio_watch_worker
        return worker(Path(pki), int(port), rv, int(count), int(writes))
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="kl-bench-"))
    try:
        run(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def run(args: argparse.Namespace, tmp: Path) -> None:
    per_client = args.creates // args.clients
    with run_etcd(tmp / "etcd") as store:
        rest_port, grpc_port = free_port(), free_port()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "controlplane.apiserver",
                "--etcd-servers",
                store.endpoints[0],
                "--secure-port",
                str(rest_port),
                "--grpc-port",
                str(grpc_port),
                "--cert-dir",
                str(tmp / "pki"),
                "--v",
                "0",
            ],
            cwd=Path(__file__).resolve().parent.parent,
        )
        try:
            pki = tmp / "pki"
            wait_until((pki / "admin.kubeconfig").exists, 30)
            client = Client.from_cert_dir(pki, [f"127.0.0.1:{grpc_port}"])
            wait_until(lambda: client.list(NAMESPACES).items, 30)
            if args.only_watch:
                watch_delivery(pki, grpc_port, client, args, proc.pid)
                return
            for ns in ("rest", "grpc", "peer"):
                client.create(NAMESPACES, {"metadata": {"name": ns}})
            print(
                f"apiserver bench: {args.clients} concurrent clients, "
                f"{args.creates} creates each way"
            )

            etcd = EtcdStore(store.endpoints)
            body = json.dumps(pod("x")).encode()
            elapsed, lat = run_parallel(
                args.clients,
                per_client,
                lambda c, i: etcd.create(f"/bench/peer/{c}-{i}", body) and None,
            )
            report("peer: etcd CAS create", elapsed, lat)
            peer_p50 = pct(lat, 50)

            ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
            ctx.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
            conns = [
                http.client.HTTPSConnection("127.0.0.1", rest_port, context=ctx)
                for _ in range(args.clients)
            ]

            def rest_create(c: int, i: int) -> None:
                conns[c].request(
                    "POST",
                    "/api/v1/namespaces/rest/pods",
                    body=json.dumps(pod(f"p-{c}-{i}")),
                    headers={"Content-Type": "application/json"},
                )
                resp = conns[c].getresponse()
                resp.read()
                assert resp.status == 201, resp.status

            elapsed, lat = run_parallel(args.clients, per_client, rest_create)
            report("REST (HTTPS) pod create", elapsed, lat)
            rest_p50 = pct(lat, 50)

            grpc_clients = [
                Client.from_cert_dir(pki, [f"127.0.0.1:{grpc_port}"]) for _ in range(args.clients)
            ]
            elapsed, lat = run_parallel(
                args.clients,
                per_client,
                lambda c, i: (
                    grpc_clients[c].create(PODS, pod(f"p-{c}-{i}"), namespace="grpc") and None
                ),
            )
            report("gRPC pod create", elapsed, lat)
            grpc_p50 = pct(lat, 50)
            print(
                f"ratio create p50 / etcd p50: REST {rest_p50 / peer_p50:.1f}x, "
                f"gRPC {grpc_p50 / peer_p50:.1f}x"
            )
            if args.rate:
                # The target: p99 create < 100 ms while sustaining 200 creates/s.
                elapsed, lat = run_parallel(
                    args.clients,
                    per_client,
                    lambda c, i: rest_create(c, per_client + i),
                    rate=args.rate,
                )
                report(f"REST create at {args.rate:.0f}/s", elapsed, lat)
                elapsed, lat = run_parallel(
                    args.clients,
                    per_client,
                    lambda c, i: (
                        grpc_clients[c].create(
                            PODS, pod(f"p-{c}-{per_client + i}"), namespace="grpc"
                        )
                        and None
                    ),
                    rate=args.rate,
                )
                report(f"gRPC create at {args.rate:.0f}/s", elapsed, lat)

            have = (4 if args.rate else 2) * per_client * args.clients
            extra = max(0, args.list_size - have)
            per = -(-extra // args.clients) if extra else 0
            if per:
                run_parallel(
                    args.clients,
                    per,
                    lambda c, i: (
                        grpc_clients[c].create(PODS, pod(f"f-{c}-{i}"), namespace="peer") and None
                    ),
                )
            t0 = time.perf_counter()
            items = client.list(PODS).items
            t_grpc = time.perf_counter() - t0
            conns[0].request("GET", "/api/v1/pods")
            t0 = time.perf_counter()
            resp = conns[0].getresponse()
            data = resp.read()
            t_rest = time.perf_counter() - t0
            conns[0].request(
                "GET",
                "/api/v1/pods",
                headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"},
            )
            t0 = time.perf_counter()
            conns[0].getresponse().read()
            t_table = time.perf_counter() - t0
            print(
                f"list {len(items)} pods: gRPC {t_grpc * 1000:.0f} ms, REST JSON "
                f"{t_rest * 1000:.0f} ms ({len(data) / 1e6:.1f} MB), REST Table "
                f"{t_table * 1000:.0f} ms"
            )

            watch_delivery(pki, grpc_port, client, args, proc.pid)
        finally:
            proc.terminate()
            proc.wait(10)


def watch_worker(pki: Path, grpc_port: int, rv: str, count: int, writes: int) -> int:
    """One process of watchers: prints `ready`, then one JSON line of (watcher, name, time)."""
    seen: list[tuple[int, str, float]] = []
    lock = threading.Lock()
    clients = [Client.from_cert_dir(pki, [f"127.0.0.1:{grpc_port}"]) for _ in range(4)]
    started = threading.Barrier(count + 1)

    def run(w: int) -> None:
        watch = clients[w % 4].watch(PODS, namespace="watch", resource_version=rv)
        started.wait()
        for n, ev in enumerate(watch, 1):
            with lock:
                seen.append((w, ev.object["metadata"]["name"], time.monotonic()))
            if n == writes:
                return

    threads = [threading.Thread(target=run, args=(w,), daemon=True) for w in range(count)]
    for t in threads:
        t.start()
    started.wait()
    time.sleep(1.0)  # let every stream reach the server
    print("ready", flush=True)
    cpu0 = time.process_time()
    for t in threads:
        t.join(120)
    print(json.dumps({"seen": seen, "cpu": time.process_time() - cpu0}), flush=True)
    return 0


def aio_watch_worker(pki: Path, grpc_port: int, rv: str, count: int, writes: int) -> int:
    """`watch_worker` with the process's watchers as coroutines of one grpc.aio event loop (no
    thread hand-offs inside the watcher process). Each counts an event when it has decoded the
    message and its JSON object, as kubelab.client's Watch does."""
    seen: list[tuple[int, str, float]] = []

    async def main() -> None:
        creds = grpc.ssl_channel_credentials(
            (pki / "ca.crt").read_bytes(),
            (pki / "admin.key").read_bytes(),
            (pki / "admin.crt").read_bytes(),
        )
        channels = [
            grpc.aio.secure_channel(f"127.0.0.1:{grpc_port}", creds, options=CHANNEL_OPTIONS)
            for _ in range(4)
        ]
        request = api_pb2.WatchRequest(
            ref=api_pb2.ResourceRef(version="v1", resource="pods", namespace="watch"),
            resource_version=rv,
        )
        calls = [
            api_pb2_grpc.ApiStub(channels[w % 4]).Watch(request)  # type: ignore[no-untyped-call]
            for w in range(count)
        ]
        for ch in channels:
            await ch.channel_ready()

        async def run(w: int, call: Any) -> None:
            n = 0
            async for msg in call:
                if msg.type == "BOOKMARK":
                    continue
                obj = json.loads(msg.object)
                seen.append((w, obj["metadata"]["name"], time.monotonic()))
                n += 1
                if n == writes:
                    call.cancel()
                    return

        tasks = [asyncio.create_task(run(w, c)) for w, c in enumerate(calls)]
        await asyncio.sleep(1.0)  # let every stream reach the server
        print("ready", flush=True)
        cpu[0] = time.process_time()
        await asyncio.wait_for(asyncio.gather(*tasks), 120)
        cpu[0] = time.process_time() - cpu[0]
        for ch in channels:
            await ch.close()

    cpu = [0.0]
    asyncio.run(main())
    print(json.dumps({"seen": seen, "cpu": cpu[0]}), flush=True)
    return 0


def watch_delivery(
    pki: Path, grpc_port: int, client: Client, args: argparse.Namespace, apiserver_pid: int
) -> None:
    """Watchers run in `procs` separate processes, so their decoding does not share one GIL
    with the writer; times are CLOCK_MONOTONIC, comparable across processes."""
    watchers, writes, procs = args.watchers, args.watch_writes, args.watch_procs
    client.create(NAMESPACES, {"metadata": {"name": "watch"}})
    rv = client.list(PODS, namespace="watch").resource_version
    per = watchers // procs
    workers = [
        subprocess.Popen(
            [sys.executable, __file__, "--watch-worker", args.watcher, str(pki), str(grpc_port),
             rv, str(per), str(writes)],
            stdout=subprocess.PIPE, text=True,
        )
        for _ in range(procs)
    ]  # fmt: skip
    for w in workers:
        assert w.stdout is not None
        assert w.stdout.readline().strip() == "ready"
    apiserver = psutil.Process(apiserver_pid)
    api_cpu0 = sum(apiserver.cpu_times()[:2])
    acked: dict[str, float] = {}
    for i in range(writes):
        name = f"w-{i}"
        client.create(PODS, pod(name), namespace="watch")
        acked[name] = time.monotonic()
        time.sleep(args.watch_interval)
    lat: list[float] = []
    early = 0
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    watcher_cpu = 0.0
    for w in workers:
        out, _ = w.communicate(timeout=120)
        result = json.loads(out)
        watcher_cpu += result["cpu"]
        for _, name, seen_at in result["seen"]:
            # A watcher may decode the event before the writer's create call has returned (the
            # event and the reply race from the apiserver): that counts as 0, not negative.
            early += seen_at < acked[name]
            lat.append(max(0.0, seen_at - acked[name]))
            first[name] = min(first.get(name, seen_at), seen_at)
            last[name] = max(last.get(name, seen_at), seen_at)
    api_cpu = sum(apiserver.cpu_times()[:2]) - api_cpu0
    spread = [last[n] - first[n] for n in first]
    print(
        f"watch delivery to {per * procs} watchers ({args.watcher}) in {procs} processes "
        f"({writes} writes, {args.watch_interval * 1000:.0f} ms apart): "
        f"p50 {pct(lat, 50):.1f} ms, p99 {pct(lat, 99):.1f} ms, max {max(lat) * 1000:.1f} ms; "
        f"events seen {len(lat)}/{per * procs * writes} ({early} before the create returned); "
        f"first-to-last watcher per event p50 {pct(spread, 50):.1f} ms, "
        f"p99 {pct(spread, 99):.1f} ms; store watches for pods: 1"
    )
    print(
        f"CPU per write (its create and its fan-out to {per * procs} streams): apiserver "
        f"{api_cpu / writes * 1000:.1f} ms, watcher processes {watcher_cpu / writes * 1000:.1f} ms"
    )


if __name__ == "__main__":
    sys.exit(main())
