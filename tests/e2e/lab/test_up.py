"""`kubelab up --control-planes 1 --nodes 2` end to end, driven with the real kubectl.

One lab per store (Debian's etcd, kubelab's kvstore), each with a unique short name, its own
state root (`$KUBELAB_ROOT`), its own kubeconfig file (the user's ~/.kube/config is never
touched) and a LAN no address of the host is in. Nodes are Ready with roles and internal IPs;
pods pinned to each worker run and talk over TCP by pod IP across the nodes; only tolerating
pods land on the tainted control plane; a pod too large for any node stays Pending with a
FailedScheduling event; `kubelab down` leaves no namespace, link, process, file or context.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml

from tests.support import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.netns, pytest.mark.slow, pytest.mark.timeout(420)]

KUBELAB = [str(Path(sys.executable).parent / "kubelab")]
AGNHOST = "registry.k8s.io/e2e-test-images/agnhost:2.39"


def free_lan() -> str:
    used = subprocess.run(["ip", "-o", "-4", "addr"], capture_output=True, text=True).stdout
    for _ in range(50):
        third = 16 + secrets.randbelow(230)
        if f" 10.252.{third}." not in used:
            return f"10.252.{third}.0/24"
    raise RuntimeError("no free 10.252.x.0/24 LAN on this host")


@dataclass
class Lab:
    name: str
    root: Path
    kubeconfig: Path
    lan_prefix: str
    home: Path
    pod_pids: list[psutil.Process] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(self.home),
            "KUBELAB_ROOT": str(self.root),
            "KUBECONFIG": str(self.kubeconfig),
        }

    def kubelab(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*KUBELAB, *args], capture_output=True, text=True, env=self.env(), timeout=timeout
        )

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["kubectl", "--kubeconfig", str(self.kubeconfig), "--request-timeout=20s", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=40,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)}: {done.stderr.strip()}")
        return done

    def apply(self, *objects: dict[str, Any]) -> None:
        self.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(objects))

    def pod(self, name: str) -> dict[str, Any]:
        got: dict[str, Any] = json.loads(self.kubectl("get", "pod", name, "-o", "json").stdout)
        return got

    def wait_phase(self, name: str, phase: str, timeout: float = 60) -> dict[str, Any]:
        def reached() -> dict[str, Any]:
            pod = self.pod(name)
            return pod if pod.get("status", {}).get("phase") == phase else {}

        try:
            return wait_until(reached, timeout, interval=0.5, message=f"pod {name} {phase}")
        except TimeoutError as exc:
            raise AssertionError(f"{exc}: {self.pod(name).get('status')}") from None

    def logs(self, tail: int = 1500) -> str:
        """The end of every process log of the lab (for failure messages)."""
        out = []
        for path in sorted((self.root / self.name / "logs").glob("*/*.log")):
            out.append(f"\n--- {path.parent.name}/{path.name}\n{path.read_text()[-tail:]}")
        return "".join(out)

    def netns(self) -> list[str]:
        out = subprocess.run(["ip", "-o", "netns", "list"], capture_output=True, text=True).stdout
        return [ln.split()[0] for ln in out.splitlines() if ln.startswith(f"{self.name}-")]

    def links(self) -> list[str]:
        out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
        names = [ln.split(":", 2)[1].strip().split("@")[0] for ln in out.splitlines()]
        return [n for n in names if n.startswith(self.name)]


def pinned(name: str, node: str, container: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "nodeSelector": {"kubernetes.io/hostname": node},
            "terminationGracePeriodSeconds": 2,
            "containers": [container],
            **spec,
        },
    }


@pytest.fixture(scope="module", params=["etcd", "kvstore"])
def lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    store = str(request.param)
    if shutil.which("kubectl") is None:
        pytest.skip("needs kubectl")
    if store == "etcd" and shutil.which("etcd") is None:
        pytest.skip("needs etcd (Debian etcd-server)")
    base = tmp_path_factory.mktemp("lab")
    (base / "home").mkdir()
    lan = free_lan()
    lab = Lab(
        name=f"e{secrets.token_hex(3)[:5]}",
        root=base / "root",
        kubeconfig=base / "kubeconfig",
        lan_prefix=lan.rsplit(".", 1)[0] + ".",
        home=base / "home",
    )
    up = lab.kubelab(
        "up", "--name", lab.name, "--control-planes", "1", "--nodes", "2",
        "--store", store, "--fast", "--lan", lan, "--kubeconfig", str(lab.kubeconfig),
        "--wait", "90",
    )  # fmt: skip
    try:
        assert up.returncode == 0, f"kubelab up failed:\n{up.stdout}\n{up.stderr}{lab.logs()}"
        yield lab
    finally:
        lab.kubelab("down", "--name", lab.name, "--kubeconfig", str(lab.kubeconfig))
        for proc in lab.pod_pids:  # only if a test failed before checking down
            if proc.is_running():
                proc.kill()


def test_nodes_ready_with_roles_and_internal_ips(lab: Lab) -> None:
    out = lab.kubectl("get", "nodes", "-o", "wide", "--no-headers").stdout
    rows = {cols[0]: cols for cols in (line.split() for line in out.splitlines())}
    assert sorted(rows) == ["cp-1", "node-1", "node-2"]
    assert all(cols[1] == "Ready" for cols in rows.values()), out
    assert rows["cp-1"][2] == "control-plane"
    assert rows["node-1"][2] == rows["node-2"][2] == "<none>"
    ips = {name: cols[5] for name, cols in rows.items()}
    assert ips == {
        "cp-1": f"{lab.lan_prefix}10",
        "node-1": f"{lab.lan_prefix}20",
        "node-2": f"{lab.lan_prefix}21",
    }
    node = json.loads(lab.kubectl("get", "node", "cp-1", "-o", "json").stdout)
    assert {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"} in node["spec"][
        "taints"
    ]


def test_pinned_pods_talk_across_nodes_over_tcp(lab: Lab) -> None:
    server = {"name": "web", "image": AGNHOST, "args": ["netexec", "--http-port=8080"]}
    lab.apply(pinned("web-1", "node-1", server), pinned("web-2", "node-2", server))
    web1 = lab.wait_phase("web-1", "Running")
    web2 = lab.wait_phase("web-2", "Running")
    assert (web1["spec"]["nodeName"], web2["spec"]["nodeName"]) == ("node-1", "node-2")
    ip1, ip2 = web1["status"]["podIP"], web2["status"]["podIP"]
    assert ip1 != ip2
    # A client on node 1 fetches web-2's hostname by pod IP; it succeeds only on the answer.
    # (Running means started: the server may need a moment to listen, so the client retries.)
    fetch = f"""
import sys, time, urllib.request as u
for _ in range(40):
    try:
        sys.exit(0 if u.urlopen('http://{ip2}:8080/hostname', timeout=5).read() == b'web-2' else 1)
    except OSError:
        time.sleep(0.5)
sys.exit(2)
"""
    client = {"name": "c", "image": "python", "command": ["python3", "-c", fetch]}
    lab.apply(pinned("client", "node-1", client, restartPolicy="Never"))
    done = lab.wait_phase("client", "Succeeded")
    assert done["status"]["podIP"].rsplit(".", 1)[0] == ip1.rsplit(".", 1)[0]  # node 1's subnet


def test_too_large_pod_stays_pending_with_failed_scheduling(lab: Lab) -> None:
    huge = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "huge"},
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "image": "busybox",
                    "command": ["sleep", "3600"],
                    "resources": {"requests": {"cpu": "500"}},
                }
            ]
        },
    }
    lab.apply(huge)

    def event() -> list[dict[str, Any]]:
        out = lab.kubectl(
            "get", "events", "-o", "json",
            "--field-selector", "involvedObject.name=huge,reason=FailedScheduling",
        ).stdout  # fmt: skip
        items: list[dict[str, Any]] = json.loads(out)["items"]
        return items

    events = wait_until(event, 30, interval=0.5, message="FailedScheduling event")
    message = events[0]["message"]
    assert message.startswith("0/3 nodes are available:"), message
    assert "2 Insufficient cpu" in message
    assert "1 node(s) had untolerated taint(s)" in message
    pod = lab.pod("huge")
    assert pod["status"]["phase"] == "Pending"
    assert not pod["spec"].get("nodeName")


def test_only_tolerating_pods_land_on_the_tainted_control_plane(lab: Lab) -> None:
    sleeper = {"name": "c", "image": "pause"}
    free = [
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"free-{i}"}, "spec": {
            "terminationGracePeriodSeconds": 0, "containers": [sleeper]}}
        for i in range(3)
    ]  # fmt: skip
    toleration = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}
    tolerant = pinned("tolerant", "cp-1", sleeper, tolerations=[toleration])
    lab.apply(*free, tolerant)
    assert lab.wait_phase("tolerant", "Running")["spec"]["nodeName"] == "cp-1"
    for i in range(3):
        assert lab.wait_phase(f"free-{i}", "Running")["spec"]["nodeName"] in ("node-1", "node-2")


def test_down_leaves_nothing(lab: Lab) -> None:
    assert lab.netns(), "the lab should be up before down"
    for ns in lab.netns():
        pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
        for pid in pids.stdout.split():
            try:
                lab.pod_pids.append(psutil.Process(int(pid)))
            except psutil.NoSuchProcess:
                continue
    assert lab.pod_pids
    down = lab.kubelab("down", "--name", lab.name, "--kubeconfig", str(lab.kubeconfig))
    assert down.returncode == 0, down.stderr
    assert lab.netns() == []
    assert lab.links() == []
    survivors = [p for p in lab.pod_pids if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert survivors == []
    assert not (lab.root / lab.name).exists()
    config = yaml.safe_load(lab.kubeconfig.read_text())
    assert f"kubelab-{lab.name}" not in json.dumps(config)
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    assert lab.name not in rules
