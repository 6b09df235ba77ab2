"""The three PATCH formats kubectl sends: JSON merge (RFC 7386), JSON patch (RFC 6902), and
Kubernetes' strategic merge patch (lists merged by their merge key, `$patch` directives,
`$setElementOrder`, `$deleteFromPrimitiveList`, `$retainKeys`).

All functions are pure: they return a new document and never modify their arguments. Bad patches
raise PatchError naming the path or operation.
"""

# ruff: noqa: PLR0912, S105  (one branch per patch operation/directive)

from __future__ import annotations

from typing import Any

from kubelab.api.types import copy_json

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

# Merge keys of the lists Kubernetes merges by key (patchMergeKey), by field name.
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "ports": "containerPort",
    "env": "name",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "conditions": "type",
    "ownerReferences": "uid",
    "addresses": "type",
    "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name",
    "secrets": "name",
}
# Lists of scalars merged as sets (patchStrategy: merge) rather than replaced.
MERGED_PRIMITIVE_LISTS = frozenset({"finalizers"})


class PatchError(ValueError):
    """A patch that cannot be applied; the message names the path or operation."""


def json_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 onto a copy of `target` (copied once, then merged in place)."""
    if not isinstance(patch, dict):
        return copy_json(patch)
    return _merge_into(copy_json(target) if isinstance(target, dict) else {}, patch)


def _merge_into(result: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            current = result.get(key)
            result[key] = _merge_into(current if isinstance(current, dict) else {}, value)
        else:
            result[key] = copy_json(value)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}: must start with '/'")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _index(container: list[Any], token: str, path: str, *, for_add: bool = False) -> int:
    if for_add and token == "-":
        return len(container)
    if not token.isdigit():
        raise PatchError(f"invalid array index {token!r} in {path!r}")
    idx = int(token)
    limit = len(container) if for_add else len(container) - 1
    if idx > limit:
        raise PatchError(f"array index {idx} out of range in {path!r}")
    return idx


def _parent(doc: Any, path: str) -> tuple[Any, str]:
    tokens = _pointer(path)
    if not tokens:
        raise PatchError("the whole document cannot be the target of this operation")
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict):
            if token not in node:
                raise PatchError(f"path {path!r} does not exist (missing {token!r})")
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, path)]
        else:
            raise PatchError(f"path {path!r} does not exist")
    return node, tokens[-1]


def _get(doc: Any, path: str) -> Any:
    node = doc
    for token in _pointer(path):
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, path)]
        else:
            raise PatchError(f"path {path!r} does not exist")
    return node


def _add(doc: Any, path: str, value: Any) -> Any:
    if path == "":
        return value
    parent, token = _parent(doc, path)
    if isinstance(parent, dict):
        parent[token] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, token, path, for_add=True), value)
    else:
        raise PatchError(f"cannot add at {path!r}")
    return doc


def _remove(doc: Any, path: str) -> Any:
    parent, token = _parent(doc, path)
    if isinstance(parent, dict):
        if token not in parent:
            raise PatchError(f"cannot remove {path!r}: it does not exist")
        del parent[token]
    elif isinstance(parent, list):
        del parent[_index(parent, token, path)]
    else:
        raise PatchError(f"cannot remove {path!r}")
    return doc


def json_patch(target: Any, ops: Any) -> Any:
    if not isinstance(ops, list):
        raise PatchError("a JSON patch must be a list of operations")
    doc = copy_json(target)
    for i, op in enumerate(ops):
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError(f"operation {i} must be an object with 'op' and 'path'")
        kind, path = op["op"], op["path"]
        if kind in ("add", "replace", "test") and "value" not in op:
            raise PatchError(f"operation {i} ({kind} {path}) is missing 'value'")
        if kind == "add":
            doc = _add(doc, path, copy_json(op["value"]))
        elif kind == "remove":
            doc = _remove(doc, path)
        elif kind == "replace":
            _get(doc, path)
            if path == "":
                doc = copy_json(op["value"])
            else:
                doc = _add(_remove(doc, path), path, copy_json(op["value"]))
        elif kind in ("move", "copy"):
            if "from" not in op:
                raise PatchError(f"operation {i} ({kind} {path}) is missing 'from'")
            value = copy_json(_get(doc, op["from"]))
            if kind == "move":
                doc = _remove(doc, op["from"])
            doc = _add(doc, path, value)
        elif kind == "test":
            if _get(doc, path) != op["value"]:
                raise PatchError(f"test operation {i} failed at {path!r}")
        else:
            raise PatchError(f"operation {i} has unknown op {kind!r}")
    return doc


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy_json(patch)
    return _smp_map(target if isinstance(target, dict) else {}, patch)


def _smp_map(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy_json(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return {}
    result: dict[str, Any] = copy_json(target)
    retain = patch.get("$retainKeys")
    orders: dict[str, list[Any]] = {}
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys"):
            continue
        if key.startswith("$setElementOrder/"):
            orders[key.split("/", 1)[1]] = value
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            current = result.get(field)
            if isinstance(current, list) and isinstance(value, list):
                result[field] = [x for x in current if x not in value]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            if value.get("$patch") == "delete":
                result.pop(key, None)
            else:
                current = result.get(key)
                result[key] = _smp_map(current if isinstance(current, dict) else {}, value)
        elif isinstance(value, list):
            result[key] = _smp_list(key, result.get(key), value)
        else:
            result[key] = copy_json(value)
    for field, order in orders.items():
        if isinstance(result.get(field), list):
            result[field] = _reorder(field, result[field], order)
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _smp_list(field: str, current: Any, patch: list[Any]) -> list[Any]:
    current = current if isinstance(current, list) else []
    merge_key = MERGE_KEYS.get(field)
    if any(isinstance(p, dict) and p.get("$patch") == "replace" for p in patch):
        return [copy_json(p) for p in patch if not (isinstance(p, dict) and "$patch" in p)]
    out: list[Any]
    if field in MERGED_PRIMITIVE_LISTS:
        out = list(copy_json(current))
        for item in patch:
            if item not in out:
                out.append(copy_json(item))
        return out
    if merge_key is None or not all(isinstance(p, dict) for p in patch):
        return [copy_json(p) for p in patch]
    out = list(copy_json(current))
    for item in patch:
        key = item.get(merge_key)
        idx = next(
            (i for i, c in enumerate(out) if isinstance(c, dict) and c.get(merge_key) == key),
            None,
        )
        if item.get("$patch") == "delete":
            if idx is not None:
                del out[idx]
            continue
        if idx is None:
            out.append(_smp_map({}, item))
        else:
            out[idx] = _smp_map(out[idx], item)
    return out


def _reorder(field: str, items: list[Any], order: list[Any]) -> list[Any]:
    merge_key = MERGE_KEYS.get(field)

    def ident(x: Any) -> Any:
        return x.get(merge_key) if merge_key and isinstance(x, dict) else x

    wanted = [ident(o) for o in order]
    ranked = [x for w in wanted for x in items if ident(x) == w]
    rest = [x for x in items if ident(x) not in wanted]
    return ranked + rest


def apply_patch(content_type: str, target: Any, patch: Any) -> Any:
    """Apply a patch of the given media type (the request's Content-Type)."""
    ctype = content_type.split(";", 1)[0].strip()
    if ctype == JSON_PATCH:
        return json_patch(target, patch)
    if ctype == MERGE_PATCH:
        return json_merge_patch(target, patch)
    if ctype == STRATEGIC_MERGE_PATCH:
        return strategic_merge_patch(target, patch)
    raise PatchError(
        f"unsupported patch type {ctype!r}: use {JSON_PATCH}, {MERGE_PATCH} or "
        f"{STRATEGIC_MERGE_PATCH}"
    )
