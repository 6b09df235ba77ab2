"""What the apiserver does to an object between the request and the store, as pure functions.

`prepare_create` and `prepare_update` stamp the server-owned metadata (uid, creationTimestamp,
generation), apply the kind's defaults, and validate: schema types and, under strict field
validation, unknown fields, then object metadata and the kind's own rules. All problems come
back at once in one `Invalid` error. The caller supplies the uid and the clock's reading.
"""

from __future__ import annotations

from typing import Any

from kubelab.api.errors import BadRequest, Cause, Invalid
from kubelab.api.kind import KindInfo
from kubelab.api.schema import check
from kubelab.api.types import Object, copy_json
from kubelab.api.validation import validate_object_meta

SERVER_OWNED = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds")


def _spec_of(info: KindInfo, obj: Object) -> dict[str, Any]:
    return {
        k: val for k, val in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")
    }


def check_type(info: KindInfo, obj: Object) -> None:
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if kind and kind != info.kind:
        raise BadRequest(f"the kind in the body ({kind}) does not match the path ({info.kind})")
    if api_version and api_version != info.api_version:
        raise BadRequest(
            f"the API version in the body ({api_version}) does not match the path "
            f"({info.api_version})"
        )


def validate(
    info: KindInfo, obj: Object, old: Object | None = None, *, strict: bool = False
) -> tuple[list[Cause], list[str]]:
    """(errors, warnings): unknown fields are errors when `strict`, warnings otherwise."""
    schema_causes = check(obj, info.schema, "")
    unknown = [c for c in schema_causes if c.message.startswith("unknown field")]
    errors = [c for c in schema_causes if c not in unknown]
    warnings: list[str] = []
    type_errors = bool(errors)
    if strict:
        errors.extend(unknown)
    else:
        warnings = [c.message for c in unknown]
    errors.extend(
        validate_object_meta(
            obj.get("metadata"), namespaced=info.namespaced, name_rule=info.name_rule
        )
    )
    if not type_errors:
        errors.extend(info.validate(obj))
        if old is not None:
            errors.extend(info.validate_update(obj, old))
    return errors, warnings


def raise_invalid(info: KindInfo, name: str, causes: list[Cause]) -> None:
    if not causes:
        return
    detail = ", ".join(f"{c.field}: {c.message}" for c in causes)
    kind_name = f'{info.kind} "{name}"' if name else info.kind
    raise Invalid(
        f"{kind_name} is invalid: {detail}",
        kind=info.kind,
        name=name,
        group=info.group,
        causes=tuple(causes),
    )


def prepare_create(
    info: KindInfo,
    body: Object,
    *,
    namespace: str,
    uid: str,
    now: str,
    strict: bool = False,
) -> tuple[Object, list[str]]:
    """The object to store for a create, and warnings; raises Invalid/BadRequest."""
    check_type(info, body)
    obj = copy_json(body)
    obj["apiVersion"], obj["kind"] = info.api_version, info.kind
    meta = obj.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise_invalid(info, "", [Cause("metadata", "Invalid value: must be an object")])
    if info.namespaced:
        if meta.get("namespace") and meta["namespace"] != namespace:
            raise BadRequest(
                "the namespace of the provided object does not match the namespace sent on the "
                "request"
            )
        meta["namespace"] = namespace
    meta.pop("resourceVersion", None)
    for f in SERVER_OWNED:
        meta.pop(f, None)
    meta.pop("selfLink", None)
    meta.pop("managedFields", None)
    meta["uid"] = uid
    meta["creationTimestamp"] = now
    if info.reset_status_on_create:
        obj.pop("status", None)
    if info.has_spec:
        meta["generation"] = 1
    errors, warnings = validate(info, obj, strict=strict)
    raise_invalid(info, str(meta.get("name", "")), errors)
    info.default(obj)  # defaults are valid by construction: no second validation pass
    return obj, warnings


def prepare_update(
    info: KindInfo,
    body: Object,
    old: Object,
    *,
    subresource: str = "",
    strict: bool = False,
) -> tuple[Object, list[str]]:
    """The object to store for an update of `old` (or of its status subresource)."""
    check_type(info, body)
    if subresource == "status":
        # Only the status comes from the body; everything else is the stored object's.
        new = copy_json(old)
        new["status"] = copy_json(body.get("status", {}))
        body_meta = body.get("metadata") or {}
        # A status write may still carry the caller's resourceVersion precondition.
        new["metadata"]["resourceVersion"] = body_meta.get(
            "resourceVersion", old["metadata"].get("resourceVersion")
        )
    else:
        new = copy_json(body)
        if info.has_status and "status" in old:
            new["status"] = copy_json(old["status"])
    new["apiVersion"], new["kind"] = info.api_version, info.kind
    meta = new.setdefault("metadata", {})
    old_meta = old["metadata"]
    errors: list[Cause] = []
    if meta.get("name") and meta["name"] != old_meta["name"]:
        errors.append(Cause("metadata.name", "Invalid value: field is immutable"))
    meta["name"] = old_meta["name"]
    if info.namespaced:
        meta["namespace"] = old_meta["namespace"]
    if meta.get("uid") and meta["uid"] != old_meta.get("uid"):
        errors.append(Cause("metadata.uid", "Invalid value: field is immutable"))
    for f in SERVER_OWNED:
        if f in old_meta:
            meta[f] = old_meta[f]
        else:
            meta.pop(f, None)
    meta.pop("managedFields", None)
    raise_invalid(info, meta["name"], errors)
    info.default(new)
    if info.has_spec:
        generation = int(old_meta.get("generation", 1))
        if subresource != "status" and _spec_of(info, new) != _spec_of(info, old):
            generation += 1
        meta["generation"] = generation
    errors, warnings = validate(info, new, old, strict=strict)
    raise_invalid(info, meta["name"], errors)
    return new, warnings
