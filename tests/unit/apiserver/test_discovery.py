from __future__ import annotations

from typing import Any

import pytest

from controlplane.apiserver import discovery
from controlplane.apiserver.handlers import Handlers
from controlplane.apiserver.rest import _accepts_aggregated_discovery, parse_path
from kubelab.api.registry import REGISTRY


class NoStore:
    """parse_path only needs the registry; the store is never touched."""


def handlers() -> Handlers:
    return Handlers(NoStore())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/v1/pods", ("pods", "", "", "")),
        ("/api/v1/namespaces/default/pods", ("pods", "default", "", "")),
        ("/api/v1/namespaces/default/pods/web", ("pods", "default", "web", "")),
        ("/api/v1/namespaces/default/pods/web/status", ("pods", "default", "web", "status")),
        ("/api/v1/namespaces/default", ("namespaces", "", "default", "")),
        ("/api/v1/namespaces/kube-system/status", ("namespaces", "", "kube-system", "status")),
        ("/api/v1/nodes/n1", ("nodes", "", "n1", "")),
        ("/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/l",
         ("leases", "kube-system", "l", "")),
        ("/api/v1/watch/namespaces/default/pods", ("pods", "default", "", "")),
    ],
)  # fmt: skip
def test_parse_path(path: str, expected: tuple[str, str, str, str]) -> None:
    route = parse_path(handlers(), path)
    assert route is not None
    assert (route.info.resource, route.namespace, route.name, route.subresource) == expected


@pytest.mark.parametrize(
    "path", ["/api/v1/deployments", "/apis/apps/v1/deployments", "/foo", "/api"]
)
def test_unknown_paths(path: str) -> None:
    assert parse_path(handlers(), path) is None


def test_legacy_discovery() -> None:
    doc = discovery.api_resource_list(REGISTRY, "", "v1")
    assert doc is not None
    pods = next(r for r in doc["resources"] if r["name"] == "pods")
    assert pods["shortNames"] == ["po"]
    assert pods["categories"] == ["all"]
    assert "watch" in pods["verbs"]
    binding = next(r for r in doc["resources"] if r["name"] == "pods/binding")
    assert (binding["kind"], binding["verbs"]) == ("Binding", ["create"])
    groups = discovery.api_group_list(REGISTRY)["groups"]
    assert [g["name"] for g in groups] == ["coordination.k8s.io"]


def test_aggregated_discovery() -> None:
    core = discovery.aggregated(REGISTRY, legacy=True)
    assert core["kind"] == "APIGroupDiscoveryList"
    resources = core["items"][0]["versions"][0]["resources"]
    ns = next(r for r in resources if r["resource"] == "namespaces")
    assert ns["scope"] == "Cluster"
    groups = discovery.aggregated(REGISTRY, legacy=False)
    assert groups["items"][0]["metadata"]["name"] == "coordination.k8s.io"


def test_openapi_declares_server_side_field_validation() -> None:
    root = discovery.openapi_v3_root(REGISTRY)
    assert set(root["paths"]) == {"api/v1", "apis/coordination.k8s.io/v1"}
    doc = discovery.openapi_v3_doc(REGISTRY, "", "v1")
    patch: dict[str, Any] = doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "", "version": "v1", "kind": "Pod"}
    assert any(p["name"] == "fieldValidation" and p["in"] == "query" for p in patch["parameters"])
    schema = doc["components"]["schemas"]["io.k8s.api.core.v1.Pod"]
    assert "containers" in schema["properties"]["spec"]["properties"]


@pytest.mark.parametrize(
    ("accept", "aggregated"),
    [
        ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
         "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
         "application/json", True),
        ("application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList", False),
        ("application/json, */*", False),
        ("", False),
    ],
)  # fmt: skip
def test_aggregated_discovery_is_served_when_asked(accept: str, aggregated: bool) -> None:
    assert _accepts_aggregated_discovery(accept) is aggregated
