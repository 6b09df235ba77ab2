"""kvstore vs a real etcd: the same client and load against two 3-member clusters in one run.

    .venv/bin/python bench/kvstore_vs_etcd.py [--writes 2000] [--lone 300] [--failovers 5]

Prints, per backend: writes/s with many requests in flight, p50/p99 of one write at a time,
p50/p99 of a linearizable read, and the median time from SIGKILL of the leader to the first
acknowledged write; then the kvstore/etcd ratios. Backends: etcd with its defaults (heartbeat
100 ms, election 1000 ms) and with a fast profile (50/500); kvstore with the same two timings,
and kvstore with default timings and --unsafe-no-fsync.

Durability: etcd fsyncs its WAL before it acknowledges; kvstore fsyncs its Raft journal once
per appended batch (leader and followers) unless started with --unsafe-no-fsync. The rows say
which mode each backend ran in. Every request goes to the leader, from one Python gRPC client
(the same code for both backends), and all members run on 127.0.0.1 of this machine.

Besides latency and rates it prints the CPU time spent per write during the throughput run, by
the three members together and by the client, and the same load against a bare grpc.aio server
whose Put does nothing (no store, no Raft): the floor that any Python gRPC server pays here.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from percentile import percentile

from kubelab.gen.etcd import rpc_pb2, rpc_pb2_grpc
from tests.integration.kvstore.harness import Cluster, free_ports


@dataclass
class Figures:
    name: str
    writes_per_s: float = 0.0
    lone_p50: float = 0.0
    lone_p99: float = 0.0
    read_p50: float = 0.0
    read_p99: float = 0.0
    failover: list[float] | None = None
    server_cpu_us: float = 0.0  # CPU of all members per write, during the throughput run
    client_cpu_us: float = 0.0

    @property
    def failover_median(self) -> float:
        return statistics.median(self.failover) if self.failover else float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured_throughput(
    kv: rpc_pb2_grpc.KVStub, pids: list[int], total: int, in_flight: int
) -> tuple[float, float, float]:
    """writes/s, and CPU microseconds per write of the server processes and of this client."""
    before = sum(cpu_seconds(pid) for pid in pids)
    client_before = time.process_time()
    rate = throughput(kv, total, in_flight)
    client = time.process_time() - client_before
    server = sum(cpu_seconds(pid) for pid in pids) - before
    return rate, server / total * 1e6, client / total * 1e6


def throughput(kv: rpc_pb2_grpc.KVStub, total: int, in_flight: int) -> float:
    sem = threading.Semaphore(in_flight)
    done = threading.Event()
    left = [total]
    lock = threading.Lock()
    errors = [0]

    def finished(fut: grpc.Future) -> None:  # type: ignore[type-arg]
        if fut.exception() is not None:
            errors[0] += 1
        sem.release()
        with lock:
            left[0] -= 1
            if left[0] == 0:
                done.set()

    start = time.perf_counter()
    for n in range(total):
        sem.acquire()
        fut = kv.Put.future(rpc_pb2.PutRequest(key=b"tp/%d" % (n % 1000), value=b"x" * 100))
        fut.add_done_callback(finished)
    done.wait(120)
    elapsed = time.perf_counter() - start
    if errors[0]:
        print(f"  {errors[0]} writes failed", file=sys.stderr)
    return (total - errors[0]) / elapsed


def lone_latency(kv: rpc_pb2_grpc.KVStub, count: int, read: bool) -> list[float]:
    samples = []
    for n in range(count):
        start = time.perf_counter()
        if read:
            kv.Range(rpc_pb2.RangeRequest(key=b"lone/%d" % (n % 50)), timeout=10)
        else:
            kv.Put(rpc_pb2.PutRequest(key=b"lone/%d" % (n % 50), value=b"v" * 100), timeout=10)
        samples.append(time.perf_counter() - start)
    return samples


def failover(c: Cluster) -> float:
    leader = c.wait_leader()
    survivors = [i for i in range(c.size) if i != leader]
    for i in survivors:
        c.put(i, b"warm", b"1")
    start = time.perf_counter()
    c.kill(leader)
    n = 0
    while True:
        i = survivors[n % len(survivors)]
        n += 1
        try:
            c.client(i).kv.Put(rpc_pb2.PutRequest(key=b"fo", value=b"1"), timeout=0.5)
            took = time.perf_counter() - start
            break
        except grpc.RpcError:
            continue
    c.start(leader)
    c.wait_leader(timeout=30, among=list(range(c.size)))
    # let the restarted member catch up before the next trial
    time.sleep(1.0)
    return took


def run(kind: str, name: str, hb: int, el: int, args: argparse.Namespace, *extra: str) -> Figures:
    root = Path(tempfile.mkdtemp(prefix=f"kvbench-{name}-"))
    c = Cluster(root, kind=kind, heartbeat_ms=hb, election_ms=el, extra_args=extra)
    fig = Figures(name)
    try:
        c.start_all()
        leader = c.wait_leader()
        kv = c.client(leader).kv
        lone_latency(kv, 50, read=False)  # warm up
        pids = [m.proc.pid for m in c.members if m.proc is not None]
        fig.writes_per_s, fig.server_cpu_us, fig.client_cpu_us = measured_throughput(
            kv, pids, args.writes, args.in_flight
        )
        lone = lone_latency(kv, args.lone, read=False)
        fig.lone_p50, fig.lone_p99 = percentile(lone, 0.5), percentile(lone, 0.99)
        reads = lone_latency(kv, args.lone, read=True)
        fig.read_p50, fig.read_p99 = percentile(reads, 0.5), percentile(reads, 0.99)
        fig.failover = [failover(c) for _ in range(args.failovers)]
    finally:
        c.close()
        shutil.rmtree(root, ignore_errors=True)
    ms = 1000
    fo = ", ".join(f"{x:.2f}" for x in fig.failover or [])
    print(
        f"{name:20s} writes/s={fig.writes_per_s:8.0f}  lone write p50={fig.lone_p50 * ms:6.2f} ms "
        f"p99={fig.lone_p99 * ms:6.2f} ms  read p50={fig.read_p50 * ms:6.2f} ms "
        f"p99={fig.read_p99 * ms:6.2f} ms  failover median={fig.failover_median:.2f} s [{fo}]  "
        f"CPU/write: members {fig.server_cpu_us:.0f} us, client {fig.client_cpu_us:.0f} us",
        flush=True,
    )
    return fig


class _BarePut(rpc_pb2_grpc.KVServicer):
    async def Put(self, request: rpc_pb2.PutRequest, context: object) -> rpc_pb2.PutResponse:  # noqa: N802
        return rpc_pb2.PutResponse(header=rpc_pb2.ResponseHeader(revision=1))


def serve_bare(port: int) -> None:
    async def main() -> None:
        server = grpc.aio.server()
        rpc_pb2_grpc.add_KVServicer_to_server(_BarePut(), server)  # type: ignore[abstract]
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        await server.wait_for_termination()

    asyncio.run(main())


def bare_floor(args: argparse.Namespace) -> None:
    """The same load against a grpc.aio server whose Put does nothing, in its own process."""
    (port,) = free_ports(1)
    proc = subprocess.Popen([sys.executable, __file__, "--serve-bare", str(port)])
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(channel).result(timeout=20)
        kv = rpc_pb2_grpc.KVStub(channel)
        lone_latency(kv, 50, read=False)
        rate, server_us, client_us = measured_throughput(
            kv, [proc.pid], args.writes, args.in_flight
        )
        lone = lone_latency(kv, args.lone, read=False)
        channel.close()
    finally:
        proc.kill()
        proc.wait(10)
    print(
        f"{'bare grpc.aio Put':20s} writes/s={rate:8.0f}  "
        f"lone call p50={percentile(lone, 0.5) * 1000:6.2f} ms"
        f"  CPU/call: server {server_us:.0f} us, client {client_us:.0f} us  (no store, no Raft)",
        flush=True,
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--writes", type=int, default=2000)
    p.add_argument("--in-flight", type=int, default=64)
    p.add_argument("--lone", type=int, default=300)
    p.add_argument("--failovers", type=int, default=5)
    p.add_argument("--serve-bare", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    print("fsync: etcd and kvstore fsync their logs; kvstore-no-fsync runs --unsafe-no-fsync")
    etcd = run("etcd", "etcd", 100, 1000, args)
    kv = run("kvstore", "kvstore", 100, 1000, args)
    kv_nosync = run("kvstore", "kvstore-no-fsync", 100, 1000, args, "--unsafe-no-fsync")
    etcd_fast = run("etcd", "etcd-fast", 50, 500, args)
    kv_fast = run("kvstore", "kvstore-fast", 50, 500, args)
    bare_floor(args)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print()
    for label, k in (("kvstore", kv), ("kvstore-no-fsync", kv_nosync)):
        print(
            f"{label + ' / etcd:':24s} throughput {k.writes_per_s / etcd.writes_per_s:.2f}x, "
            f"lone write p50 {k.lone_p50 / etcd.lone_p50:.2f}x, "
            f"linearizable read p50 {k.read_p50 / etcd.read_p50:.2f}x"
        )
    print(
        f"failover median default: kvstore {kv.failover_median:.2f} s, "
        f"etcd {etcd.failover_median:.2f} s"
    )
    print(
        f"failover median fast:    kvstore {kv_fast.failover_median:.2f} s, "
        f"etcd {etcd_fast.failover_median:.2f} s"
    )


if __name__ == "__main__":
    main()
