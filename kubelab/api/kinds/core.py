"""The small core kinds: Namespace, Node, Event, ConfigMap, Secret, ServiceAccount, Lease.

Each is one `KindInfo` value; see `kubelab.api.kind` for what the fields mean.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

from kubelab.api import validation as v
from kubelab.api.errors import Cause
from kubelab.api.kind import Column, KindInfo
from kubelab.api.schema import STRINGS, Arr, Bool, Free, Int, Map, Obj, Quantity, Str, toplevel
from kubelab.api.tables import AGE, NAME, age, human_duration, parse_time
from kubelab.api.types import Object

# --- Namespace ---------------------------------------------------------------------------------


def default_namespace(ns: Object) -> None:
    spec = ns.setdefault("spec", {})
    if isinstance(spec, dict):
        spec.setdefault("finalizers", ["kubernetes"])
    status = ns.setdefault("status", {})
    if isinstance(status, dict):
        status.setdefault("phase", "Active")
    labels = ns.setdefault("metadata", {}).setdefault("labels", {})
    if isinstance(labels, dict) and ns["metadata"].get("name"):
        labels["kubernetes.io/metadata.name"] = ns["metadata"]["name"]


NAMESPACE = KindInfo(
    kind="Namespace",
    resource="namespaces",
    singular="namespace",
    namespaced=False,
    short_names=("ns",),
    name_rule="label",
    schema=toplevel(
        "Namespace provides a scope for Names.",
        Obj(fields={"finalizers": Arr(item=Str())}),
        Obj(fields={"phase": Str(), "conditions": Arr(item=Free())}),
    ),
    default=default_namespace,
    columns=(
        NAME,
        Column(
            "Status",
            lambda o, now: str((o.get("status") or {}).get("phase", "")),
            description="The status of the namespace",
        ),
        AGE,
    ),
    selectable_fields=lambda o: {"status.phase": str((o.get("status") or {}).get("phase", ""))},
    subresources=("status", "finalize"),
    reset_status_on_create=True,
    description="Namespace provides a scope for Names.",
)

# --- Node ----------------------------------------------------------------------------------------

TAINT = Obj(fields={"key": Str(), "value": Str(), "effect": Str(), "timeAdded": Str()})
NODE_SPEC = Obj(
    fields={
        "podCIDR": Str(),
        "podCIDRs": Arr(item=Str()),
        "providerID": Str(),
        "unschedulable": Bool(),
        "taints": Arr(item=TAINT),
        "configSource": Free(),
        "externalID": Str(),
    }
)
NODE_STATUS = Obj(
    fields={
        "capacity": Map(value=Quantity()),
        "allocatable": Map(value=Quantity()),
        "phase": Str(),
        "conditions": Arr(item=Free()),
        "addresses": Arr(item=Obj(fields={"type": Str(), "address": Str()})),
        "daemonEndpoints": Free(),
        "nodeInfo": Free(),
        "images": Arr(item=Free()),
        "volumesInUse": Arr(item=Str()),
        "volumesAttached": Arr(item=Free()),
        "config": Free(),
        "runtimeHandlers": Arr(item=Free()),
        "features": Free(),
    }
)


def validate_node(node: Object) -> list[Cause]:
    causes: list[Cause] = []
    spec = node.get("spec") or {}
    for i, t in enumerate(spec.get("taints") or []):
        if not isinstance(t, dict):
            continue
        if not t.get("key"):
            v.required(causes, f"spec.taints[{i}].key")
        if not t.get("effect"):
            v.required(causes, f"spec.taints[{i}].effect")
        else:
            v.enum(
                causes,
                f"spec.taints[{i}].effect",
                t["effect"],
                ("NoSchedule", "PreferNoSchedule", "NoExecute"),
            )
    status = node.get("status") or {}
    for section in ("capacity", "allocatable"):
        for name, qty in (status.get(section) or {}).items():
            v.quantity(causes, f"status.{section}[{name}]", qty)
    return causes


def node_status_cell(node: Object, now: datetime) -> str:
    conds = (node.get("status") or {}).get("conditions") or []
    ready = next((c for c in conds if c.get("type") == "Ready"), None)
    text = "Unknown"
    if ready is not None:
        text = {"True": "Ready", "False": "NotReady"}.get(ready.get("status"), "Unknown")
    if (node.get("spec") or {}).get("unschedulable"):
        text += ",SchedulingDisabled"
    return text


def node_roles(node: Object, now: datetime) -> str:
    labels = (node.get("metadata") or {}).get("labels") or {}
    roles = sorted(
        k.split("/", 1)[1]
        for k in labels
        if k.startswith("node-role.kubernetes.io/") and k.split("/", 1)[1]
    )
    if labels.get("kubernetes.io/role"):
        roles.append(labels["kubernetes.io/role"])
    return ",".join(roles) if roles else "<none>"


def _address(kind: str) -> Any:
    def cell(node: Object, now: datetime) -> str:
        for a in (node.get("status") or {}).get("addresses") or []:
            if a.get("type") == kind:
                return str(a.get("address"))
        return "<none>"

    return cell


def _info(field: str) -> Any:
    def cell(node: Object, now: datetime) -> str:
        return str(((node.get("status") or {}).get("nodeInfo") or {}).get(field) or "<unknown>")

    return cell


NODE = KindInfo(
    kind="Node",
    resource="nodes",
    singular="node",
    namespaced=False,
    short_names=("no",),
    schema=toplevel("Node is a worker node in the cluster.", NODE_SPEC, NODE_STATUS),
    validate=validate_node,
    columns=(
        NAME,
        Column("Status", node_status_cell, description="The status of the node"),
        Column("Roles", node_roles, description="The roles of the node"),
        AGE,
        Column("Version", _info("kubeletVersion"), description="Kubelet Version"),
        Column("Internal-IP", _address("InternalIP"), priority=1),
        Column("External-IP", _address("ExternalIP"), priority=1),
        Column("OS-Image", _info("osImage"), priority=1),
        Column("Kernel-Version", _info("kernelVersion"), priority=1),
        Column("Container-Runtime", _info("containerRuntimeVersion"), priority=1),
    ),
    selectable_fields=lambda o: {
        "spec.unschedulable": str(bool((o.get("spec") or {}).get("unschedulable"))).lower()
    },
    subresources=("status", "proxy"),
    description="Node is a worker node in the cluster.",
)

# --- Event ---------------------------------------------------------------------------------------

OBJECT_REFERENCE = Obj(
    fields={
        "kind": Str(),
        "namespace": Str(),
        "name": Str(),
        "uid": Str(),
        "apiVersion": Str(),
        "resourceVersion": Str(),
        "fieldPath": Str(),
    }
)


def default_event(ev: Object) -> None:
    ev.setdefault("type", "Normal")
    ev.setdefault("count", 1)
    ev.setdefault("source", {})
    ev.setdefault("reportingComponent", "")
    ev.setdefault("reportingInstance", "")


def validate_event(ev: Object) -> list[Cause]:
    causes: list[Cause] = []
    ref = ev.get("involvedObject")
    if not isinstance(ref, dict) or not ref:
        v.required(causes, "involvedObject")
    v.enum(causes, "type", ev.get("type"), ("Normal", "Warning"))
    return causes


def event_fields(ev: Object) -> dict[str, str]:
    ref = ev.get("involvedObject") or {}
    fields = {f"involvedObject.{k}": str(ref.get(k) or "") for k in OBJECT_REFERENCE.fields}
    fields.update(
        {
            "reason": str(ev.get("reason") or ""),
            "reportingComponent": str(ev.get("reportingComponent") or ""),
            "source": str((ev.get("source") or {}).get("component") or ""),
            "type": str(ev.get("type") or ""),
        }
    )
    return fields


def last_seen(ev: Object, now: datetime) -> str:
    when = parse_time(ev.get("lastTimestamp") or ev.get("eventTime") or ev.get("firstTimestamp"))
    if when is None:
        when = parse_time((ev.get("metadata") or {}).get("creationTimestamp"))
    return human_duration((now - when).total_seconds()) if when else "<unknown>"


def event_object(ev: Object, now: datetime) -> str:
    ref = ev.get("involvedObject") or {}
    return f"{str(ref.get('kind', '')).lower()}/{ref.get('name', '')}"


EVENT = KindInfo(
    kind="Event",
    resource="events",
    singular="event",
    short_names=("ev",),
    schema=toplevel(
        "Event is a report of an event somewhere in the cluster.",
        involvedObject=OBJECT_REFERENCE,
        reason=Str(),
        message=Str(),
        source=Obj(fields={"component": Str(), "host": Str()}),
        firstTimestamp=Str(),
        lastTimestamp=Str(),
        count=Int(),
        type=Str(),
        eventTime=Free(),
        series=Free(),
        action=Str(),
        related=OBJECT_REFERENCE,
        reportingComponent=Str(),
        reportingInstance=Str(),
    ),
    default=default_event,
    validate=validate_event,
    has_spec=False,
    columns=(
        Column("Last Seen", last_seen),
        Column("Type", lambda o, now: str(o.get("type", ""))),
        Column("Reason", lambda o, now: str(o.get("reason", ""))),
        Column("Object", event_object),
        Column("Message", lambda o, now: str(o.get("message", ""))),
    ),
    selectable_fields=event_fields,
    description="Event is a report of an event somewhere in the cluster.",
)

# --- ConfigMap, Secret, ServiceAccount -----------------------------------------------------------


def _validate_keys(causes: list[Cause], path: str, data: Any) -> None:
    if not isinstance(data, dict):
        return
    for key in data:
        if not isinstance(key, str) or len(key) > 253 or not v.CONFIG_KEY.match(key):
            v.invalid(
                causes,
                path,
                key,
                "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
            )


def validate_configmap(cm: Object) -> list[Cause]:
    causes: list[Cause] = []
    _validate_keys(causes, "data", cm.get("data"))
    _validate_keys(causes, "binaryData", cm.get("binaryData"))
    for key in set(cm.get("data") or {}) & set(cm.get("binaryData") or {}):
        v.duplicate(causes, "data", key)
    for key, val in (cm.get("binaryData") or {}).items():
        _base64(causes, f"binaryData[{key}]", val)
    return causes


def _base64(causes: list[Cause], path: str, val: Any) -> None:
    try:
        base64.b64decode(str(val), validate=True)
    except (binascii.Error, ValueError):
        v.invalid(causes, path, "<value>", "illegal base64 data")


def validate_immutable(new: Object, old: Object) -> list[Cause]:
    causes: list[Cause] = []
    if old.get("immutable"):
        for f in ("data", "binaryData", "stringData"):
            if (new.get(f) or {}) != (old.get(f) or {}):
                v.forbidden(causes, f, "field is immutable when `immutable` is set")
        if not new.get("immutable"):
            v.forbidden(causes, "immutable", "field is immutable when `immutable` is set")
    return causes


CONFIGMAP = KindInfo(
    kind="ConfigMap",
    resource="configmaps",
    singular="configmap",
    short_names=("cm",),
    schema=toplevel(
        "ConfigMap holds configuration data for pods to consume.",
        data=STRINGS,
        binaryData=STRINGS,
        immutable=Bool(),
    ),
    validate=validate_configmap,
    validate_update=validate_immutable,
    has_spec=False,
    columns=(
        NAME,
        Column(
            "Data",
            lambda o, now: len(o.get("data") or {}) + len(o.get("binaryData") or {}),
            type="integer",
        ),
        AGE,
    ),
    description="ConfigMap holds configuration data for pods to consume.",
)


def default_secret(secret: Object) -> None:
    if not secret.get("type"):
        secret["type"] = "Opaque"
    string_data = secret.pop("stringData", None)
    if isinstance(string_data, dict):
        data = secret.setdefault("data", {})
        for key, val in string_data.items():
            data[key] = base64.b64encode(str(val).encode()).decode()


def validate_secret(secret: Object) -> list[Cause]:
    causes: list[Cause] = []
    _validate_keys(causes, "data", secret.get("data"))
    for key, val in (secret.get("data") or {}).items():
        _base64(causes, f"data[{key}]", val)
    return causes


SECRET = KindInfo(
    kind="Secret",
    resource="secrets",
    singular="secret",
    schema=toplevel(
        "Secret holds secret data of a certain type.",
        data=STRINGS,
        stringData=STRINGS,
        type=Str(),
        immutable=Bool(),
    ),
    default=default_secret,
    validate=validate_secret,
    validate_update=validate_immutable,
    has_spec=False,
    columns=(
        NAME,
        Column("Type", lambda o, now: str(o.get("type", ""))),
        Column("Data", lambda o, now: len(o.get("data") or {}), type="integer"),
        AGE,
    ),
    selectable_fields=lambda o: {"type": str(o.get("type", ""))},
    description="Secret holds secret data of a certain type.",
)

SERVICE_ACCOUNT = KindInfo(
    kind="ServiceAccount",
    resource="serviceaccounts",
    singular="serviceaccount",
    short_names=("sa",),
    schema=toplevel(
        "ServiceAccount binds together a name, a principal and a set of secrets.",
        secrets=Arr(item=OBJECT_REFERENCE),
        imagePullSecrets=Arr(item=Obj(fields={"name": Str()})),
        automountServiceAccountToken=Bool(),
    ),
    has_spec=False,
    columns=(
        NAME,
        Column("Secrets", lambda o, now: len(o.get("secrets") or []), type="integer"),
        AGE,
    ),
    description="ServiceAccount binds together a name, a principal and a set of secrets.",
)

# --- Lease (coordination.k8s.io/v1) -------------------------------------------------------------


def validate_lease(lease: Object) -> list[Cause]:
    causes: list[Cause] = []
    spec = lease.get("spec") or {}
    dur = spec.get("leaseDurationSeconds")
    if dur is not None and (not isinstance(dur, int) or dur <= 0):
        v.invalid(causes, "spec.leaseDurationSeconds", dur, "must be greater than 0")
    v.non_negative(causes, "spec.leaseTransitions", spec.get("leaseTransitions"))
    for f in ("acquireTime", "renewTime"):
        if spec.get(f) is not None and parse_time(spec[f]) is None:
            v.invalid(causes, f"spec.{f}", spec[f], "must be an RFC 3339 time with microseconds")
    return causes


LEASE = KindInfo(
    kind="Lease",
    resource="leases",
    singular="lease",
    group="coordination.k8s.io",
    schema=toplevel(
        "Lease defines a lease concept.",
        Obj(
            fields={
                "holderIdentity": Str(),
                "leaseDurationSeconds": Int(),
                "acquireTime": Str(),
                "renewTime": Str(),
                "leaseTransitions": Int(),
                "strategy": Str(),
                "preferredHolder": Str(),
            }
        ),
    ),
    validate=validate_lease,
    columns=(
        NAME,
        Column("Holder", lambda o, now: str((o.get("spec") or {}).get("holderIdentity") or "")),
        AGE,
    ),
    description="Lease defines a lease concept.",
)

_ = age
