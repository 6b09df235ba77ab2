from __future__ import annotations

from kubelab.api.registry import REGISTRY, SYSTEM_NAMESPACES


def test_lookups_by_plural_singular_short_name_and_kind() -> None:
    for name in ("pods", "pod", "po", "Pod"):
        info = REGISTRY.by_resource(name)
        assert info is not None
        assert info.kind == "Pod"
    lease = REGISTRY.get("coordination.k8s.io", "v1", "leases")
    assert lease is not None
    assert lease.api_version == "coordination.k8s.io/v1"
    assert REGISTRY.by_kind("v1", "ConfigMap") is REGISTRY.by_resource("cm")
    assert REGISTRY.get("", "v1", "deployments") is None


def test_every_kind_is_complete() -> None:
    for info in REGISTRY.kinds:
        assert info.resource.islower()
        assert info.singular
        assert info.kind[0].isupper()
        assert "metadata" in info.schema.fields
        assert "metadata.name" in info.field_names()
        assert ("metadata.namespace" in info.field_names()) == info.namespaced


def test_scopes_and_subresources() -> None:
    pods, nodes, ns = (REGISTRY.by_resource(r) for r in ("pods", "nodes", "namespaces"))
    assert pods
    assert nodes
    assert ns
    assert pods.namespaced
    assert not nodes.namespaced
    assert not ns.namespaced
    assert {"status", "binding", "log"} <= set(pods.subresources)
    assert pods.graceful_delete
    assert not nodes.graceful_delete
    assert "all" in pods.categories
    assert {"spec.nodeName", "status.phase"} <= pods.field_names()
    events = REGISTRY.by_resource("events")
    assert events
    assert {"involvedObject.name", "involvedObject.uid"} <= events.field_names()
    assert set(SYSTEM_NAMESPACES) == {"default", "kube-system", "kube-public", "kube-node-lease"}
