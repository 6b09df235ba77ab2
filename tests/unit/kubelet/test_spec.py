from __future__ import annotations

from typing import Any

import pytest

from node_agent.kubelet.errors import ManifestError
from node_agent.kubelet.spec import ExecAction, HTTPGetAction, RestartPolicy, parse_pod
from tests.unit.kubelet.factories import pod_dict


def test_parses_a_full_container() -> None:
    obj = pod_dict(
        {
            "name": "web",
            "image": "nginx:1.25",
            "command": ["nginx"],
            "args": ["-g", "daemon off;"],
            "env": [{"name": "A", "value": "1"}],
            "ports": [{"containerPort": 80, "name": "http"}],
            "livenessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 2},
            "readinessProbe": {"exec": {"command": ["true"]}, "successThreshold": 2},
            "resources": {"limits": {"memory": "64Mi", "cpu": "500m"}},
            "securityContext": {"runAsUser": 1000},
            "lifecycle": {"preStop": {"exec": {"command": ["sleep", "1"]}}},
        },
        restart="OnFailure",
        terminationGracePeriodSeconds=5,
    )
    pod = parse_pod(obj)
    c = pod.containers[0]
    assert pod.restart_policy is RestartPolicy.ON_FAILURE
    assert pod.grace_period == 5
    assert c.command == ("nginx",)
    assert c.args == ("-g", "daemon off;")
    assert isinstance(c.liveness and c.liveness.handler, HTTPGetAction)
    assert c.liveness is not None
    assert c.liveness.period == 2
    assert c.port_number("http") == 80
    assert c.readiness is not None
    assert c.readiness.success_threshold == 2
    assert c.memory_limit == 64 * 1024 * 1024
    assert c.cpu_limit_milli == 500
    assert c.run_as_user == 1000
    assert c.pre_stop == ExecAction(("sleep", "1"))


BAD: list[tuple[str, dict[str, Any], str]] = [
    ("no-containers", {"spec": {"containers": []}}, "spec.containers"),
    ("bad-policy", {"spec": {"restartPolicy": "Sometimes"}}, "spec.restartPolicy"),
    ("bad-name", {"metadata": {"name": "Bad_Name"}}, "metadata.name"),
    ("no-image", {"spec": {"containers": [{"name": "c"}]}}, "spec.containers[0].image"),
    (
        "bad-port",
        {"spec": {"containers": [{"name": "c", "image": "x", "ports": [{"containerPort": 0}]}]}},
        "spec.containers[0].ports[0].containerPort",
    ),
    (
        "two-handlers",
        {
            "spec": {
                "containers": [
                    {
                        "name": "c",
                        "image": "x",
                        "livenessProbe": {"exec": {"command": ["a"]}, "tcpSocket": {"port": 1}},
                    }
                ]
            }
        },
        "spec.containers[0].livenessProbe",
    ),
    (
        "bad-memory",
        {
            "spec": {
                "containers": [
                    {"name": "c", "image": "x", "resources": {"limits": {"memory": "lots"}}}
                ]
            }
        },
        "spec.containers[0].resources.limits",
    ),
    (
        "bad-request",
        {
            "spec": {
                "containers": [
                    {"name": "c", "image": "x", "resources": {"requests": {"cpu": "1 core"}}}
                ]
            }
        },
        "spec.containers[0].resources.requests.cpu",
    ),
    (
        "bad-overhead",
        {"spec": {"containers": [{"name": "c", "image": "x"}], "overhead": {"memory": "x"}}},
        "spec.overhead.memory",
    ),
    (
        "unknown-volume",
        {
            "spec": {
                "containers": [
                    {"name": "c", "image": "x", "volumeMounts": [{"name": "v", "mountPath": "/v"}]}
                ]
            }
        },
        "volumeMounts",
    ),
    (
        "escaping-sub-path",
        {
            "spec": {
                "containers": [
                    {
                        "name": "c",
                        "image": "x",
                        "volumeMounts": [{"name": "v", "mountPath": "/v", "subPath": "../x"}],
                    }
                ],
                "volumes": [{"name": "v", "emptyDir": {}}],
            }
        },
        "volumeMounts[0].subPath",
    ),
    (
        "empty-dir-medium",
        {"spec": {"volumes": [{"name": "v", "emptyDir": {"medium": "HugePages"}}]}},
        "spec.volumes[0].emptyDir.medium",
    ),
    (
        "empty-dir-size",
        {"spec": {"volumes": [{"name": "v", "emptyDir": {"sizeLimit": "lots"}}]}},
        "spec.volumes[0].emptyDir.sizeLimit",
    ),
    (
        "sidecar",
        {
            "spec": {
                "initContainers": [{"name": "s", "image": "busybox", "restartPolicy": "Always"}],
            }
        },
        "spec.initContainers[0].restartPolicy",
    ),
    ("host-network", {"spec": {"hostNetwork": True}}, "spec.hostNetwork"),
    ("dns-none-without-config", {"spec": {"dnsPolicy": "None"}}, "spec.dnsConfig"),
    ("bad-dns-policy", {"spec": {"dnsPolicy": "Cluster"}}, "spec.dnsPolicy"),
    (
        "dupe-names",
        {"spec": {"containers": [{"name": "c", "image": "x"}, {"name": "c", "image": "y"}]}},
        "spec.containers[].name",
    ),
]


@pytest.mark.parametrize(("overlay", "field"), [(b[1], b[2]) for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_names_the_field(overlay: dict[str, Any], field: str) -> None:
    obj = pod_dict()
    for key, val in overlay.items():
        obj[key] = {**obj[key], **val}
    with pytest.raises(ManifestError) as err:
        parse_pod(obj)
    assert field in err.value.field
    assert field in str(err.value)


def test_pod_requests_are_the_effective_requests() -> None:
    """Limits stand in for missing requests; init containers count by maximum; overhead adds."""
    obj = pod_dict(
        {"name": "app", "image": "x", "resources": {"limits": {"cpu": "500m", "memory": "1Gi"}}}
    )
    obj["spec"]["initContainers"] = [
        {"name": "init", "image": "x", "resources": {"requests": {"cpu": "2"}}}
    ]
    obj["spec"]["overhead"] = {"cpu": "100m"}
    pod = parse_pod(obj)
    assert pod.requests == {"cpu": 2100, "memory": 1 << 30}
    assert pod.containers[0].cpu_limit_milli == 500
    assert pod.containers[0].memory_limit == 1 << 30
