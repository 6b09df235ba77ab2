"""`python -m controlplane.apiserver`: the kubelab apiserver, with kube-apiserver's flag names."""

from __future__ import annotations

import argparse
import logging
import re
import signal
import sys
import threading
from pathlib import Path

from controlplane.apiserver.server import Apiserver, ApiserverConfig


def parse_duration(text: str) -> int:
    """Seconds from `3600`, `90s`, `30m`, `1h`, `1h0m0s` (Go durations, as kube-apiserver)."""
    if text.isdigit():
        return int(text)
    match = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text)
    if not text or match is None:
        raise argparse.ArgumentTypeError(
            f"invalid duration {text!r}: use seconds or h/m/s units such as 1h, 30m, 1h30m"
        )
    h, m, s = (int(g or 0) for g in match.groups())
    return h * 3600 + m * 60 + s


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: a whole number of 1 or more")
    return int(text)


def parse_args(argv: list[str] | None = None) -> ApiserverConfig:
    p = argparse.ArgumentParser(prog="python -m controlplane.apiserver", description=__doc__)
    p.add_argument(
        "--etcd-servers",
        required=True,
        help="comma-separated etcd v3 endpoints (host:port), tried in order on failure",
    )
    p.add_argument("--bind-address", default="127.0.0.1")
    p.add_argument("--secure-port", type=int, default=6443, help="HTTPS REST port (0: any)")
    p.add_argument("--grpc-port", type=int, default=6444, help="gRPC port (0: any)")
    p.add_argument("--advertise-address", default="")
    p.add_argument(
        "--cert-dir",
        default="/var/lib/kubelab/pki",
        help="CA, serving and admin certificates; created when missing",
    )
    p.add_argument("--service-cluster-ip-range", default="10.96.0.0/12")
    p.add_argument(
        "--tls-san",
        action="append",
        default=[],
        help="extra DNS name or IP for the serving certificate (repeatable)",
    )
    p.add_argument("--watch-bookmark-interval", type=float, default=10.0)
    p.add_argument("--watch-cache-size", type=int, default=4096)
    p.add_argument(
        "--event-ttl",
        type=parse_duration,
        default=3600,
        help="how long events are kept: seconds or a duration like 1h, 30m, 1h30m",
    )
    p.add_argument(
        "--grpc-max-workers",
        type=positive_int,
        default=8,
        help="threads for unary gRPC calls: more only contend for the interpreter lock "
        "(Watch streams share one event loop)",
    )
    p.add_argument(
        "--kubelet-client-certificate",
        default="",
        help="client certificate presented to kubelets (default: <cert-dir>'s own)",
    )
    p.add_argument("--kubelet-client-key", default="", help="its private key")
    p.add_argument("-v", "--v", type=int, default=1, help="log verbosity (0-4)")
    args = p.parse_args(argv)
    servers = tuple(s.strip() for s in args.etcd_servers.split(",") if s.strip())
    if not servers:
        p.error("--etcd-servers: give at least one host:port")
    if bool(args.kubelet_client_certificate) != bool(args.kubelet_client_key):
        p.error("--kubelet-client-certificate and --kubelet-client-key go together")
    level = logging.DEBUG if args.v >= 4 else logging.INFO if args.v >= 1 else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    return ApiserverConfig(
        etcd_servers=servers,
        cert_dir=Path(args.cert_dir),
        bind_address=args.bind_address,
        secure_port=args.secure_port,
        grpc_port=args.grpc_port,
        advertise_address=args.advertise_address,
        service_cluster_ip_range=args.service_cluster_ip_range,
        tls_sans=tuple(args.tls_san),
        bookmark_interval=args.watch_bookmark_interval,
        watch_cache_size=args.watch_cache_size,
        grpc_max_workers=args.grpc_max_workers,
        event_ttl=args.event_ttl,
        kubelet_client_certificate=(
            Path(args.kubelet_client_certificate) if args.kubelet_client_certificate else None
        ),
        kubelet_client_key=Path(args.kubelet_client_key) if args.kubelet_client_key else None,
    )


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    server = Apiserver(config)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    try:
        server.start()
    except Exception as exc:
        logging.getLogger("controlplane.apiserver").error("startup failed: %s", exc)
        return 1
    print(f"ready rest={server.rest_port} grpc={server.grpc_port}", flush=True)
    done.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
