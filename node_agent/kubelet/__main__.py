"""`python -m node_agent.kubelet`: the kubelet process.

Standalone mode (no apiserver yet): `--pod-manifest-path DIR` runs every Pod manifest in DIR as
real processes in network namespaces and reports status to files under `<root-dir>/status/`.
With `--kubeconfig` it runs the pods the apiserver binds to this node instead
(`apisource.ApiNode`): it registers the Node (`--node-labels`, `--register-with-taints`),
renews its Lease, reports pod status and keeps routes to the other nodes' pod CIDRs; static
pods from `--pod-manifest-path` then run too, mirrored read-only into the API.
`--cleanup` removes everything this node runs (pods, namespaces, veths, cgroups, the bridge,
the `--runtime-dir`) and exits. SIGTERM/SIGINT stop the kubelet and leave the pods running, as
upstream; a kubelet started again with the same `--root-dir` (and `--runtime-dir`) adopts them.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import ssl
import sys
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from kubelab.api.quantity import QuantityError, milli_value, value
from node_agent.kubelet import rundir
from node_agent.kubelet.apisource import (
    ApiNode,
    StaticAndApiSource,
    client_from_kubeconfig,
    parse_node_labels,
    parse_taints,
)
from node_agent.kubelet.backoff import BackOffPolicy
from node_agent.kubelet.cgroups import Cgroups
from node_agent.kubelet.env import NoConfig
from node_agent.kubelet.errors import KubeletError, ManifestError
from node_agent.kubelet.ipam import HostLocalIPAM, gateway, parse_cidr
from node_agent.kubelet.kubelet import Kubelet, KubeletConfig, PodSource
from node_agent.kubelet.network import BridgeNetwork
from node_agent.kubelet.node import Capacity, NodeConfig, capacity_from_host
from node_agent.kubelet.runtime import ProcessRuntime
from node_agent.kubelet.server import KubeletNodeView, KubeletServer
from node_agent.kubelet.sinks import FileStatusSink
from node_agent.kubelet.static import StaticPodSource
from node_agent.kubelet.tlsconfig import ensure_self_signed, server_context
from node_agent.kubelet.volumes import DNSConfig

log = logging.getLogger("node_agent.kubelet")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m node_agent.kubelet", description=__doc__)
    add = p.add_argument
    add("--node-name", default=socket.gethostname(), help="this node's name (default: hostname)")
    add("--root-dir", default="/var/lib/kubelab/kubelet", help="state, pod volumes and logs")
    add(
        "--runtime-dir",
        default="",
        help="runtime state of running pods, best on a tmpfs (default: "
        f"{rundir.BASE}/<hash of --root-dir>; the --root-dir itself keeps everything there)",
    )
    add("--pod-cidr", required=True, help="this node's pod network, e.g. 10.244.1.0/24")
    add("--node-ip", default="", help="the node's InternalIP")
    add("--pod-manifest-path", default="", help="directory of static pod manifests")
    add("--kubeconfig", default="", help="run the pods the apiserver binds to this node")
    add("--apiserver", default="", help="apiserver gRPC host:port[,...] (default: kubeconfig's)")
    add("--node-labels", default="", help="labels to register the Node with: k=v,k2=v2")
    add("--register-with-taints", default="", help="taints to register with: key=val:Effect,...")
    add("--api-sync-timeout", type=float, default=120.0, help="seconds to wait for the first list")
    add("--file-check-frequency", type=float, default=20.0, help="seconds between manifest reads")
    add("--max-pods", type=int, default=110)
    add("--cpu", default="", help="CPU capacity to report (quantity), default: the machine's")
    add("--memory", default="", help="memory capacity to report (quantity), default: machine's")
    add("--bridge", default="cbr0", help="the node bridge for pods (max 15 characters)")
    add("--netns-prefix", default="", help="pod namespace name prefix (default kubelab-<node>-)")
    add("--veth-prefix", default="veth", help="host veth name prefix (max 7 characters)")
    add("--cgroup-parent", default="", help="parent cgroup name (default kubelab-<node>)")
    add("--cluster-dns", default="", help="nameserver for pods; empty: lookups fail fast")
    add("--cluster-domain", default="cluster.local")
    add("--sync-frequency", type=float, default=10.0, help="max seconds between syncs of a pod")
    add("--node-status-update-frequency", type=float, default=10.0)
    add("--node-lease-renew-interval", type=float, default=10.0)
    add("--crashloop-backoff-initial", type=float, default=10.0)
    add("--crashloop-backoff-max", type=float, default=300.0)
    add(
        "--crashloop-backoff-reset",
        type=float,
        default=600.0,
        help="seconds of running that forgive earlier crashes",
    )
    add("--port", type=int, default=10250, help="logs/exec server port; 0 turns it off")
    add("--address", default="0.0.0.0", help="logs/exec server address")  # noqa: S104
    add("--authentication-token-file", default="", help="bearer token the server requires")
    add("--client-ca-file", default="", help="CA whose client certificates the server accepts")
    add("--tls-cert-file", default="", help="server certificate (default: self-signed)")
    add("--tls-private-key-file", default="", help="its private key")
    add("--container-log-max-size", default="10Mi", help="rotate a container log past this")
    add("--cleanup", action="store_true", help="remove every pod of this node and exit")
    add("--log-level", default="INFO")
    return p


def _capacity(args: argparse.Namespace) -> Capacity:
    cap = capacity_from_host(args.max_pods)
    try:
        cpu = milli_value(args.cpu) if args.cpu else cap.cpu_milli
        mem = value(args.memory) if args.memory else cap.memory_bytes
    except QuantityError as exc:
        raise ManifestError("--cpu/--memory", args.cpu or args.memory, str(exc)) from exc
    return Capacity(cpu_milli=cpu, memory_bytes=mem, pods=args.max_pods)


@dataclass(frozen=True)
class Assembly:
    kubelet: Kubelet
    network: BridgeNetwork
    cgroups: Cgroups
    runtime: ProcessRuntime
    api: ApiNode | None = None


def _quantity(flag: str, text: str) -> int:
    try:
        return value(text)
    except QuantityError as exc:
        raise ManifestError(flag, text, f"a quantity such as 10Mi ({exc})") from exc


def runtime_dir(args: argparse.Namespace) -> Path:
    if args.runtime_dir:
        return Path(args.runtime_dir)
    return rundir.default_for(Path(args.root_dir))


def build(args: argparse.Namespace) -> Assembly:
    root = Path(args.root_dir)
    root.mkdir(parents=True, exist_ok=True)
    run_dir = rundir.prepare(runtime_dir(args), root)
    images = rundir.prepare(rundir.images_home(root), root) / "images"
    cidr = parse_cidr(args.pod_cidr)
    node = args.node_name
    network = BridgeNetwork(
        cidr,
        HostLocalIPAM(run_dir / "ipam", cidr),
        bridge=args.bridge,
        netns_prefix=args.netns_prefix or f"kubelab-{node}-",
        veth_prefix=args.veth_prefix,
    )
    source = (
        StaticPodSource(Path(args.pod_manifest_path), node, args.file_check_frequency)
        if args.pod_manifest_path
        else None
    )
    api = (
        ApiNode(client_from_kubeconfig(args.kubeconfig, args.apiserver), node)
        if args.kubeconfig
        else None
    )
    cgroups = Cgroups(args.cgroup_parent or f"kubelab-{node}")
    runtime = ProcessRuntime(
        root,
        network,
        cgroups,
        api or source or NoConfig(),
        host_ip=args.node_ip,
        dns=DNSConfig(args.cluster_dns or None, args.cluster_domain),
        log_max_size=_quantity("--container-log-max-size", args.container_log_max_size),
        runtime_dir=run_dir,
        images_dir=images,
    )
    config = KubeletConfig(
        node=NodeConfig(
            node,
            args.node_ip,
            str(cidr),
            _capacity(args),
            labels=parse_node_labels(args.node_labels),
            taints=parse_taints(args.register_with_taints),
        ),
        resync_period=args.sync_frequency,
        node_status_period=args.node_status_update_frequency,
        lease_renew_period=args.node_lease_renew_interval,
        backoff=BackOffPolicy(
            args.crashloop_backoff_initial, args.crashloop_backoff_max, args.crashloop_backoff_reset
        ),
    )
    if api is not None:
        api.running_uids = runtime.pod_uids
        pods: PodSource = api if source is None else StaticAndApiSource(source, api)
        kubelet = Kubelet(config, pods, api, runtime, nodes=api, routes=network, mirrors=api)
        api.idle_for = kubelet.idle_for
        runtime.on_exit = kubelet.container_exited
        return Assembly(kubelet, network, cgroups, runtime, api)
    kubelet = Kubelet(config, source or _NoPods(), FileStatusSink(root / "status"), runtime)
    runtime.on_exit = kubelet.container_exited
    return Assembly(kubelet, network, cgroups, runtime)


class _NoPods:
    def pods(self) -> list[dict[str, object]]:
        return []


def _tls(args: argparse.Namespace, cert: Path, key: Path) -> ssl.SSLContext:
    client_ca = Path(args.client_ca_file) if args.client_ca_file else None
    return server_context(cert, key, client_ca)


def cleanup(parts: Assembly) -> None:
    """`--cleanup`: every pod, the bridge, the cgroups and the kubelet's directories on /run
    (or /dev/shm) go; the root dir stays."""
    parts.kubelet.drain()
    parts.network.remove_bridge()
    parts.cgroups.remove_parent()
    parts.runtime.close()
    rundir.remove(parts.runtime.runtime_dir, parts.runtime.root)
    if parts.runtime.images_dir.parent != parts.runtime.runtime_dir:  # not on /run itself
        rundir.remove(parts.runtime.images_dir.parent, parts.runtime.root)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    try:
        parts = build(args)
        kubelet = parts.kubelet
        if args.cleanup:
            cleanup(parts)
            log.info("cleanup done node=%s", args.node_name)
            return 0
        parts.network.ensure_node()
        if parts.api is not None:
            parts.api.start()
            if not parts.api.wait_for_sync(args.api_sync_timeout):
                raise ManifestError(
                    "--kubeconfig",
                    args.kubeconfig,
                    f"no answer from the apiserver at {','.join(parts.api.client.endpoints)} "
                    f"within {args.api_sync_timeout:.0f}s",
                )
    except KubeletError as exc:
        print(f"kubelet: {exc}", file=sys.stderr)
        return 2

    main_pid = os.getpid()

    def stop(signum: int, frame: FrameType | None) -> None:
        if os.getpid() != main_pid:  # a forked helper: behave as the default action would
            os._exit(128 + signum)
        log.info("stopping signal=%d; pods keep running", signum)
        kubelet.stop()

    server = None
    if args.port:
        token = ""
        if args.authentication_token_file:
            token = Path(args.authentication_token_file).read_text().strip()
        view = KubeletNodeView(kubelet, parts.runtime)
        cert = Path(args.tls_cert_file or Path(args.root_dir) / "pki" / "kubelet.crt")
        key = Path(args.tls_private_key_file or Path(args.root_dir) / "pki" / "kubelet.key")
        try:
            if not args.tls_cert_file:
                ips = [args.node_ip, str(gateway(parse_cidr(args.pod_cidr)))]
                ensure_self_signed(cert, key, args.node_name, ips)
            server = KubeletServer(view, args.address, args.port, token, _tls(args, cert, key))
        except (OSError, KubeletError) as exc:
            print(f"kubelet: server on --port {args.port}: {exc}", file=sys.stderr)
            return 2
        server.start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info(
        "kubelet started node=%s pod-cidr=%s root-dir=%s runtime-dir=%s",
        args.node_name,
        args.pod_cidr,
        args.root_dir,
        parts.runtime.runtime_dir,
    )
    kubelet.run()
    if server is not None:
        server.stop()
    parts.runtime.close()
    if parts.api is not None:
        parts.api.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
