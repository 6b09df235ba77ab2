from __future__ import annotations

import copy
from typing import Any

import pytest

from kubelab.api.errors import BadRequest, Invalid
from kubelab.api.lifecycle import prepare_create, prepare_update
from kubelab.api.registry import REGISTRY

POD = REGISTRY.by_resource("pods")
assert POD is not None


def pod(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web"},
        "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]},
    }
    base["spec"].update(spec)
    return base


def create(obj: dict[str, Any], kind: str = "pods", strict: bool = True) -> dict[str, Any]:
    info = REGISTRY.by_resource(kind)
    assert info is not None
    ns = "default" if info.namespaced else ""
    out, _ = prepare_create(
        info, obj, namespace=ns, uid="u-1", now="2026-01-01T00:00:00Z", strict=strict
    )
    return out


def causes(obj: dict[str, Any], kind: str = "pods", strict: bool = True) -> dict[str, str]:
    with pytest.raises(Invalid) as info:
        create(obj, kind, strict)
    assert info.value.code == 422
    return {c.field: c.message for c in info.value.causes}


CASES = [
    ("bad name", {"metadata": {"name": "Web_1"}}, "metadata.name", "RFC 1123"),
    ("no name", {"metadata": {}}, "metadata.name", "required"),
    ("no containers", {"spec": {"containers": []}}, "spec.containers", "Required"),
    ("no image", {"spec": {"containers": [{"name": "c"}]}}, "spec.containers[0].image", "Required"),
    (
        "duplicate container",
        {"spec": {"containers": [{"name": "c", "image": "a"}, {"name": "c", "image": "b"}]}},
        "spec.containers[1].name",
        "Duplicate",
    ),
    (
        "port out of range",
        {
            "spec": {
                "containers": [{"name": "c", "image": "a", "ports": [{"containerPort": 70000}]}]
            }
        },
        "spec.containers[0].ports[0].containerPort",
        "between 1 and 65535",
    ),
    (
        "bad protocol",
        {
            "spec": {
                "containers": [
                    {
                        "name": "c",
                        "image": "a",
                        "ports": [{"containerPort": 80, "protocol": "HTTP"}],
                    }
                ]
            }
        },
        "spec.containers[0].ports[0].protocol",
        'supported values: "TCP"',
    ),
    (
        "bad quantity",
        {
            "spec": {
                "containers": [
                    {"name": "c", "image": "a", "resources": {"limits": {"cpu": "lots"}}}
                ]
            }
        },
        "spec.containers[0].resources.limits[cpu]",
        "quantities must match",
    ),
    (
        "request above limit",
        {
            "spec": {
                "containers": [
                    {
                        "name": "c",
                        "image": "a",
                        "resources": {"limits": {"cpu": "100m"}, "requests": {"cpu": "1"}},
                    }
                ]
            }
        },
        "spec.containers[0].resources.requests",
        "less than or equal to cpu limit",
    ),
    (
        "bad restartPolicy",
        {"spec": {"restartPolicy": "Sometimes"}},
        "spec.restartPolicy",
        "Unsupported value",
    ),
    ("bad dnsPolicy", {"spec": {"dnsPolicy": "Google"}}, "spec.dnsPolicy", "Unsupported value"),
    (
        "negative grace",
        {"spec": {"terminationGracePeriodSeconds": -1}},
        "spec.terminationGracePeriodSeconds",
        ">= 0".replace(">= 0", "greater than or equal"),
    ),
    (
        "unknown field",
        {"spec": {"containers": [{"name": "c", "image": "a", "imag": "x"}]}},
        "spec.containers[0].imag",
        "unknown field",
    ),
    (
        "wrong type",
        {"spec": {"containers": [{"name": "c", "image": 5}]}},
        "spec.containers[0].image",
        "expected string",
    ),
    (
        "bad label",
        {"metadata": {"name": "a", "labels": {"app": "no spaces"}}},
        "metadata.labels[app]",
        "valid label",
    ),
    (
        "volume mount to missing volume",
        {
            "spec": {
                "containers": [
                    {
                        "name": "c",
                        "image": "a",
                        "volumeMounts": [{"name": "data", "mountPath": "/d"}],
                    }
                ]
            }
        },
        "spec.containers[0].volumeMounts[0].name",
        "Not found",
    ),
]


@pytest.mark.parametrize(
    ("patch", "field", "needle"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_pod_validation_names_the_field(patch: dict[str, Any], field: str, needle: str) -> None:
    obj = pod()
    for key, value in patch.items():
        if key == "spec":
            obj["spec"].update(value)
        else:
            obj[key] = value
    found = causes(obj)
    assert field in found, found
    assert needle.lower() in found[field].lower()


def test_every_problem_is_reported_at_once() -> None:
    obj = pod(
        containers=[{"name": "c", "ports": [{"containerPort": 0}]}, {"name": "c", "image": "x"}]
    )
    obj["metadata"]["name"] = "Bad"
    found = causes(obj)
    assert {
        "metadata.name",
        "spec.containers[0].image",
        "spec.containers[0].ports[0].containerPort",
        "spec.containers[1].name",
    } <= set(found)


def test_unknown_fields_are_warnings_without_strict() -> None:
    info = REGISTRY.by_resource("pods")
    assert info is not None
    obj = pod()
    obj["spec"]["bogus"] = 1
    _, warnings = prepare_create(info, obj, namespace="default", uid="u", now="t", strict=False)
    assert warnings == ['unknown field "spec.bogus"']


def test_kind_mismatch_is_a_bad_request() -> None:
    obj = pod()
    obj["kind"] = "Node"
    with pytest.raises(BadRequest):
        create(obj)


@pytest.mark.parametrize(
    ("kind", "obj", "field"),
    [
        ("configmaps", {"metadata": {"name": "c"}, "data": {"bad key!": "v"}}, "data"),
        ("secrets", {"metadata": {"name": "s"}, "data": {"k": "not base64!"}}, "data[k]"),
        ("namespaces", {"metadata": {"name": "a.b"}}, "metadata.name"),
        (
            "leases",
            {"metadata": {"name": "l"}, "spec": {"leaseDurationSeconds": 0}},
            "spec.leaseDurationSeconds",
        ),
        (
            "events",
            {"metadata": {"name": "e"}, "type": "Odd", "involvedObject": {"kind": "Pod"}},
            "type",
        ),
        (
            "nodes",
            {"metadata": {"name": "n"}, "spec": {"taints": [{"key": "k", "effect": "Sometimes"}]}},
            "spec.taints[0].effect",
        ),
    ],
    ids=[
        "configmap-key",
        "secret-base64",
        "namespace-label",
        "lease-duration",
        "event-type",
        "node-taint",
    ],
)
def test_other_kinds_validate(kind: str, obj: dict[str, Any], field: str) -> None:
    assert field in causes(obj, kind)


def test_pod_update_may_change_image_but_not_other_spec() -> None:
    info = REGISTRY.by_resource("pods")
    assert info is not None
    old = create(pod())
    old["metadata"]["resourceVersion"] = "5"
    new = copy.deepcopy(old)
    new["spec"]["containers"][0]["image"] = "nginx:1.26"
    updated, _ = prepare_update(info, new, old)
    assert updated["metadata"]["generation"] == 2
    assert updated["metadata"]["uid"] == old["metadata"]["uid"]
    bad = copy.deepcopy(old)
    bad["spec"]["restartPolicy"] = "Never"
    with pytest.raises(Invalid, match="pod updates may not change fields"):
        prepare_update(info, bad, old)


def test_generation_is_bumped_only_on_spec_changes() -> None:
    info = REGISTRY.by_resource("pods")
    assert info is not None
    old = create(pod())
    labels_only = copy.deepcopy(old)
    labels_only["metadata"]["labels"] = {"a": "b"}
    assert prepare_update(info, labels_only, old)[0]["metadata"]["generation"] == 1
    status = copy.deepcopy(old)
    status["status"] = {"phase": "Running"}
    updated, _ = prepare_update(info, status, old, subresource="status")
    assert updated["status"]["phase"] == "Running"
    assert updated["metadata"]["generation"] == 1
    ignored, _ = prepare_update(info, status, old)
    assert ignored["status"]["phase"] == "Pending"  # the main resource ignores status
