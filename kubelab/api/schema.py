"""Structural schemas of the kinds: which fields exist and their JSON types.

A schema is a tree of small frozen nodes (`Obj`, `Arr`, `Map`, `Str`, `Int`, `Bool`, `Quantity`,
`Free`). The apiserver uses it for two things Kubernetes does with its OpenAPI: reporting unknown
fields (fieldValidation=Strict / Warn) and wrong JSON types, every problem at once with its field
path; and serving an OpenAPI v3 answer so kubectl can verify server-side validation and `explain`.
`Free` means "any JSON" (fields whose inner shape this lab does not check).
"""

# ruff: noqa: PLR0911  (one branch per schema node type)

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubelab.api.errors import Cause


@dataclass(frozen=True)
class Node:
    description: str = ""

    def openapi(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class Str(Node):
    def openapi(self) -> dict[str, Any]:
        return {"type": "string", "description": self.description}


@dataclass(frozen=True)
class Int(Node):
    def openapi(self) -> dict[str, Any]:
        return {"type": "integer", "format": "int64", "description": self.description}


@dataclass(frozen=True)
class Bool(Node):
    def openapi(self) -> dict[str, Any]:
        return {"type": "boolean", "description": self.description}


@dataclass(frozen=True)
class Quantity(Node):
    def openapi(self) -> dict[str, Any]:
        return {"type": "string", "format": "quantity", "description": self.description}


@dataclass(frozen=True)
class IntOrStr(Node):
    def openapi(self) -> dict[str, Any]:
        return {"x-kubernetes-int-or-string": True, "description": self.description}


@dataclass(frozen=True)
class Free(Node):
    def openapi(self) -> dict[str, Any]:
        return {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": True,
            "description": self.description,
        }


@dataclass(frozen=True)
class Arr(Node):
    item: Node = field(default_factory=Free)

    def openapi(self) -> dict[str, Any]:
        return {"type": "array", "items": self.item.openapi(), "description": self.description}


@dataclass(frozen=True)
class Map(Node):
    value: Node = field(default_factory=Str)

    def openapi(self) -> dict[str, Any]:
        return {
            "type": "object",
            "additionalProperties": self.value.openapi(),
            "description": self.description,
        }


@dataclass(frozen=True)
class Obj(Node):
    fields: dict[str, Node] = field(default_factory=dict)

    def openapi(self) -> dict[str, Any]:
        return {
            "type": "object",
            "description": self.description,
            "properties": {k: v.openapi() for k, v in self.fields.items()},
        }


def _type_name(node: Node) -> str:
    return {
        Str: "string",
        Int: "integer",
        Bool: "boolean",
        Quantity: "string or number",
        IntOrStr: "integer or string",
        Arr: "array",
        Map: "object",
        Obj: "object",
    }.get(type(node), "any")


def _scalar_ok(value: Any, node: Node) -> bool:
    """Whether a non-null value fits a scalar node (or a node that accepts anything)."""
    kind = type(node)
    if kind is Str:
        return isinstance(value, str)
    if kind is Int or kind is Bool:
        wants_bool = kind is Bool
        return isinstance(value, bool) == wants_bool and (wants_bool or isinstance(value, int))
    if kind is IntOrStr:
        return isinstance(value, str | int) and not isinstance(value, bool)
    if kind is Quantity:
        return isinstance(value, str | int | float) and not isinstance(value, bool)
    return True


def _wrong(value: Any, node: Node, path: str) -> Cause:
    return Cause(
        path,
        f"Invalid value: {_short(value)}: expected {_type_name(node)}, got {_json_type(value)}",
        "FieldValueTypeInvalid",
    )


def check(value: Any, node: Node, path: str, *, unknown: bool = True) -> list[Cause]:
    """Causes for wrong JSON types under `path` and (with `unknown`) fields the schema lacks.
    (Runs on every write: the message of a wrong value is built only when there is one.)"""
    if value is None:
        return []
    if isinstance(node, Obj):
        if not isinstance(value, dict):
            return [_wrong(value, node, path)]
        causes: list[Cause] = []
        fields = node.fields
        for key, sub in value.items():
            child = fields.get(key)
            if child is None:
                if unknown:
                    at = f"{path}.{key}" if path else key
                    causes.append(Cause(at, f'unknown field "{at}"', "FieldValueInvalid"))
            elif sub is not None and not (type(child) is Str and isinstance(sub, str)):
                causes.extend(check(sub, child, f"{path}.{key}" if path else key, unknown=unknown))
        return causes
    if isinstance(node, Arr):
        if not isinstance(value, list):
            return [_wrong(value, node, path)]
        item = node.item
        return [c for i, v in enumerate(value) for c in check(v, item, f"{path}[{i}]")]
    if isinstance(node, Map):
        if not isinstance(value, dict):
            return [_wrong(value, node, path)]
        of = node.value
        if type(of) is Str:
            bad = [k for k, v in value.items() if v is not None and not isinstance(v, str)]
            return [_wrong(value[k], of, f"{path}[{k}]") for k in bad]
        return [c for k, v in value.items() for c in check(v, of, f"{path}[{k}]")]
    return [] if _scalar_ok(value, node) else [_wrong(value, node, path)]


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


STRINGS = Map(value=Str())

OWNER_REFERENCE = Obj(
    fields={
        "apiVersion": Str(),
        "kind": Str(),
        "name": Str(),
        "uid": Str(),
        "controller": Bool(),
        "blockOwnerDeletion": Bool(),
    }
)

OBJECT_META = Obj(
    "Standard object's metadata.",
    {
        "name": Str("Name must be unique within a namespace."),
        "generateName": Str("Prefix for a server-generated name."),
        "namespace": Str("Namespace defines the space within which each name must be unique."),
        "uid": Str(),
        "resourceVersion": Str(),
        "generation": Int(),
        "creationTimestamp": Str(),
        "deletionTimestamp": Str(),
        "deletionGracePeriodSeconds": Int(),
        "labels": Map("Map of string keys and values for organizing objects.", Str()),
        "annotations": Map("Unstructured key value map stored with a resource.", Str()),
        "ownerReferences": Arr(item=OWNER_REFERENCE),
        "finalizers": Arr(item=Str()),
        "managedFields": Arr(item=Free()),
        "selfLink": Str(),
    },
)


def toplevel(
    description: str, spec: Node | None = None, status: Node | None = None, **extra: Node
) -> Obj:
    fields: dict[str, Node] = {
        "apiVersion": Str("APIVersion defines the versioned schema of this representation."),
        "kind": Str("Kind is a string value representing the REST resource."),
        "metadata": OBJECT_META,
    }
    if spec is not None:
        fields["spec"] = spec
    if status is not None:
        fields["status"] = status
    fields.update(extra)
    return Obj(description, fields)
