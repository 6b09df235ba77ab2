"""The kubelet with `--kubeconfig`: a real apiserver (over a real etcd) drives it.

The kubelet runs in a node namespace joined to the host by a veth pair with link-local
addresses unique to the test; the apiserver listens on the host end only. A pod created
through the API with `spec.nodeName` runs and reports Running with its IP; the Node is
registered with its labels, taints and podCIDR, its Lease renewed; another Node's podCIDR
becomes a route; a deleted pod's containers stop, then the object goes away.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

import pytest

from controlplane.apiserver.server import Apiserver, ApiserverConfig
from kubelab.api.errors import NotFound
from kubelab.client import EVENTS, LEASES, NODES, PODS, Client
from tests.integration.apiserver.cluster import run_store
from tests.integration.kubelet.harness import agnhost, pod
from tests.support import wait_until
from tests.support.netns import NetnsFactory, run

pytestmark = [pytest.mark.netns, pytest.mark.timeout(180)]

CIDR = "10.244.7.0/24"


@dataclass
class Node:
    name: str
    netns: str
    host_ip: str
    node_ip: str
    client: Client
    proc: subprocess.Popen[bytes]
    log: Path


def kubelet_argv(name: str, netns: str, root: Path, *, api: str, node_ip: str) -> list[str]:
    return [
        "nsenter", f"--net=/run/netns/{netns}",
        sys.executable, "-m", "node_agent.kubelet",
        "--node-name", name,
        "--root-dir", str(root),
        "--pod-cidr", CIDR,
        "--node-ip", node_ip,
        "--netns-prefix", f"{name}-p-",
        "--cgroup-parent", f"kubelab-{name}",
        "--kubeconfig", str(root.parent / "pki" / "admin.kubeconfig"),
        "--apiserver", api,
        "--node-labels", "node-role.kubernetes.io/worker=,zone=a",
        "--register-with-taints", "dedicated=lab:PreferNoSchedule",
        "--sync-frequency", "0.5",
        "--node-status-update-frequency", "1",
        "--node-lease-renew-interval", "1",
        "--port", "0",
    ]  # fmt: skip


@contextmanager
def node_with_apiserver(
    netns: NetnsFactory, tmp_path: Path, extra_argv: Sequence[str] = ()
) -> Iterator[tuple[Node, Apiserver]]:
    """A node namespace joined to the host by a link-local veth pair, an apiserver (over a
    real etcd) on the host end, and a kubelet in the namespace driven by it; all removed after."""
    name = netns.tag
    ns = netns("node")
    octet = 100 + secrets.randbelow(100)
    host_ip, node_ip = f"169.254.{octet}.1", f"169.254.{octet}.2"
    run("ip", "link", "add", f"{name}h", "type", "veth", "peer", "name", f"{name}n")
    run("ip", "link", "set", f"{name}n", "netns", ns)
    run("ip", "addr", "add", f"{host_ip}/30", "dev", f"{name}h")
    run("ip", "link", "set", f"{name}h", "up")
    run("ip", "-n", ns, "addr", "add", f"{node_ip}/30", "dev", f"{name}n")
    run("ip", "-n", ns, "link", "set", f"{name}n", "up")
    with run_store("etcd", tmp_path / "etcd") as store:
        server = Apiserver(
            ApiserverConfig(
                etcd_servers=tuple(store.endpoints),
                cert_dir=tmp_path / "pki",
                bind_address=host_ip,
                secure_port=0,
                grpc_port=0,
                tls_sans=(host_ip,),
                bookmark_interval=0.5,
            )
        )
        server.start()
        api = f"{host_ip}:{server.grpc_port}"
        client = Client.from_cert_dir(tmp_path / "pki", [api])
        argv = [*kubelet_argv(name, ns, tmp_path / "root", api=api, node_ip=node_ip), *extra_argv]
        log = tmp_path / "kubelet.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield Node(name, ns, host_ip, node_ip, client, proc, log), server
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            subprocess.run([*argv, "--cleanup"], capture_output=True, timeout=60)
            client.close()
            server.stop()


@pytest.fixture
def node(netns: NetnsFactory, tmp_path: Path) -> Iterator[Node]:
    with node_with_apiserver(netns, tmp_path) as (n, _server):
        yield n


def get_pod(n: Node, name: str) -> dict[str, Any] | None:
    try:
        return n.client.get(PODS, name, namespace="default")
    except NotFound:
        return None


def phase(n: Node, name: str, want: str) -> dict[str, Any] | None:
    got = get_pod(n, name)
    return got if got is not None and got.get("status", {}).get("phase") == want else None


def test_pod_from_the_api_runs_and_is_removed(node: Node) -> None:
    n = node
    registered = wait_until(lambda: n.client.get(NODES, n.name), 30, message="node registered")
    labels = registered["metadata"]["labels"]
    assert labels["node-role.kubernetes.io/worker"] == ""
    assert labels["zone"] == "a"
    assert registered["spec"]["podCIDR"] == CIDR
    assert registered["spec"]["taints"] == [
        {"key": "dedicated", "value": "lab", "effect": "PreferNoSchedule"}
    ]
    assert {"type": "InternalIP", "address": n.node_ip} in registered["status"]["addresses"]
    ready = {c["type"]: c["status"] for c in registered["status"]["conditions"]}
    assert ready["Ready"] == "True"
    lease = wait_until(lambda: n.client.get(LEASES, n.name, namespace="kube-node-lease"), 20)
    assert lease["spec"]["holderIdentity"] == n.name

    web = pod("web", agnhost(), nodeName=n.name)
    n.client.create(PODS, web, namespace="default")
    try:
        running = wait_until(lambda: phase(n, "web", "Running"), 60, message="web Running")
    except TimeoutError:
        raise AssertionError(n.log.read_text()[-4000:]) from None
    assert running is not None
    ip = running["status"]["podIP"]
    assert IPv4Address(ip) in IPv4Network(CIDR)
    assert running["status"]["hostIP"] == n.node_ip
    fetch = f"import urllib.request as u; print(u.urlopen('http://{ip}:8080/hostname').read())"
    # Running means the process started; the server may take a moment to listen.
    answer = wait_until(
        lambda: run("ip", "netns", "exec", n.netns, "python3", "-c", fetch, check=False).stdout,
        20,
        interval=0.3,
        message="the pod answers on its IP",
    )
    assert answer.strip() == "b'web'"

    def started() -> list[dict[str, Any]]:
        items = n.client.list(EVENTS, namespace="default").items
        return [
            e for e in items if e["involvedObject"]["name"] == "web" and e["reason"] == "Started"
        ]

    assert wait_until(started, 20, message="Started event")[0]["source"]["host"] == n.name

    # Another node's pod CIDR becomes a route via its InternalIP.
    other = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": f"{n.name}-other"},
        "spec": {"podCIDR": "10.244.9.0/24"},
        "status": {"addresses": [{"type": "InternalIP", "address": n.host_ip}]},
    }
    n.client.create(NODES, other)
    wait_until(
        lambda: (
            f"via {n.host_ip}" in run("ip", "-n", n.netns, "route", "show", "10.244.9.0/24").stdout
        ),
        20,
        message="route to the other node's pod CIDR",
    )

    # Graceful deletion: the kubelet stops the pod, then removes the object.
    pod_ns = f"{n.name}-p-{running['metadata']['uid']}"
    n.client.delete(PODS, "web", namespace="default")
    wait_until(lambda: get_pod(n, "web") is None, 30, message="pod object removed")
    out = run("ip", "netns", "list").stdout
    assert pod_ns not in out
    assert n.proc.poll() is None
