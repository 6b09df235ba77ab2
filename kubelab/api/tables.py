"""Server-side Tables (`meta.k8s.io/v1 Table`), the format `kubectl get` prints.

`table(info, objects, now)` is pure: the clock is a parameter. Cells follow kubectl's own
printers (ages like `5m`, `3h12m`, `2d`); kinds without columns get NAME and AGE.
"""

# ruff: noqa: PLR0911  (one return per duration range, as kubectl prints them)

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kubelab.api.kind import Column, KindInfo
from kubelab.api.types import Object, meta


def parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def format_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_micro_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def human_duration(seconds: float) -> str:
    """kubectl's HumanDuration: 45s, 3m20s, 42m, 5h3m, 30h, 3d4h, 120d, 2y45d."""
    s = int(seconds)
    if s < 0:
        return "<invalid>"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    years = days // 365
    if years < 8:
        return f"{years}y{days % 365}d" if days % 365 else f"{years}y"
    return f"{years}y"


def age(obj: Object, now: datetime) -> str:
    created = parse_time(meta(obj).get("creationTimestamp"))
    if created is None:
        return "<unknown>"
    return human_duration((now - created).total_seconds())


def name_cell(obj: Object, now: datetime) -> str:
    return str(meta(obj).get("name", ""))


NAME = Column(
    "Name", name_cell, format="name", description="Name must be unique within a namespace."
)
AGE = Column("Age", age, type="string", description="CreationTimestamp of the object.")


def columns_of(info: KindInfo) -> tuple[Column, ...]:
    return info.columns or (NAME, AGE)


def table(
    info: KindInfo,
    objects: list[Object],
    now: datetime,
    *,
    include_object: str = "Metadata",
    resource_version: str = "",
    continue_token: str = "",
) -> Object:
    cols = columns_of(info)
    rows = [row(info, obj, now, include_object=include_object) for obj in objects]
    list_meta: dict[str, Any] = {}
    if resource_version:
        list_meta["resourceVersion"] = resource_version
    if continue_token:
        list_meta["continue"] = continue_token
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": [c.definition() for c in cols],
        "rows": rows,
    }


def row(info: KindInfo, obj: Object, now: datetime, *, include_object: str) -> Object:
    cells = [c.cell(obj, now) for c in columns_of(info)]
    out: Object = {"cells": cells}
    if include_object == "Object":
        out["object"] = obj
    elif include_object != "None":
        out["object"] = {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": meta(obj),
        }
    return out
