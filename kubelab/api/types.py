"""The shape every part agrees on: Kubernetes objects as plain JSON dicts.

Objects are exactly what the Kubernetes API serialises (`apiVersion`, `kind`, `metadata`,
`spec`, `status`); helpers here read them without copying and never validate.
"""

from __future__ import annotations

from typing import Any

Object = dict[str, Any]


def meta(obj: Object) -> dict[str, Any]:
    m = obj.get("metadata")
    return m if isinstance(m, dict) else {}


def name_of(obj: Object) -> str:
    return str(meta(obj).get("name", ""))


def namespace_of(obj: Object) -> str:
    return str(meta(obj).get("namespace", ""))


def resource_version(obj: Object) -> str:
    return str(meta(obj).get("resourceVersion", ""))


def labels_of(obj: Object) -> dict[str, str]:
    labels = meta(obj).get("labels")
    return labels if isinstance(labels, dict) else {}


def key_of(obj: Object) -> str:
    """`namespace/name`, or `name` for cluster-scoped objects (the informer/workqueue key)."""
    ns = namespace_of(obj)
    return f"{ns}/{name_of(obj)}" if ns else name_of(obj)


def copy_json(value: Any) -> Any:
    """A deep copy of a JSON value (dicts, lists, scalars), several times faster than
    `copy.deepcopy`: no memo, since decoded JSON has no shared or cyclic parts."""
    kind = type(value)
    if kind is dict:
        return {k: copy_json(v) for k, v in value.items()}
    if kind is list:
        return [copy_json(v) for v in value]
    return value
