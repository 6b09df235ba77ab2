from __future__ import annotations

from typing import Any

import pytest

from kubelab.api.errors import Invalid
from kubelab.api.lifecycle import prepare_create
from kubelab.api.registry import REGISTRY

POD = REGISTRY.by_resource("pods")
assert POD is not None


def create(container: dict[str, Any], volumes: list[Any] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "nginx", **container}]}
    if volumes is not None:
        spec["volumes"] = volumes
    assert POD is not None
    obj, _ = prepare_create(
        POD,
        {"metadata": {"name": "p"}, "spec": spec},
        namespace="default",
        uid="u",
        now="2026-01-01T00:00:00Z",
        strict=True,
    )
    return obj


def fields(container: dict[str, Any], volumes: list[Any] | None = None) -> dict[str, str]:
    with pytest.raises(Invalid) as info:
        create(container, volumes)
    return {c.field: c.message for c in info.value.causes}


def test_probe_defaults() -> None:
    pod = create(
        {
            "ports": [{"name": "http", "containerPort": 80}],
            "livenessProbe": {"httpGet": {"port": "http"}},
            "readinessProbe": {"tcpSocket": {"port": 80}, "periodSeconds": 2},
        }
    )
    c = pod["spec"]["containers"][0]
    assert c["livenessProbe"] == {
        "httpGet": {"port": "http", "path": "/", "scheme": "HTTP"},
        "timeoutSeconds": 1,
        "periodSeconds": 10,
        "successThreshold": 1,
        "failureThreshold": 3,
    }
    assert c["readinessProbe"]["periodSeconds"] == 2


@pytest.mark.parametrize(
    ("probe", "field"),
    [
        ({}, "spec.containers[0].livenessProbe"),
        (
            {"exec": {"command": ["true"]}, "tcpSocket": {"port": 80}},
            "spec.containers[0].livenessProbe.tcpSocket",
        ),
        ({"httpGet": {"port": 0}}, "spec.containers[0].livenessProbe.httpGet.port"),
        ({"httpGet": {"port": "web"}}, "spec.containers[0].livenessProbe.httpGet.port"),
        (
            {"httpGet": {"port": 80, "scheme": "FTP"}},
            "spec.containers[0].livenessProbe.httpGet.scheme",
        ),
        ({"exec": {"command": []}}, "spec.containers[0].livenessProbe.exec.command"),
        (
            {"exec": {"command": ["true"]}, "successThreshold": 2},
            "spec.containers[0].livenessProbe.successThreshold",
        ),
        (
            {"exec": {"command": ["true"]}, "periodSeconds": 0},
            "spec.containers[0].livenessProbe.periodSeconds",
        ),
        ({"exec": {"command": ["true"]}, "bogus": 1}, "spec.containers[0].livenessProbe.bogus"),
    ],
    ids=[
        "no-handler",
        "two-handlers",
        "port-0",
        "unknown-named-port",
        "scheme",
        "empty-exec",
        "liveness-success-threshold",
        "period-0",
        "unknown-field",
    ],
)
def test_probe_validation(probe: dict[str, Any], field: str) -> None:
    assert field in fields({"livenessProbe": probe})


def test_volume_defaults_and_mounts() -> None:
    pod = create(
        {
            "volumeMounts": [
                {"name": "cfg", "mountPath": "/etc/cfg"},
                {"name": "tmp", "mountPath": "/t"},
            ]
        },
        [{"name": "cfg", "configMap": {"name": "settings"}}, {"name": "tmp"}],
    )
    vols = pod["spec"]["volumes"]
    assert vols[0]["configMap"] == {"name": "settings", "defaultMode": 420}
    assert vols[1] == {"name": "tmp", "emptyDir": {}}


@pytest.mark.parametrize(
    ("volume", "field"),
    [
        ({"name": "v", "configMap": {}}, "spec.volumes[0].configMap.name"),
        (
            {"name": "v", "secret": {"secretName": "s", "defaultMode": 4096}},
            "spec.volumes[0].secret.defaultMode",
        ),
        (
            {"name": "v", "hostPath": {"path": "/x", "type": "Sometimes"}},
            "spec.volumes[0].hostPath.type",
        ),
        ({"name": "v", "emptyDir": {}, "hostPath": {"path": "/x"}}, "spec.volumes[0].hostPath"),
        (
            {"name": "v", "configMap": {"name": "c", "items": [{"key": "k", "path": "../x"}]}},
            "spec.volumes[0].configMap.items[0].path",
        ),
    ],
    ids=["configmap-name", "mode", "hostpath-type", "two-sources", "escaping-path"],
)
def test_volume_validation(volume: dict[str, Any], field: str) -> None:
    assert field in fields({}, [volume])


@pytest.mark.parametrize(
    ("sub_path", "message"),
    [("/etc", "must be a relative path"), ("a/../../etc", "must not contain '..'")],
)
def test_a_sub_path_stays_inside_its_volume(sub_path: str, message: str) -> None:
    mounts = {"volumeMounts": [{"name": "v", "mountPath": "/v", "subPath": sub_path}]}
    got = fields(mounts, [{"name": "v", "emptyDir": {}}])
    field = "spec.containers[0].volumeMounts[0].subPath"
    assert message in got[field]
    assert sub_path in got[field]


def test_env_from_the_downward_api_and_config() -> None:
    pod = create(
        {
            "env": [
                {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "s", "key": "mode"}}},
            ]
        }
    )
    env = pod["spec"]["containers"][0]["env"]
    assert env[0]["valueFrom"]["fieldRef"] == {"fieldPath": "metadata.name", "apiVersion": "v1"}


@pytest.mark.parametrize(
    ("source", "field"),
    [
        ({}, "spec.containers[0].env[0].valueFrom"),
        (
            {"fieldRef": {"fieldPath": "spec.bogus"}},
            "spec.containers[0].env[0].valueFrom.fieldRef.fieldPath",
        ),
        ({"secretKeyRef": {"name": "s"}}, "spec.containers[0].env[0].valueFrom.secretKeyRef.key"),
        (
            {"resourceFieldRef": {"resource": "limits.gpu"}},
            "spec.containers[0].env[0].valueFrom.resourceFieldRef.resource",
        ),
    ],
    ids=["empty", "field-path", "secret-key", "resource"],
)
def test_env_source_validation(source: dict[str, Any], field: str) -> None:
    assert field in fields({"env": [{"name": "X", "valueFrom": source}]})
