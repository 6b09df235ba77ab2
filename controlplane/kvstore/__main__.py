"""`python -m controlplane.kvstore`: run one kvstore replica, or restore a snapshot offline.

    python -m controlplane.kvstore --name n1 --data-dir /var/lib/kv/n1 \\
        --listen-client-urls http://127.0.0.1:2379 \\
        --advertise-client-urls http://127.0.0.1:2379 \\
        --listen-peer-urls http://127.0.0.1:2380 \\
        --initial-advertise-peer-urls http://127.0.0.1:2380 \\
        --initial-cluster n1=http://127.0.0.1:2380,n2=...,n3=... --peer-secret-file secret
    python -m controlplane.kvstore snapshot restore backup.db --data-dir /var/lib/kv/n1-restored
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from controlplane.kvstore.config import (
    DEFAULT_MAX_REQUEST_BYTES,
    DEFAULT_SNAPSHOT_COUNT,
    Config,
    build_config,
)
from controlplane.kvstore.errors import ConfigError
from controlplane.kvstore.raft import ReplicatedStore
from controlplane.kvstore.server import BackgroundServer, Lessor, Node, Publisher, WatchHub
from controlplane.kvstore.snapshot import restore

log = logging.getLogger("controlplane.kvstore")


def _run_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m controlplane.kvstore",
        description="One replica of kubelab's etcd-compatible, Raft-replicated key-value store.",
    )
    p.add_argument("--name", default="default", help="human-readable name of this member")
    p.add_argument("--data-dir", default=None, help="path to the data directory")
    p.add_argument("--listen-client-urls", default="http://127.0.0.1:2379")
    p.add_argument("--advertise-client-urls", default=None)
    p.add_argument("--listen-peer-urls", default="http://127.0.0.1:2380")
    p.add_argument("--initial-advertise-peer-urls", default=None)
    p.add_argument("--initial-cluster", default=None, help="name=http://host:port,...")
    p.add_argument("--initial-cluster-state", default="new", choices=["new", "existing"])
    p.add_argument("--initial-cluster-token", default="kubelab", help="accepted for etcd parity")
    p.add_argument("--heartbeat-interval", type=float, default=100, help="milliseconds")
    p.add_argument("--election-timeout", type=float, default=1000, help="milliseconds")
    p.add_argument("--max-request-bytes", type=int, default=DEFAULT_MAX_REQUEST_BYTES)
    p.add_argument(
        "--snapshot-count",
        type=int,
        default=DEFAULT_SNAPSHOT_COUNT,
        help="Raft log entries after which a snapshot compacts the log",
    )
    p.add_argument(
        "--experimental-watch-progress-notify-interval",
        default="10m",
        help="how often watchers created with progress_notify get a progress notification",
    )
    p.add_argument("--peer-secret-file", default=None, help="file holding the cluster secret")
    p.add_argument(
        "--unsafe-no-fsync",
        action="store_true",
        help="do not fsync the Raft journal (as etcd's flag: faster, but a machine crash "
        "or power loss may lose acknowledged writes)",
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return p


def _restore_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m controlplane.kvstore snapshot restore",
        description="Restore a snapshot (from `etcdctl snapshot save`) into a fresh data dir.",
    )
    p.add_argument("snapshot", help="the saved snapshot file")
    p.add_argument("--data-dir", required=True, help="a new (absent or empty) data directory")
    for flag in ("--name", "--initial-cluster", "--initial-advertise-peer-urls"):
        p.add_argument(flag, default=None, help="accepted for etcdutl parity")
    p.add_argument("--initial-cluster-token", default=None, help="accepted for etcdutl parity")
    return p


def _load_config(args: argparse.Namespace) -> Config:
    secret: bytes | None = None
    if args.peer_secret_file:
        try:
            with open(args.peer_secret_file, "rb") as f:
                secret = f.read().strip()
        except OSError as exc:
            raise ConfigError(f"--peer-secret-file={args.peer_secret_file!r}: {exc}") from exc
        if len(secret) < 16:
            raise ConfigError(
                f"--peer-secret-file={args.peer_secret_file!r}: the secret must be at least "
                "16 bytes"
            )
    peer_url = args.initial_advertise_peer_urls or args.listen_peer_urls
    return build_config(
        name=args.name,
        data_dir=args.data_dir or f"{args.name}.kvstore",
        listen_client_urls=args.listen_client_urls,
        advertise_client_urls=args.advertise_client_urls or args.listen_client_urls,
        listen_peer_urls=args.listen_peer_urls,
        initial_advertise_peer_urls=peer_url,
        initial_cluster=args.initial_cluster,
        heartbeat_ms=args.heartbeat_interval,
        election_ms=args.election_timeout,
        peer_secret=secret,
        max_request_bytes=args.max_request_bytes,
        snapshot_count=args.snapshot_count,
        watch_progress_notify_interval=args.experimental_watch_progress_notify_interval,
        unsafe_no_fsync=args.unsafe_no_fsync,
    )


def serve(config: Config) -> None:
    hub = WatchHub()
    me = config.self_member
    others = [m.peer.address for m in config.members if m.name != config.name]
    if config.peer_secret is None and others:
        log.warning("peer traffic is unauthenticated (no --peer-secret-file; all peers loopback)")
    backend = ReplicatedStore(
        self_address=me.peer.address,
        bind_address=config.listen_peer.address,
        peer_addresses=others,
        data_dir=config.data_dir,
        timing=config.timing,
        password=config.peer_secret,
        on_applied=hub.on_applied,
        snapshot_count=config.snapshot_count,
        fsync=config.fsync,
    )
    if not config.fsync:
        log.warning(
            "--unsafe-no-fsync: the Raft journal is not fsynced; a crash of the machine "
            "may lose acknowledged writes"
        )
    node = Node(config, backend, hub)
    server = BackgroundServer(node)
    server.start()
    lessor = Lessor(node)
    lessor.start()
    publisher = Publisher(node)
    publisher.start()
    log.info(
        "kvstore serving name=%s member=%x cluster=%x client=%s peer=%s members=%d",
        config.name,
        node.member_id,
        node.cluster_id,
        ",".join(config.advertise_client_urls),
        config.advertise_peer_url,
        len(config.members),
    )
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    log.info("kvstore stopping name=%s", config.name)
    lessor.stop()
    publisher.stop()
    server.stop(1.0)
    backend.stop()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:2] == ["snapshot", "restore"]:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
        rargs = _restore_parser().parse_args(argv[2:])
        try:
            revision = restore(rargs.snapshot, rargs.data_dir)
        except ConfigError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return 2
        print(f"restored snapshot revision={revision} into data-dir={rargs.data_dir}")
        return 0
    args = _run_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    try:
        config = _load_config(args)
    except ConfigError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    os.makedirs(config.data_dir, exist_ok=True)
    # The Raft thread hands results to gRPC threads: switch threads sooner than every 5 ms.
    sys.setswitchinterval(0.0005)
    serve(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
