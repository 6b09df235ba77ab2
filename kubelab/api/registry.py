"""The registry of kinds the apiserver serves, and lookups by resource, kind or short name."""

from __future__ import annotations

from dataclasses import dataclass, field

from kubelab.api.kind import KindInfo
from kubelab.api.kinds.core import (
    CONFIGMAP,
    EVENT,
    LEASE,
    NAMESPACE,
    NODE,
    SECRET,
    SERVICE_ACCOUNT,
)
from kubelab.api.kinds.pod import POD

BUILTIN_KINDS: tuple[KindInfo, ...] = (
    NAMESPACE,
    NODE,
    POD,
    EVENT,
    CONFIGMAP,
    SECRET,
    SERVICE_ACCOUNT,
    LEASE,
)

# Namespaces every cluster has from the start; they cannot be deleted.
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


@dataclass(frozen=True)
class Registry:
    kinds: tuple[KindInfo, ...] = BUILTIN_KINDS
    _by_resource: dict[tuple[str, str, str], KindInfo] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        for info in self.kinds:
            self._by_resource[(info.group, info.version, info.resource)] = info

    def get(self, group: str, version: str, resource: str) -> KindInfo | None:
        return self._by_resource.get((group, version, resource))

    def by_resource(self, resource: str) -> KindInfo | None:
        """Look up by plural, singular, short name or kind (as `kubectl get` accepts)."""
        for info in self.kinds:
            if resource in (info.resource, info.singular, info.kind, *info.short_names):
                return info
        return None

    def by_kind(self, api_version: str, kind: str) -> KindInfo | None:
        for info in self.kinds:
            if info.kind == kind and info.api_version == api_version:
                return info
        return None

    def groups(self) -> dict[str, list[KindInfo]]:
        """Kinds per API group ("" is the legacy core group), in declaration order."""
        out: dict[str, list[KindInfo]] = {}
        for info in self.kinds:
            out.setdefault(info.group, []).append(info)
        return out


REGISTRY = Registry()
