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
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.lab.support import AGNHOST, Lab, pinned, running_lab
from tests.support import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.netns, pytest.mark.slow, pytest.mark.timeout(420)]


@pytest.fixture(scope="module", params=["etcd", "kvstore"])
def lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    store = str(request.param)
    if shutil.which("kubectl") is None:
        pytest.skip("needs kubectl")
    if store == "etcd" and shutil.which("etcd") is None:
        pytest.skip("needs etcd (Debian etcd-server)")
    with running_lab(tmp_path_factory, tag="e", control_planes=1, nodes=2, store=store) as (
        lab,
        _lan,
    ):
        yield lab


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


def test_name_lookups_are_refused_at_once_while_the_lab_has_no_dns(lab: Lab) -> None:
    # Every nameserver of the pod's resolv.conf must refuse a DNS query (ICMP port
    # unreachable) rather than leave it unanswered: an unanswered one makes every lookup wait
    # out the resolver's timeouts (5 s per try and search domain). Exit codes: 0 refused
    # everywhere and getaddrinfo failed, 1 a server timed out, 2 a name resolved.
    probe = """
import socket, struct, sys
servers = [l.split()[1] for l in open('/etc/resolv.conf') if l.startswith('nameserver')]
print('nameservers', servers)
header = struct.pack('>HHHHHH', 0x1234, 0x0100, 1, 0, 0, 0)  # one question, recursion
query = header + b'\\x07example\\x00' + struct.pack('>HH', 1, 1)  # example. A IN
for server in servers:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(8)
    s.connect((server, 53))
    s.send(query)
    try:
        s.recv(512)
        print('answered', server); sys.exit(2)
    except ConnectionRefusedError:
        print('refused', server)
    except socket.timeout:
        print('timed out', server); sys.exit(1)
try:
    socket.getaddrinfo('kubernetes.default', 443)
except socket.gaierror as exc:
    print('getaddrinfo failed', exc); sys.exit(0)
sys.exit(2)
"""
    c = {"name": "c", "image": "python", "command": ["python3", "-c", probe]}
    lab.apply(pinned("lookup", "node-1", c, restartPolicy="Never"))

    def ended() -> str:
        phase: str = lab.pod("lookup").get("status", {}).get("phase", "")
        return phase if phase in ("Succeeded", "Failed") else ""

    phase = wait_until(ended, 90, interval=0.5, message="pod lookup ended")
    out = lab.kubectl("logs", "lookup").stdout
    assert phase == "Succeeded", out
    assert "refused 127.0.0.1" in out, out
    assert "getaddrinfo failed" in out, out


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
    lab.down_and_check()
