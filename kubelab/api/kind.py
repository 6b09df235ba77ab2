"""`KindInfo`: everything the apiserver needs to serve one kind, declared in one place.

A kind is a value: its coordinates (group, version, resource), discovery facts (short names,
categories, scope), a structural schema, pure `default` / `validate` / `validate_update`
functions, table columns for `kubectl get`, the fields a field selector may use, and which
subresources it has. The handlers in the apiserver are generic over this; adding a kind is
declaring one `KindInfo` in `kubelab.api.kinds` and listing it in the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kubelab.api.errors import Cause
from kubelab.api.schema import Obj
from kubelab.api.types import Object


def _no_default(obj: Object) -> None:
    return None


def _no_validate(obj: Object) -> list[Cause]:
    return []


def _no_validate_update(new: Object, old: Object) -> list[Cause]:
    return []


def _no_fields(obj: Object) -> dict[str, str]:
    return {}


@dataclass(frozen=True)
class Column:
    """One table column: `priority` 1 columns show only with `-o wide`."""

    name: str
    cell: Callable[[Object, datetime], Any]
    type: str = "string"
    format: str = ""
    description: str = ""
    priority: int = 0

    def definition(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "format": self.format,
            "description": self.description or self.name,
            "priority": self.priority,
        }


@dataclass(frozen=True)
class KindInfo:
    kind: str
    resource: str
    singular: str
    group: str = ""
    version: str = "v1"
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    schema: Obj = field(default_factory=Obj)
    name_rule: str = "subdomain"  # or "label" (RFC 1123 label, e.g. namespaces)
    default: Callable[[Object], None] = _no_default
    validate: Callable[[Object], list[Cause]] = _no_validate
    validate_update: Callable[[Object, Object], list[Cause]] = _no_validate_update
    columns: tuple[Column, ...] = ()
    selectable_fields: Callable[[Object], dict[str, str]] = _no_fields
    subresources: tuple[str, ...] = ()
    has_spec: bool = True
    graceful_delete: bool = False
    # Pods and namespaces start with a server-chosen status, whatever the client sent.
    reset_status_on_create: bool = False
    description: str = ""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    def fields_of(self, obj: Object) -> dict[str, str]:
        """The values a field selector can match: metadata.name/namespace plus the kind's own."""
        meta = obj.get("metadata") or {}
        fields = {"metadata.name": str(meta.get("name", ""))}
        if self.namespaced:
            fields["metadata.namespace"] = str(meta.get("namespace", ""))
        fields.update(self.selectable_fields(obj))
        return fields

    def field_names(self) -> frozenset[str]:
        probe: Object = {"metadata": {}}
        return frozenset(self.fields_of(probe))
