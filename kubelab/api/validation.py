"""Field validation helpers shared by the kinds, in Kubernetes' words.

Every helper appends `Cause`s to a list and never raises, so one pass reports every problem
with its field path (`spec.containers[1].ports[0].containerPort`). The kinds' own rules live next
to their schema in `kubelab.api.kinds`; `validate_object_meta` covers what all kinds share.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from kubelab.api.errors import Cause
from kubelab.api.quantity import QuantityError, parse_quantity
from kubelab.api.selectors import is_label_key, is_label_value

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
IANA_SVC_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")

Causes = list[Cause]


def required(causes: Causes, path: str) -> None:
    causes.append(Cause(path, "Required value", "FieldValueRequired"))


def invalid(causes: Causes, path: str, value: Any, why: str) -> None:
    causes.append(Cause(path, f"Invalid value: {_fmt(value)}: {why}", "FieldValueInvalid"))


def unsupported(causes: Causes, path: str, value: Any, allowed: Iterable[str]) -> None:
    choices = ", ".join(f'"{a}"' for a in allowed)
    causes.append(
        Cause(
            path,
            f"Unsupported value: {_fmt(value)}: supported values: {choices}",
            "FieldValueNotSupported",
        )
    )


def duplicate(causes: Causes, path: str, value: Any) -> None:
    causes.append(Cause(path, f"Duplicate value: {_fmt(value)}", "FieldValueDuplicate"))


def forbidden(causes: Causes, path: str, why: str) -> None:
    causes.append(Cause(path, f"Forbidden: {why}", "FieldValueForbidden"))


def _fmt(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value) if not isinstance(value, bool) else str(value).lower()


def dns1123_label(causes: Causes, path: str, value: Any) -> None:
    if not isinstance(value, str) or not value:
        required(causes, path)
    elif len(value) > 63 or not DNS1123_LABEL.match(value):
        invalid(
            causes,
            path,
            value,
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
            "'-', and must start and end with an alphanumeric character (e.g. 'my-name', or "
            "'123-abc'), at most 63 characters",
        )


def dns1123_subdomain(causes: Causes, path: str, value: Any) -> None:
    if not isinstance(value, str) or not value:
        required(causes, path)
    elif len(value) > 253 or not DNS1123_SUBDOMAIN.match(value):
        invalid(
            causes,
            path,
            value,
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
            "'-' or '.', and must start and end with an alphanumeric character (e.g. "
            "'example.com'), at most 253 characters",
        )


def port_number(causes: Causes, path: str, value: Any, *, allow_zero: bool = False) -> None:
    low = 0 if allow_zero else 1
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= 65535:
        invalid(causes, path, value, f"must be between {low} and 65535, inclusive")


def port_name(causes: Causes, path: str, value: Any) -> None:
    ok = (
        isinstance(value, str)
        and 0 < len(value) <= 15
        and IANA_SVC_NAME.match(value) is not None
        and "--" not in value
        and any(c.isalpha() for c in value)
    )
    if not ok:
        invalid(
            causes,
            path,
            value,
            "must be no more than 15 characters, contain only lowercase letters, digits and '-', "
            "contain at least one letter, and not start, end or repeat '-'",
        )


def non_negative(causes: Causes, path: str, value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        invalid(causes, path, value, "must be greater than or equal to 0")


def enum(causes: Causes, path: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value is not None and value not in allowed:
        unsupported(causes, path, value, allowed)


def quantity(causes: Causes, path: str, value: Any) -> None:
    try:
        q = parse_quantity(value)
    except QuantityError:
        invalid(
            causes,
            path,
            value,
            "quantities must match the regular expression "
            "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
        )
        return
    if q < 0:
        invalid(causes, path, value, "must be greater than or equal to 0")


def label_map(causes: Causes, path: str, value: Any) -> None:
    if not isinstance(value, dict):
        return
    for k, v in value.items():
        if not is_label_key(k):
            invalid(
                causes,
                path,
                k,
                "name part must consist of alphanumeric characters, '-', '_' or '.', and must "
                "start and end with an alphanumeric character, with an optional DNS subdomain "
                "prefix and '/'",
            )
        if not isinstance(v, str) or not is_label_value(v):
            invalid(
                causes,
                f"{path}[{k}]" if path else k,
                v,
                "a valid label must be an empty string or consist of alphanumeric characters, "
                "'-', '_' or '.', and must start and end with an alphanumeric character, at most "
                "63 characters",
            )


def annotation_map(causes: Causes, path: str, value: Any) -> None:
    if not isinstance(value, dict):
        return
    total = 0
    for k, v in value.items():
        if not is_label_key(k.lower()):
            invalid(causes, path, k, "annotation keys must be qualified names")
        total += len(k) + len(v if isinstance(v, str) else "")
    if total > 256 * 1024:
        invalid(causes, path, "<total>", "annotations may not exceed 262144 bytes")


def validate_object_meta(meta: Any, *, namespaced: bool, name_rule: str = "subdomain") -> Causes:
    causes: Causes = []
    if not isinstance(meta, dict):
        required(causes, "metadata")
        return causes
    name = meta.get("name")
    if not name and not meta.get("generateName"):
        causes.append(
            Cause("metadata.name", "name or generateName is required", "FieldValueRequired")
        )
    elif name:
        if name_rule == "label":
            dns1123_label(causes, "metadata.name", name)
        else:
            dns1123_subdomain(causes, "metadata.name", name)
    ns = meta.get("namespace")
    if namespaced and ns:
        dns1123_label(causes, "metadata.namespace", ns)
    if not namespaced and ns:
        forbidden(causes, "metadata.namespace", "not allowed on this type")
    label_map(causes, "metadata.labels", meta.get("labels"))
    annotation_map(causes, "metadata.annotations", meta.get("annotations"))
    for i, ref in enumerate(meta.get("ownerReferences") or []):
        for f in ("apiVersion", "kind", "name", "uid"):
            if not isinstance(ref, dict) or not ref.get(f):
                required(causes, f"metadata.ownerReferences[{i}].{f}")
    for i, fin in enumerate(meta.get("finalizers") or []):
        if not isinstance(fin, str) or not is_label_key(fin):
            invalid(causes, f"metadata.finalizers[{i}]", fin, "must be a qualified name")
    return causes
