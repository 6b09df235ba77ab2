"""Pods get their own namespace and IP on the node bridge; they talk over IPs and localhost."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.kubelet.harness import CIDR, KubeletHarness, agnhost, busybox, pod
from tests.support import wait_until

pytestmark = [pytest.mark.netns, pytest.mark.timeout(120)]


def test_two_pods_talk_over_their_ips(kubelet: KubeletHarness) -> None:
    kubelet.apply(pod("server", agnhost()))
    kubelet.apply(pod("client", busybox("c", "sleep 3600")))
    server = kubelet.wait_ready("server")
    client = kubelet.wait_phase("client", "Running")
    assert server["podIP"].startswith(CIDR.rsplit(".", 2)[0])
    assert server["podIP"] != client["podIP"]
    # eth0 inside the pod holds the IP; the default route goes via the bridge.
    addr = kubelet.in_pod("server", "ip", "-o", "-4", "addr", "show", "eth0").stdout
    assert server["podIP"] in addr
    route = kubelet.in_pod("client", "ip", "route", "show", "default").stdout
    assert "via 10.244.7.1" in route

    def hostname() -> str:
        out = kubelet.in_pod(
            "client", "busybox", "wget", "-qO-", f"http://{server['podIP']}:8080/hostname"
        )
        return out.stdout

    assert wait_until(hostname, 10) == f"server-{kubelet.tag}"


def test_containers_of_a_pod_share_localhost(kubelet: KubeletHarness) -> None:
    script = "until wget -qO- http://127.0.0.1:8080/echo?msg=hi; do sleep 0.2; done; sleep 3600"
    kubelet.apply(pod("duo", agnhost(), busybox("side", script)))
    kubelet.wait_phase("duo", "Running")
    assert wait_until(lambda: "hi" in kubelet.logs("duo", "side"), 15)


def test_pod_identity_files_env_and_volumes(kubelet: KubeletHarness) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings"},
        "data": {"GREETING": "hello", "app.conf": "mode=fast"},
    }
    scratch = f"/tmp/{kubelet.tag}-scratch"  # a mount point the pod must create (and remove)
    script = (
        "echo host=$(hostname); echo greet=$GREETING; echo me=$ME; echo uid=$(id -u); "
        "cat /etc/resolv.conf /etc/hosts; echo conf=$(cat /config/app.conf); "
        "touch /config/x 2>/dev/null && echo cfg-writable || echo cfg-readonly; "
        f"echo data > {scratch}/f && echo wrote=$(cat {scratch}/f); "
        "echo procs=$(ls /proc | grep -c '^[0-9]'); echo END; sleep 3600"
    )
    container = busybox(
        "c",
        script,
        envFrom=[{"configMapRef": {"name": "settings"}}],
        env=[{"name": "ME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
        securityContext={"runAsUser": 65534, "runAsGroup": 65534},
        volumeMounts=[
            {"name": "cfg", "mountPath": "/config"},
            {"name": "scratch", "mountPath": scratch},
        ],
    )
    volumes = [
        {"name": "cfg", "configMap": {"name": "settings"}},
        {"name": "scratch", "emptyDir": {}},
    ]
    kubelet.apply(pod("ident", container, volumes=volumes), config, file="ident")
    kubelet.wait_phase("ident", "Running")

    def output() -> str:
        text = kubelet.logs("ident", "c")
        return text if "END" in text else ""

    out = wait_until(output, 15)
    assert f"host=ident-{kubelet.tag}" in out
    assert "greet=hello" in out
    assert f"me=ident-{kubelet.tag}" in out
    assert "uid=65534" in out
    assert "nameserver 127.0.0.1" in out
    assert "timeout:1" in out
    assert f"ident-{kubelet.tag}" in out.split("nameserver")[1]  # /etc/hosts names the pod
    assert "conf=mode=fast" in out
    assert "cfg-readonly" in out
    assert "wrote=data" in out
    procs = int(out.split("procs=")[1].split()[0])
    assert procs < 10  # its own PID namespace: sh, its subshell, ls, grep
    assert not (Path("/config") / "x").exists()
    kubelet.delete("ident")
    wait_until(lambda: kubelet.pod("ident") is None, 20)
    assert not Path(scratch).exists()  # the mount point the pod created is gone again


def test_tutorial_images_nginx_and_python(kubelet: KubeletHarness) -> None:
    kubelet.apply(
        pod("nginx", {"name": "nginx", "image": "nginx:1.25", "ports": [{"containerPort": 80}]})
    )
    script = {"name": "py", "image": "python:3.12", "command": ["python3", "-c", "print(6 * 7)"]}
    kubelet.apply(pod("py", script, restartPolicy="Never"))
    ip = kubelet.wait_phase("nginx", "Running")["podIP"]

    def page() -> str:
        return kubelet.in_node("busybox", "wget", "-qO-", f"http://{ip}/").stdout

    assert "Welcome to nginx!" in wait_until(page, 15)
    kubelet.wait_phase("py", "Succeeded")
    assert kubelet.logs("py", "py") == "42\n"
