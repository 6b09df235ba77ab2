"""The real kubectl (1.32 and 1.33) against the apiserver over a real etcd."""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path

import pytest
import yaml

from controlplane.apiserver.server import Apiserver
from tests.e2e.kubectl.conftest import Kubectl
from tests.integration.apiserver.cluster import FakeKubelet, node_at
from tests.support import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

POD = """
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web, tier: frontend}
spec:
  containers:
  - name: nginx
    image: nginx:1.25
    ports:
    - containerPort: 80
"""
CONFIGMAP = """
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  mode: fast
"""


@pytest.fixture
def ns(kubectl: Kubectl) -> str:
    name = f"e2e-{secrets.token_hex(3)}"
    kubectl("create", "namespace", name)
    return name


def write(kubectl: Kubectl, name: str, text: str) -> Path:
    path = kubectl.workdir / name
    path.write_text(text)
    return path


def test_discovery_and_version(kubectl: Kubectl) -> None:
    resources = kubectl("api-resources")
    for line in ("pods", "po", "namespaces", "ns", "nodes", "configmaps", "cm", "leases"):
        assert line in resources
    assert "Server Version: v1.32" in kubectl("version")
    assert "default" in kubectl("get", "ns")
    kubectl.run("explain", "pods", check=False)  # a schema, or a clean "no schema"


def test_create_get_describe_delete_pod(kubectl: Kubectl, ns: str) -> None:
    path = write(kubectl, "pod.yaml", POD)
    assert "pod/web created" in kubectl("create", "-f", str(path), "-n", ns)
    table = kubectl("get", "pods", "-n", ns)
    assert table.split("\n")[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert "web" in table
    assert "Pending" in table
    wide = kubectl("get", "pods", "-n", ns, "-o", "wide").split("\n")[0]
    assert wide.split() == [
        "NAME",
        "READY",
        "STATUS",
        "RESTARTS",
        "AGE",
        "IP",
        "NODE",
        "NOMINATED",
        "NODE",
        "READINESS",
        "GATES",
    ]
    obj = yaml.safe_load(kubectl("get", "pod", "web", "-n", ns, "-o", "yaml"))
    assert obj["spec"]["restartPolicy"] == "Always"
    assert obj["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    obj = json.loads(kubectl("get", "po", "web", "-n", ns, "-o", "json"))
    assert obj["metadata"]["uid"]
    assert kubectl("get", "pods", "-n", ns, "-o", "name").strip() == "pod/web"
    image = kubectl("get", "pod", "web", "-n", ns, "-o", "jsonpath={.spec.containers[0].image}")
    assert image == "nginx:1.25"
    assert "web" in kubectl("get", "pods", "-n", ns, "-l", "tier in (frontend)")
    assert "No resources found" in kubectl.run("get", "pods", "-n", ns, "-l", "app=db").stderr
    assert "web" in kubectl("get", "pods", "-A", "--field-selector", "status.phase=Pending")
    assert ns in kubectl("get", "pods", "-A")
    described = kubectl("describe", "pod", "web", "-n", ns)
    assert "nginx:1.25" in described
    assert "Tolerations" in described
    assert 'pod "web" deleted' in kubectl("delete", "pod", "web", "-n", ns)
    assert "NotFound" in kubectl.run("get", "pod", "web", "-n", ns, check=False).stderr


def test_apply_twice_is_unchanged(kubectl: Kubectl, ns: str) -> None:
    path = write(kubectl, "cm.yaml", CONFIGMAP)
    assert "configmap/settings created" in kubectl("apply", "-f", str(path), "-n", ns)
    assert "configmap/settings unchanged" in kubectl("apply", "-f", str(path), "-n", ns)
    write(kubectl, "cm.yaml", CONFIGMAP.replace("fast", "slow"))
    assert "configmap/settings configured" in kubectl("apply", "-f", str(path), "-n", ns)
    data = json.loads(kubectl("get", "cm", "settings", "-n", ns, "-o", "json"))
    assert data["data"] == {"mode": "slow"}
    assert "kubectl.kubernetes.io/last-applied-configuration" in data["metadata"]["annotations"]


def test_label_annotate_and_patch_three_ways(kubectl: Kubectl, ns: str) -> None:
    kubectl("create", "-f", str(write(kubectl, "pod.yaml", POD)), "-n", ns)
    kubectl("label", "pod", "web", "team=blue", "-n", ns)
    kubectl("annotate", "pod", "web", "note=hello", "-n", ns)
    kubectl(
        "patch",
        "pod",
        "web",
        "-n",
        ns,
        "-p",
        '{"spec":{"containers":[{"name":"nginx","image":"nginx:1.26"}]}}',
    )
    kubectl(
        "patch", "pod", "web", "-n", ns, "--type=merge", "-p", '{"metadata":{"labels":{"m":"1"}}}'
    )
    kubectl(
        "patch",
        "pod",
        "web",
        "-n",
        ns,
        "--type=json",
        "-p",
        '[{"op":"add","path":"/metadata/labels/j","value":"2"}]',
    )
    pod = json.loads(kubectl("get", "pod", "web", "-n", ns, "-o", "json"))
    assert pod["metadata"]["labels"] == {
        "app": "web",
        "tier": "frontend",
        "team": "blue",
        "m": "1",
        "j": "2",
    }
    assert pod["metadata"]["annotations"]["note"] == "hello"
    assert pod["spec"]["containers"][0]["image"] == "nginx:1.26"
    assert pod["spec"]["containers"][0]["ports"][0]["containerPort"] == 80


def test_edit_with_a_non_interactive_editor(kubectl: Kubectl, ns: str) -> None:
    kubectl("create", "-f", str(write(kubectl, "cm.yaml", CONFIGMAP)), "-n", ns)
    editor = write(kubectl, "editor.sh", "#!/bin/sh\nsed -i 's/mode: fast/mode: edited/' \"$1\"\n")
    editor.chmod(0o755)
    out = kubectl("edit", "cm", "settings", "-n", ns, env={"EDITOR": str(editor)})
    assert "configmap/settings edited" in out
    assert kubectl("get", "cm", "settings", "-n", ns, "-o", "jsonpath={.data.mode}") == "edited"


def test_bad_manifest_errors_name_the_field(kubectl: Kubectl, ns: str) -> None:
    bad = POD.replace("name: web", "name: Web_1").replace(
        "containerPort: 80", "containerPort: 70000"
    )
    bad = bad.replace("image: nginx:1.25", "image: nginx:1.25\n    imagee: typo")
    proc = kubectl.run("create", "-f", str(write(kubectl, "bad.yaml", bad)), "-n", ns, check=False)
    assert proc.returncode != 0
    for field in ("metadata.name", "spec.containers[0].ports[0].containerPort", "imagee"):
        assert field in proc.stderr, proc.stderr


def test_dry_run_server(kubectl: Kubectl, ns: str) -> None:
    path = write(kubectl, "cm.yaml", CONFIGMAP)
    assert "(server dry run)" in kubectl("create", "-f", str(path), "-n", ns, "--dry-run=server")
    assert "NotFound" in kubectl.run("get", "cm", "settings", "-n", ns, check=False).stderr


def test_get_watch_streams_changes(kubectl: Kubectl, ns: str) -> None:
    kubectl("create", "configmap", "w1", "-n", ns)
    proc = subprocess.Popen(
        [kubectl.binary, "get", "cm", "-n", ns, "-w", "--request-timeout=20s"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"KUBECONFIG": str(kubectl.kubeconfig), "HOME": str(kubectl.workdir)},
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []

        def line_with(name: str, count: int) -> bool:
            lines.append(proc.stdout.readline())  # type: ignore[union-attr]
            return sum(name in ln for ln in lines) >= count

        # The initial list comes first; the watch then starts from the list's resourceVersion,
        # so changes made from now on are streamed even if the watch request is still in flight.
        wait_until(lambda: line_with("w1", 1), 20, interval=0)
        kubectl("create", "configmap", "w2", "-n", ns)
        kubectl("label", "cm", "w2", "x=y", "-n", ns)
        wait_until(lambda: line_with("w2", 2), 20, interval=0)
    finally:
        proc.kill()
        proc.wait(5)


def test_delete_with_propagation_policy_and_namespaces(kubectl: Kubectl, ns: str) -> None:
    kubectl("create", "configmap", "gone", "-n", ns)
    assert "deleted" in kubectl("delete", "cm", "gone", "-n", ns, "--cascade=foreground")
    kubectl("create", "configmap", "orphan", "-n", ns)
    assert "deleted" in kubectl("delete", "cm", "orphan", "-n", ns, "--cascade=orphan")
    assert "deleted" in kubectl("delete", "namespace", ns, timeout=60)


def test_describe_lists_events_of_the_object(kubectl: Kubectl, ns: str) -> None:
    kubectl("create", "-f", str(write(kubectl, "pod.yaml", POD)), "-n", ns)
    uid = kubectl("get", "pod", "web", "-n", ns, "-o", "jsonpath={.metadata.uid}")
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "web.1"},
        "involvedObject": {
            "kind": "Pod",
            "name": "web",
            "namespace": ns,
            "uid": uid,
            "apiVersion": "v1",
        },
        "reason": "Scheduled",
        "message": "Successfully assigned web to node-1",
        "type": "Normal",
        "source": {"component": "default-scheduler"},
        "firstTimestamp": "2026-01-01T00:00:00Z",
        "lastTimestamp": "2026-01-01T00:00:00Z",
    }
    kubectl("create", "-f", "-", "-n", ns, stdin=json.dumps(event))
    described = kubectl("describe", "pod", "web", "-n", ns)
    assert "Successfully assigned web to node-1" in described
    assert "Scheduled" in kubectl("get", "events", "-n", ns)


def test_logs_through_the_kubelet(kubectl: Kubectl, apiserver: Apiserver, ns: str) -> None:
    assert apiserver.pki is not None
    node = f"node-{secrets.token_hex(2)}"
    kubelet = FakeKubelet(apiserver.pki.dir, {f"{ns}/web/nginx": "hello from nginx\n"})
    try:
        nodes = write(kubectl, "node.json", json.dumps(node_at(node, kubelet.port)))
        kubectl("create", "-f", str(nodes))
        kubectl("create", "-f", str(write(kubectl, "pod.yaml", POD)), "-n", ns)
        kubectl(
            "patch",
            "pod",
            "web",
            "-n",
            ns,
            "--subresource=status",
            "--type=merge",
            "-p",
            '{"status":{"phase":"Running"}}',
        )
        no_host = kubectl.run("logs", "web", "-n", ns, check=False)
        assert "does not have a host assigned" in no_host.stderr
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": "web"},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        }
        path = write(kubectl, "binding.json", json.dumps(binding))
        kubectl("create", "--raw", f"/api/v1/namespaces/{ns}/pods/web/binding", "-f", str(path))
        assert kubectl("get", "pod", "web", "-n", ns, "-o", "jsonpath={.spec.nodeName}") == node
        assert kubectl("logs", "web", "-n", ns) == "hello from nginx\n"
    finally:
        kubelet.stop()
        kubectl.run("delete", "node", node, check=False)


def test_server_side_apply_creates_then_merges(kubectl: Kubectl, ns: str) -> None:
    path = write(kubectl, "ssa.yaml", CONFIGMAP)
    assert "serverside-applied" in kubectl("apply", "--server-side", "-f", str(path), "-n", ns)
    write(kubectl, "ssa.yaml", CONFIGMAP.replace("mode: fast", "mode: slow\n  extra: x"))
    assert "serverside-applied" in kubectl("apply", "--server-side", "-f", str(path), "-n", ns)
    data = json.loads(kubectl("get", "cm", "settings", "-n", ns, "-o", "json"))["data"]
    assert data == {"mode": "slow", "extra": "x"}
