"""Mirror pods against a real apiserver (over a real etcd): a kubelet with both
`--pod-manifest-path` and `--kubeconfig` runs its static pods and mirrors each one read-only
into the API: created with the mirror annotations and the Node as owner, given the static
pod's status, recreated when a user deletes it, replaced when the manifest changes, deleted
when the manifest goes. The real kubectl lists it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from controlplane.apiserver.server import Apiserver
from kubelab.client import NODES, PODS
from tests.integration.kubelet.harness import busybox, pod
from tests.integration.kubelet.test_with_apiserver import Node, get_pod, node_with_apiserver
from tests.support import wait_until
from tests.support.netns import NetnsFactory, run

pytestmark = [pytest.mark.netns, pytest.mark.timeout(180)]

MIRROR = "kubernetes.io/config.mirror"


@pytest.fixture
def node(netns: NetnsFactory, tmp_path: Path) -> Iterator[tuple[Node, Path, Apiserver]]:
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "web.yaml").write_text(
        yaml.safe_dump(pod("web", busybox("c", "sleep 3600"), terminationGracePeriodSeconds=0))
    )
    extra = ["--pod-manifest-path", str(manifests), "--file-check-frequency", "0.2"]
    with node_with_apiserver(netns, tmp_path, extra) as (n, server):
        yield n, manifests, server


def running_mirror(n: Node, name: str, not_uid: str = "") -> dict[str, Any] | None:
    got = get_pod(n, name)
    if got is None or got["metadata"]["uid"] == not_uid:
        return None
    status = got.get("status") or {}
    ok = status.get("phase") == "Running" and status.get("podIP")
    return got if ok and MIRROR in got["metadata"].get("annotations", {}) else None


def pod_namespaces(n: Node) -> list[str]:
    out = run("ip", "netns", "list").stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(f"{n.name}-p-")]


def test_static_pod_is_mirrored_into_the_api(node: tuple[Node, Path, Apiserver]) -> None:
    n, manifests, server = node
    name = f"web-{n.name}"
    try:
        mirror = wait_until(lambda: running_mirror(n, name), 60, message="mirror Running")
    except TimeoutError:
        raise AssertionError(n.log.read_text()[-4000:]) from None
    assert mirror is not None
    meta = mirror["metadata"]
    annotations = meta["annotations"]
    assert annotations["kubernetes.io/config.source"] == "file"
    assert annotations[MIRROR] == annotations["kubernetes.io/config.hash"]
    owner = n.client.get(NODES, n.name)
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "v1",
            "kind": "Node",
            "name": n.name,
            "uid": owner["metadata"]["uid"],
            "controller": True,
        }
    ]
    assert mirror["spec"]["nodeName"] == n.name
    ip = mirror["status"]["podIP"]
    container_id = mirror["status"]["containerStatuses"][0]["containerID"]
    # The kubelet runs the static pod once, not its mirror as a second pod.
    assert pod_namespaces(n) == [f"{n.name}-p-{annotations['kubernetes.io/config.hash']}"]

    kubectl = shutil.which("kubectl")
    if kubectl is not None:
        assert server.pki is not None
        env = {**os.environ, "KUBECONFIG": str(server.pki.admin_kubeconfig)}
        env["HOME"] = str(manifests.parent)
        out = subprocess.run(
            [kubectl, "get", "pods", "-A", "-o", "wide", "--server",
             f"https://{n.host_ip}:{server.rest_port}"],
            capture_output=True, text=True, env=env, timeout=30, check=True,
        ).stdout  # fmt: skip
        assert name in out
        assert "Running" in out
        assert ip in out

    # A user deletes the mirror: it comes back (new uid) with the same running pod's status.
    n.client.delete(PODS, name, namespace="default")
    again = wait_until(
        lambda: running_mirror(n, name, not_uid=meta["uid"]), 30, message="mirror recreated"
    )
    assert again is not None
    assert again["status"]["podIP"] == ip
    assert again["status"]["containerStatuses"][0]["containerID"] == container_id

    # The manifest changes: the mirror is replaced by one with the new hash.
    doc = pod("web", busybox("c", "sleep 3601"), terminationGracePeriodSeconds=0)
    (manifests / "web.yaml").write_text(yaml.safe_dump(doc))

    again_uid = again["metadata"]["uid"]

    def replaced() -> dict[str, Any] | None:
        got = running_mirror(n, name, not_uid=again_uid)
        changed = got and got["metadata"]["annotations"][MIRROR] != annotations[MIRROR]
        cmd = got and got["spec"]["containers"][0]["command"]
        return got if changed and cmd == ["sh", "-c", "sleep 3601"] else None

    new = wait_until(replaced, 60, message="mirror replaced after the manifest changed")
    assert new is not None
    new_hash = new["metadata"]["annotations"]["kubernetes.io/config.hash"]
    assert new["metadata"]["annotations"][MIRROR] == new_hash
    wait_until(lambda: pod_namespaces(n) == [f"{n.name}-p-{new_hash}"], 30, message="old pod gone")

    # The manifest goes: so do the mirror and the pod.
    (manifests / "web.yaml").unlink()
    wait_until(lambda: get_pod(n, name) is None, 30, message="mirror deleted")
    wait_until(lambda: pod_namespaces(n) == [], 30, message="static pod removed")
    assert n.proc.poll() is None
