"""What a write costs a Python gRPC server before any apiserver work: three server designs.

Each design serves one unary method whose handler makes one etcd `Txn` (a put of 1.7 KB, as a
pod status write does) and answers 3.4 KB, with no other work:

- `aio-pool`: a `grpc.aio` server running a blocking handler in its thread pool, which calls
  etcd through grpc's synchronous client (how the apiserver serves unary calls today);
- `aio-async`: the same server with a coroutine handler awaiting a `grpc.aio` etcd client, so
  the call never leaves the event loop's thread;
- `sync`: grpc's synchronous server (a thread pool) with the synchronous etcd client.

`--no-etcd` drops the etcd call: the server's own floor per call. Figures are the server
process's CPU per call (user + system) with 16 concurrent callers; they vary with the machine's
speed, so the designs are measured in alternation, `--rounds` times each. etcd is the real one
(Debian's etcd-server), on loopback with a private data directory, started and stopped here.

    .venv/bin/python bench/grpc_plumbing.py [--calls 3000] [--rounds 2] [--no-etcd]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
from grpc import aio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kubelab.gen.etcd import rpc_pb2, rpc_pb2_grpc

DESIGNS = ("aio-pool", "aio-async", "sync")
VALUE = b"x" * 1700
REPLY = VALUE * 2
CALLERS = 16


def identity(data: bytes) -> bytes:
    return data


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def txn(name: bytes) -> rpc_pb2.TxnRequest:
    key = b"/bench/" + name
    return rpc_pb2.TxnRequest(
        compare=[
            rpc_pb2.Compare(
                result=rpc_pb2.Compare.GREATER,
                target=rpc_pb2.Compare.MOD,
                key=key,
                mod_revision=-1,
            )
        ],
        success=[rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=key, value=VALUE))],
    )


def method(handler: Any) -> grpc.GenericRpcHandler:
    return grpc.method_handlers_generic_handler(
        "bench.S",
        {
            "Do": grpc.unary_unary_rpc_method_handler(
                handler, request_deserializer=identity, response_serializer=identity
            )
        },
    )


def serve(design: str, etcd: str) -> None:
    """Run one design's server; print its port; serve until killed."""
    pool = ThreadPoolExecutor(8)
    if design == "aio-async":
        asyncio.run(serve_async(pool, etcd))
        return
    kv = rpc_pb2_grpc.KVStub(grpc.insecure_channel(etcd)) if etcd else None

    def handler(request: bytes, context: object) -> bytes:
        if kv is not None:
            kv.Txn(txn(request), timeout=10)
        return REPLY

    if design == "sync":
        server = grpc.server(pool)
        server.add_generic_rpc_handlers((method(handler),))
        print(server.add_insecure_port("127.0.0.1:0"), flush=True)
        server.start()
        server.wait_for_termination()
        return

    async def run_pool() -> None:
        server = aio.server(migration_thread_pool=pool)
        server.add_generic_rpc_handlers((method(handler),))
        print(server.add_insecure_port("127.0.0.1:0"), flush=True)
        await server.start()
        await server.wait_for_termination()

    asyncio.run(run_pool())


async def serve_async(pool: ThreadPoolExecutor, etcd: str) -> None:
    kv = rpc_pb2_grpc.KVStub(aio.insecure_channel(etcd)) if etcd else None

    async def handler(request: bytes, context: object) -> bytes:
        if kv is not None:
            await kv.Txn(txn(request), timeout=10)
        return REPLY

    server = aio.server(migration_thread_pool=pool)
    server.add_generic_rpc_handlers((method(handler),))
    print(server.add_insecure_port("127.0.0.1:0"), flush=True)
    await server.start()
    await server.wait_for_termination()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(design: str, etcd: str, calls: int) -> tuple[float, float]:
    """(server CPU ms per call, calls per second) for one design."""
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", design, "--etcd", etcd],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_unary(
                "/bench.S/Do", request_serializer=identity, response_deserializer=identity
            )
            call(b"warmup", timeout=10)
            cpu0, t0 = cpu_seconds(server.pid), time.perf_counter()
            with ThreadPoolExecutor(CALLERS) as callers:
                list(callers.map(lambda i: call(f"k{i % 100}".encode(), timeout=10), range(calls)))
            elapsed = time.perf_counter() - t0
            return (cpu_seconds(server.pid) - cpu0) * 1000 / calls, calls / elapsed
    finally:
        server.kill()
        server.wait()


def start_etcd(data_dir: str) -> tuple[subprocess.Popen[bytes], str]:
    client, peer = free_port(), free_port()
    argv = [
        shutil.which("etcd") or "/usr/bin/etcd",
        "--name", "bench", "--data-dir", data_dir,
        "--listen-client-urls", f"http://127.0.0.1:{client}",
        "--advertise-client-urls", f"http://127.0.0.1:{client}",
        "--listen-peer-urls", f"http://127.0.0.1:{peer}",
        "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
        "--initial-cluster", f"bench=http://127.0.0.1:{peer}",
        "--log-level", "error",
    ]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    address = f"127.0.0.1:{client}"
    kv = rpc_pb2_grpc.KVStub(grpc.insecure_channel(address))
    deadline = time.time() + 30
    while True:
        try:
            kv.Range(rpc_pb2.RangeRequest(key=b"/"), timeout=1)
            return proc, address
        except grpc.RpcError:
            if time.time() > deadline or proc.poll() is not None:
                proc.kill()
                raise SystemExit("etcd did not start") from None
            time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-etcd", action="store_true", help="handlers make no etcd call")
    parser.add_argument("--serve", choices=DESIGNS, help=argparse.SUPPRESS)
    parser.add_argument("--etcd", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.etcd)
        return
    with tempfile.TemporaryDirectory(prefix="klbgrpc-") as data_dir:
        etcd_proc, address = (None, "") if args.no_etcd else start_etcd(data_dir)
        try:
            what = "no etcd call" if args.no_etcd else "one etcd Txn per call"
            print(f"{args.calls} calls, {CALLERS} callers, {what}; server CPU per call")
            results: dict[str, list[tuple[float, float]]] = {d: [] for d in DESIGNS}
            for _ in range(args.rounds):  # in alternation: the machine's speed moves
                for design in DESIGNS:
                    results[design].append(measure(design, address, args.calls))
            for design in DESIGNS:
                runs = ", ".join(f"{ms:.2f} ms ({rate:.0f}/s)" for ms, rate in results[design])
                print(f"{design:>9}: {runs}")
        finally:
            if etcd_proc is not None:
                etcd_proc.kill()
                etcd_proc.wait()


if __name__ == "__main__":
    main()
