"""Resource coordinates (group, version, resource) of the kinds the apiserver serves."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GVR:
    group: str
    version: str
    resource: str
    namespaced: bool = True

    def __str__(self) -> str:
        return f"{self.resource}.{self.group}" if self.group else self.resource


PODS = GVR("", "v1", "pods")
NODES = GVR("", "v1", "nodes", namespaced=False)
NAMESPACES = GVR("", "v1", "namespaces", namespaced=False)
EVENTS = GVR("", "v1", "events")
CONFIGMAPS = GVR("", "v1", "configmaps")
SECRETS = GVR("", "v1", "secrets")
SERVICEACCOUNTS = GVR("", "v1", "serviceaccounts")
LEASES = GVR("coordination.k8s.io", "v1", "leases")

KNOWN = {
    g.resource: g
    for g in (PODS, NODES, NAMESPACES, EVENTS, CONFIGMAPS, SECRETS, SERVICEACCOUNTS, LEASES)
}


def gvr(resource: str | GVR) -> GVR:
    """`"pods"`, `"leases.coordination.k8s.io"` or a GVR; unknown plural names are core/v1."""
    if isinstance(resource, GVR):
        return resource
    name, _, group = resource.partition(".")
    known = KNOWN.get(name)
    if known is not None and (not group or group == known.group):
        return known
    return GVR(group, "v1", name)
