from __future__ import annotations

from typing import Any

import pytest

from kubelab.api.lifecycle import prepare_create
from kubelab.api.registry import REGISTRY


def create(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    info = REGISTRY.by_resource(kind)
    assert info is not None
    out, _ = prepare_create(
        info,
        obj,
        namespace="default" if info.namespaced else "",
        uid="uid-1",
        now="2026-01-01T00:00:00Z",
    )
    return out


def test_pod_defaults_match_kubernetes() -> None:
    pod = create(
        "pods",
        {
            "metadata": {"name": "web"},
            "spec": {
                "containers": [
                    {
                        "name": "c",
                        "image": "nginx",
                        "ports": [{"containerPort": 80}],
                        "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
                    }
                ]
            },
        },
    )
    spec, c = pod["spec"], pod["spec"]["containers"][0]
    assert spec["restartPolicy"] == "Always"
    assert spec["terminationGracePeriodSeconds"] == 30
    assert spec["dnsPolicy"] == "ClusterFirst"
    assert spec["schedulerName"] == "default-scheduler"
    assert spec["serviceAccountName"] == "default"
    assert c["imagePullPolicy"] == "Always"
    assert c["terminationMessagePath"] == "/dev/termination-log"
    assert c["ports"][0]["protocol"] == "TCP"
    assert c["resources"]["requests"] == {"cpu": "1", "memory": "1Gi"}
    assert {t["key"] for t in spec["tolerations"]} == {
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    }
    assert pod["status"] == {"phase": "Pending", "qosClass": "Guaranteed"}


def test_pod_status_sent_on_create_is_replaced() -> None:
    pod = create(
        "pods",
        {
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "a"}]},
            "status": {"phase": "Running", "podIP": "10.0.0.1"},
        },
    )
    assert pod["status"] == {"phase": "Pending", "qosClass": "BestEffort"}
    meta = pod["metadata"]
    assert (meta["uid"], meta["creationTimestamp"], meta["generation"]) == (
        "uid-1",
        "2026-01-01T00:00:00Z",
        1,
    )
    assert meta["namespace"] == "default"


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("nginx", "Always"),
        ("nginx:latest", "Always"),
        ("nginx:1.25", "IfNotPresent"),
        ("reg:5000/app", "Always"),
        ("app@sha256:abc", "IfNotPresent"),
    ],
)
def test_image_pull_policy_default(image: str, policy: str) -> None:
    pod = create(
        "pods", {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": image}]}}
    )
    assert pod["spec"]["containers"][0]["imagePullPolicy"] == policy


def test_qos_classes() -> None:
    best = create(
        "pods", {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "a"}]}}
    )
    assert best["status"]["qosClass"] == "BestEffort"
    burst = create(
        "pods",
        {
            "metadata": {"name": "p"},
            "spec": {
                "containers": [
                    {"name": "c", "image": "a", "resources": {"requests": {"cpu": "100m"}}}
                ]
            },
        },
    )
    assert burst["status"]["qosClass"] == "Burstable"


def test_secret_string_data_is_encoded_into_data() -> None:
    secret = create("secrets", {"metadata": {"name": "s"}, "stringData": {"user": "admin"}})
    assert secret["data"] == {"user": "YWRtaW4="}
    assert "stringData" not in secret
    assert secret["type"] == "Opaque"


def test_namespace_defaults() -> None:
    ns = create("namespaces", {"metadata": {"name": "team-a"}})
    assert ns["status"]["phase"] == "Active"
    assert ns["spec"]["finalizers"] == ["kubernetes"]
    assert ns["metadata"]["labels"]["kubernetes.io/metadata.name"] == "team-a"
    assert "namespace" not in ns["metadata"]
