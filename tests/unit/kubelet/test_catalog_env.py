from __future__ import annotations

import base64
import sys
from pathlib import Path
from typing import Any

import pytest

from node_agent.images import catalog
from node_agent.kubelet.env import resolve_env
from node_agent.kubelet.errors import ConfigError
from node_agent.kubelet.static import static_pod
from tests.unit.kubelet.factories import pod


@pytest.mark.parametrize(
    ("image", "name"),
    [
        ("busybox", "busybox"),
        ("busybox:1.36", "busybox"),
        ("docker.io/library/busybox:latest", "busybox"),
        ("registry.k8s.io/e2e-test-images/agnhost:2.39", "e2e-test-images/agnhost"),
        ("localhost:5000/nginx@sha256:abc", "nginx"),
        ("kubelab/dns", "kubelab/dns"),
    ],
)
def test_resolve_name(image: str, name: str) -> None:
    assert catalog.resolve_name(image) == name


def test_lookup_known_and_unknown() -> None:
    agn = catalog.lookup("registry.k8s.io/e2e-test-images/agnhost:2.39")
    assert agn is not None
    assert agn.name == "agnhost"
    assert catalog.lookup("mysql:8") is None
    assert "busybox" in catalog.known_images()


def test_a_command_runs_from_its_executable_and_what_it_links_to(tmp_path: Any) -> None:
    (tmp_path / "bin").mkdir()
    real = tmp_path / "real-sh"
    real.write_text("")
    real.chmod(0o755)
    (tmp_path / "bin" / "sh").symlink_to(real)
    path = f"{tmp_path / 'bin'}:/usr/bin"
    assert catalog.runs_from(["sh", "-c", "true"], path) == [str(tmp_path / "bin/sh"), str(real)]
    assert catalog.runs_from(["no-such-command"], path) == []
    assert catalog.runs_from([], path) == []


def test_the_catalogs_own_images_run_from_this_python_and_the_project() -> None:
    image = catalog.lookup("agnhost")
    assert image is not None
    needed = catalog.runs_from(catalog.argv(image, None, None), catalog.HOST_PATH)
    assert sys.base_prefix in needed
    assert catalog.PROJECT_ROOT in needed
    assert Path(catalog.PROJECT_ROOT, "node_agent", "images", "agnhost.py").exists()


def test_command_and_args_override_like_docker() -> None:
    img = catalog.Image("x", entrypoint=("ep",), cmd=("c1", "c2"))
    assert catalog.argv(img, None, None) == ["ep", "c1", "c2"]
    assert catalog.argv(img, None, ["a"]) == ["ep", "a"]
    assert catalog.argv(img, ["cmd"], None) == ["cmd"]
    assert catalog.argv(img, ["cmd"], ["a"]) == ["cmd", "a"]


class Lookup:
    def __init__(self, *objs: dict[str, Any]) -> None:
        self.objs = {(o["kind"], "default", o["metadata"]["name"]): o for o in objs}

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objs.get((kind, namespace, name))


def test_env_order_refs_and_expansion() -> None:
    cm = {"kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"MODE": "fast", "X": "1"}}
    secret = {
        "kind": "Secret",
        "metadata": {"name": "s"},
        "data": {"pw": base64.b64encode(b"hunter2").decode()},
    }
    spec = pod(
        {
            "name": "c",
            "image": "busybox",
            "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"}],
            "env": [
                {"name": "X", "value": "plain"},
                {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "s", "key": "pw"}}},
                {"name": "ME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "URL", "value": "http://$(IP):80/$$x"},
            ],
        }
    )
    env = resolve_env(
        spec,
        spec.containers[0],
        {"PATH": "/bin"},
        Lookup(cm, secret),
        pod_ip="10.0.0.5",
        host_ip="",
    )
    assert env["CFG_MODE"] == "fast"
    assert env["X"] == "plain"
    assert env["PW"] == "hunter2"
    assert env["ME"] == "p"
    assert env["URL"] == "http://10.0.0.5:80/$x"
    assert env["PATH"] == "/bin"


def test_missing_config_map_is_a_config_error_unless_optional() -> None:
    ref: dict[str, Any] = {"configMapKeyRef": {"name": "none", "key": "k"}}
    spec = pod({"name": "c", "image": "busybox", "env": [{"name": "A", "valueFrom": ref}]})
    with pytest.raises(ConfigError, match='configmap "none" not found'):
        resolve_env(spec, spec.containers[0], {}, Lookup(), pod_ip="", host_ip="")
    ref = {"configMapKeyRef": {"name": "none", "key": "k", "optional": True}}
    spec = pod({"name": "c", "image": "busybox", "env": [{"name": "A", "valueFrom": ref}]})
    assert "A" not in resolve_env(spec, spec.containers[0], {}, Lookup(), pod_ip="", host_ip="")


def test_static_pod_is_renamed_bound_and_has_a_stable_uid() -> None:
    doc = {"kind": "Pod", "metadata": {"name": "web"}, "spec": {"containers": []}}
    a = static_pod(doc, "node1", "web.yaml")
    b = static_pod(doc, "node1", "web.yaml")
    c = static_pod({**doc, "spec": {"containers": [{"name": "x"}]}}, "node1", "web.yaml")
    assert a["metadata"]["name"] == "web-node1"
    assert a["spec"]["nodeName"] == "node1"
    assert a["metadata"]["uid"] == b["metadata"]["uid"] != c["metadata"]["uid"]
    assert a["metadata"]["annotations"]["kubernetes.io/config.source"] == "file"
