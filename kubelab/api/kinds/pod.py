"""The Pod kind: schema, defaulting, validation, table columns and selectable fields.

Defaulting and validation follow Kubernetes' `core/v1` rules for the fields this lab runs
(containers, ports, env, resources, volumes, tolerations); fields it does not interpret are
kept verbatim (`Free`). Pure functions of the object: nothing here reads a clock or a store.
"""

# ruff: noqa: PLR0912, PLR0915  (validation walks every field of the Kubernetes spec)

from __future__ import annotations

from datetime import datetime
from typing import Any

from kubelab.api import validation as v
from kubelab.api.errors import Cause
from kubelab.api.kind import Column, KindInfo
from kubelab.api.kinds.podparts import (
    ENV_SOURCE,
    PROBE,
    VOLUME,
    default_env_source,
    default_probe,
    default_volume,
    validate_env_source,
    validate_probe,
    validate_volume,
)
from kubelab.api.quantity import QuantityError, parse_quantity
from kubelab.api.schema import STRINGS, Arr, Bool, Free, Int, Map, Obj, Quantity, Str, toplevel
from kubelab.api.tables import AGE, NAME, age, human_duration, parse_time
from kubelab.api.types import Object

RESTART_POLICIES = ("Always", "OnFailure", "Never")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
PROTOCOLS = ("TCP", "UDP", "SCTP")
TOLERATION_OPS = ("Exists", "Equal")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
PHASES = ("Pending", "Running", "Succeeded", "Failed", "Unknown")

RESOURCES = Obj(
    fields={
        "limits": Map("Maximum amount of compute resources allowed.", Quantity()),
        "requests": Map("Minimum amount of compute resources required.", Quantity()),
        "claims": Arr(item=Free()),
    }
)
CONTAINER_PORT = Obj(
    fields={
        "name": Str(),
        "containerPort": Int("Number of port to expose on the pod's IP address."),
        "protocol": Str("Protocol for port: UDP, TCP, or SCTP. Defaults to TCP."),
        "hostPort": Int(),
        "hostIP": Str(),
    }
)
ENV_VAR = Obj(fields={"name": Str(), "value": Str(), "valueFrom": ENV_SOURCE})
VOLUME_MOUNT = Obj(
    fields={
        "name": Str(),
        "mountPath": Str(),
        "readOnly": Bool(),
        "subPath": Str(),
        "subPathExpr": Str(),
        "mountPropagation": Str(),
        "recursiveReadOnly": Str(),
    }
)
CONTAINER = Obj(
    "A single application container that you want to run within a pod.",
    {
        "name": Str("Name of the container specified as a DNS_LABEL."),
        "image": Str("Container image name."),
        "command": Arr("Entrypoint array.", Str()),
        "args": Arr("Arguments to the entrypoint.", Str()),
        "workingDir": Str(),
        "ports": Arr("List of ports to expose from the container.", CONTAINER_PORT),
        "env": Arr("List of environment variables to set in the container.", ENV_VAR),
        "envFrom": Arr(item=Free()),
        "resources": RESOURCES,
        "resizePolicy": Arr(item=Free()),
        "restartPolicy": Str(),
        "volumeMounts": Arr(item=VOLUME_MOUNT),
        "volumeDevices": Arr(item=Free()),
        "livenessProbe": PROBE,
        "readinessProbe": PROBE,
        "startupProbe": PROBE,
        "lifecycle": Free(),
        "terminationMessagePath": Str(),
        "terminationMessagePolicy": Str(),
        "imagePullPolicy": Str("Image pull policy: Always, Never, IfNotPresent."),
        "securityContext": Free(),
        "stdin": Bool(),
        "stdinOnce": Bool(),
        "tty": Bool(),
    },
)
TOLERATION = Obj(
    fields={
        "key": Str(),
        "operator": Str(),
        "value": Str(),
        "effect": Str(),
        "tolerationSeconds": Int(),
    }
)
POD_SPEC = Obj(
    "Specification of the desired behavior of the pod.",
    {
        "containers": Arr("List of containers belonging to the pod.", CONTAINER),
        "initContainers": Arr(item=CONTAINER),
        "ephemeralContainers": Arr(item=Free()),
        "volumes": Arr(item=VOLUME),
        "restartPolicy": Str("Restart policy for all containers within the pod."),
        "terminationGracePeriodSeconds": Int(),
        "activeDeadlineSeconds": Int(),
        "dnsPolicy": Str(),
        "dnsConfig": Free(),
        "nodeSelector": STRINGS,
        "serviceAccountName": Str(),
        "serviceAccount": Str(),
        "automountServiceAccountToken": Bool(),
        "nodeName": Str("The node this pod is bound to."),
        "hostNetwork": Bool(),
        "hostPID": Bool(),
        "hostIPC": Bool(),
        "shareProcessNamespace": Bool(),
        "securityContext": Free(),
        "imagePullSecrets": Arr(item=Free()),
        "hostname": Str(),
        "subdomain": Str(),
        "setHostnameAsFQDN": Bool(),
        "affinity": Free(),
        "schedulerName": Str(),
        "tolerations": Arr(item=TOLERATION),
        "hostAliases": Arr(item=Free()),
        "priorityClassName": Str(),
        "priority": Int(),
        "preemptionPolicy": Str(),
        "readinessGates": Arr(item=Free()),
        "runtimeClassName": Str(),
        "enableServiceLinks": Bool(),
        "overhead": Map(value=Quantity()),
        "topologySpreadConstraints": Arr(item=Free()),
        "os": Free(),
        "hostUsers": Bool(),
        "schedulingGates": Arr(item=Free()),
        "resourceClaims": Arr(item=Free()),
        "resources": RESOURCES,
    },
)
POD_SCHEMA = toplevel("Pod is a collection of containers that can run on a host.", POD_SPEC, Free())

DEFAULT_TOLERATIONS = (
    ("node.kubernetes.io/not-ready", 300),
    ("node.kubernetes.io/unreachable", 300),
)


def _image_pull_policy(image: str) -> str:
    last = image.rsplit("/", 1)[-1]
    if "@" in last:
        return "IfNotPresent"
    tag = last.split(":", 1)[1] if ":" in last else ""
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def default_container(c: dict[str, Any]) -> None:
    if isinstance(c.get("image"), str) and "imagePullPolicy" not in c:
        c["imagePullPolicy"] = _image_pull_policy(c["image"])
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    res = c.setdefault("resources", {})
    if isinstance(res, dict) and isinstance(res.get("limits"), dict):
        requests = res.setdefault("requests", {})
        if isinstance(requests, dict):
            for name, qty in res["limits"].items():
                requests.setdefault(name, qty)
    for port in c.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        default_probe(c.get(probe))
    for env in c.get("env") or []:
        if isinstance(env, dict):
            default_env_source(env.get("valueFrom"))


def default_pod_spec(spec: dict[str, Any]) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault("priority", 0)
    sa = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    spec["serviceAccountName"] = sa
    spec["serviceAccount"] = sa
    for key in ("containers", "initContainers"):
        for c in spec.get(key) or []:
            if isinstance(c, dict):
                default_container(c)
    for vol in spec.get("volumes") or []:
        default_volume(vol)
    tolerations = spec.setdefault("tolerations", [])
    if isinstance(tolerations, list):
        present = {t.get("key") for t in tolerations if isinstance(t, dict)}
        for key, seconds in DEFAULT_TOLERATIONS:
            if key not in present:
                tolerations.append(
                    {
                        "key": key,
                        "operator": "Exists",
                        "effect": "NoExecute",
                        "tolerationSeconds": seconds,
                    }
                )


def qos_class(spec: dict[str, Any]) -> str:
    containers = [c for c in spec.get("containers") or [] if isinstance(c, dict)]
    any_set, guaranteed = False, bool(containers)
    for c in containers:
        res = c.get("resources") or {}
        limits, requests = res.get("limits") or {}, res.get("requests") or {}
        if limits or requests:
            any_set = True
        for name in ("cpu", "memory"):
            if name not in limits or requests.get(name, limits.get(name)) != limits.get(name):
                guaranteed = False
    if guaranteed:
        return "Guaranteed"
    return "Burstable" if any_set else "BestEffort"


def default_pod(pod: Object) -> None:
    spec = pod.setdefault("spec", {})
    if isinstance(spec, dict):
        default_pod_spec(spec)
        status = pod.setdefault("status", {})
        if isinstance(status, dict):
            status.setdefault("phase", "Pending")
            status.setdefault("qosClass", qos_class(spec))


def _validate_resources(causes: v.Causes, path: str, res: Any) -> None:
    if not isinstance(res, dict):
        return
    for section in ("limits", "requests"):
        for name, qty in (res.get(section) or {}).items():
            v.quantity(causes, f"{path}.{section}[{name}]", qty)
    limits, requests = res.get("limits") or {}, res.get("requests") or {}
    for name, req in requests.items():
        if name in limits:
            try:
                if parse_quantity(req) > parse_quantity(limits[name]):
                    v.invalid(
                        causes,
                        f"{path}.requests",
                        str(req),
                        f"must be less than or equal to {name} limit of {limits[name]}",
                    )
            except QuantityError:
                pass


def validate_container(
    causes: v.Causes, path: str, c: Any, names: set[str], volumes: set[str]
) -> None:
    if not isinstance(c, dict):
        return
    name = c.get("name")
    v.dns1123_label(causes, f"{path}.name", name)
    if isinstance(name, str) and name:
        if name in names:
            v.duplicate(causes, f"{path}.name", name)
        names.add(name)
    image = c.get("image")
    if not isinstance(image, str) or not image.strip():
        v.required(causes, f"{path}.image")
    v.enum(causes, f"{path}.imagePullPolicy", c.get("imagePullPolicy"), PULL_POLICIES)
    port_names: set[str] = set()
    for i, port in enumerate(c.get("ports") or []):
        p = f"{path}.ports[{i}]"
        if not isinstance(port, dict):
            continue
        if "containerPort" not in port:
            v.required(causes, f"{p}.containerPort")
        else:
            v.port_number(causes, f"{p}.containerPort", port["containerPort"])
        if "hostPort" in port:
            v.port_number(causes, f"{p}.hostPort", port["hostPort"], allow_zero=True)
        v.enum(causes, f"{p}.protocol", port.get("protocol"), PROTOCOLS)
        if port.get("name") is not None:
            v.port_name(causes, f"{p}.name", port["name"])
            if port["name"] in port_names:
                v.duplicate(causes, f"{p}.name", port["name"])
            port_names.add(port["name"])
    for probe, liveness_like in (
        ("livenessProbe", True),
        ("readinessProbe", False),
        ("startupProbe", True),
    ):
        validate_probe(
            causes, f"{path}.{probe}", c.get(probe), port_names, liveness_like=liveness_like
        )
    for i, env in enumerate(c.get("env") or []):
        if isinstance(env, dict):
            ename = env.get("name")
            if not isinstance(ename, str) or not ename:
                v.required(causes, f"{path}.env[{i}].name")
            elif "=" in ename:
                v.invalid(causes, f"{path}.env[{i}].name", ename, "must not contain '='")
            validate_env_source(causes, f"{path}.env[{i}].valueFrom", env.get("valueFrom"))
            if "value" in env and "valueFrom" in env:
                v.invalid(
                    causes,
                    f"{path}.env[{i}].valueFrom",
                    "",
                    "may not be specified when `value` is not empty",
                )
    _validate_resources(causes, f"{path}.resources", c.get("resources"))
    mount_paths: set[str] = set()
    for i, m in enumerate(c.get("volumeMounts") or []):
        if not isinstance(m, dict):
            continue
        mp = f"{path}.volumeMounts[{i}]"
        if not m.get("name"):
            v.required(causes, f"{mp}.name")
        elif m["name"] not in volumes:
            causes.append(Cause(f"{mp}.name", f'Not found: "{m["name"]}"', "FieldValueNotFound"))
        if not m.get("mountPath"):
            v.required(causes, f"{mp}.mountPath")
        elif m["mountPath"] in mount_paths:
            v.invalid(causes, f"{mp}.mountPath", m["mountPath"], "must be unique")
        else:
            mount_paths.add(m["mountPath"])
        sub = m.get("subPath")
        if isinstance(sub, str) and sub:
            if sub.startswith("/"):
                v.invalid(causes, f"{mp}.subPath", sub, "must be a relative path")
            elif ".." in sub.split("/"):
                v.invalid(causes, f"{mp}.subPath", sub, "must not contain '..'")


def validate_pod_spec(spec: Any, path: str = "spec") -> v.Causes:
    causes: v.Causes = []
    if not isinstance(spec, dict):
        v.required(causes, path)
        return causes
    volumes: set[str] = set()
    for i, vol in enumerate(spec.get("volumes") or []):
        vname = vol.get("name") if isinstance(vol, dict) else None
        v.dns1123_label(causes, f"{path}.volumes[{i}].name", vname)
        validate_volume(causes, f"{path}.volumes[{i}]", vol)
        if isinstance(vname, str) and vname:
            if vname in volumes:
                v.duplicate(causes, f"{path}.volumes[{i}].name", vname)
            volumes.add(vname)
    containers = spec.get("containers")
    if not containers:
        v.required(causes, f"{path}.containers")
    names: set[str] = set()
    for key in ("initContainers", "containers"):
        for i, c in enumerate(spec.get(key) or []):
            validate_container(causes, f"{path}.{key}[{i}]", c, names, volumes)
    v.enum(causes, f"{path}.restartPolicy", spec.get("restartPolicy"), RESTART_POLICIES)
    v.enum(causes, f"{path}.dnsPolicy", spec.get("dnsPolicy"), DNS_POLICIES)
    v.non_negative(
        causes, f"{path}.terminationGracePeriodSeconds", spec.get("terminationGracePeriodSeconds")
    )
    ads = spec.get("activeDeadlineSeconds")
    if ads is not None and (not isinstance(ads, int) or ads <= 0):
        v.invalid(causes, f"{path}.activeDeadlineSeconds", ads, "must be greater than 0")
    v.label_map(causes, f"{path}.nodeSelector", spec.get("nodeSelector"))
    if spec.get("nodeName"):
        v.dns1123_subdomain(causes, f"{path}.nodeName", spec["nodeName"])
    if spec.get("serviceAccountName"):
        v.dns1123_subdomain(causes, f"{path}.serviceAccountName", spec["serviceAccountName"])
    for i, t in enumerate(spec.get("tolerations") or []):
        if not isinstance(t, dict):
            continue
        tp = f"{path}.tolerations[{i}]"
        v.enum(causes, f"{tp}.operator", t.get("operator"), TOLERATION_OPS)
        v.enum(causes, f"{tp}.effect", t.get("effect") or None, TAINT_EFFECTS)
        if t.get("operator") == "Exists" and t.get("value"):
            v.invalid(
                causes,
                f"{tp}.operator",
                t["value"],
                "value must be empty when `operator` is 'Exists'",
            )
        if not t.get("key") and t.get("operator", "Equal") != "Exists":
            v.invalid(
                causes,
                f"{tp}.operator",
                t.get("operator", "Equal"),
                "operator must be Exists when `key` is empty, which means "
                '"match all values and all keys"',
            )
    return causes


def validate_pod(pod: Object) -> list[Cause]:
    causes = validate_pod_spec(pod.get("spec"))
    status = pod.get("status")
    if isinstance(status, dict):
        v.enum(causes, "status.phase", status.get("phase"), PHASES)
    return causes


MUTABLE_SPEC = ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds")


def _without_mutable(spec: dict[str, Any]) -> dict[str, Any]:
    out = {k: val for k, val in spec.items() if k not in MUTABLE_SPEC}
    for key in ("containers", "initContainers"):
        if isinstance(out.get(key), list):
            out[key] = [
                {k: val for k, val in c.items() if k != "image"} if isinstance(c, dict) else c
                for c in out[key]
            ]
    return out


def validate_pod_update(new: Object, old: Object) -> list[Cause]:
    causes: list[Cause] = []
    new_spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
    if old_spec.get("nodeName") and new_spec.get("nodeName") != old_spec.get("nodeName"):
        v.forbidden(causes, "spec.nodeName", "may not be changed once set")
    if _without_mutable(new_spec) != _without_mutable(old_spec) and not causes:
        v.forbidden(
            causes,
            "spec",
            "pod updates may not change fields other than `spec.containers[*].image`, "
            "`spec.initContainers[*].image`, `spec.activeDeadlineSeconds`, "
            "`spec.tolerations` (only additions to existing tolerations), "
            "`spec.terminationGracePeriodSeconds`",
        )
    return causes


def ready_cell(pod: Object, now: datetime) -> str:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    total = len((pod.get("spec") or {}).get("containers") or [])
    ready = sum(1 for s in statuses if s.get("ready"))
    return f"{ready}/{total}"


def status_cell(pod: Object, now: datetime) -> str:
    status = pod.get("status") or {}
    reason = status.get("reason") or status.get("phase") or "Pending"
    init_statuses = status.get("initContainerStatuses") or []
    for i, cs in enumerate(init_statuses):
        state = cs.get("state") or {}
        term = state.get("terminated")
        if term and term.get("exitCode") == 0:
            continue
        if term:
            reason = "Init:" + (term.get("reason") or f"ExitCode:{term.get('exitCode')}")
        elif (state.get("waiting") or {}).get("reason", "PodInitializing") != "PodInitializing":
            reason = "Init:" + state["waiting"]["reason"]
        else:
            reason = f"Init:{i}/{len(init_statuses)}"
        break
    else:
        running = False
        for cs in reversed(status.get("containerStatuses") or []):
            state = cs.get("state") or {}
            if (state.get("waiting") or {}).get("reason"):
                reason = state["waiting"]["reason"]
            elif (state.get("terminated") or {}).get("reason"):
                reason = state["terminated"]["reason"]
            elif state.get("terminated"):
                term = state["terminated"]
                sig = term.get("signal")
                reason = f"Signal:{sig}" if sig else f"ExitCode:{term.get('exitCode')}"
            elif cs.get("ready") and state.get("running"):
                running = True
        if reason == "Completed" and running:
            reason = "Running"
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        reason = "Unknown" if status.get("reason") == "NodeLost" else "Terminating"
    return str(reason)


def restarts_cell(pod: Object, now: datetime) -> str:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    count = sum(int(s.get("restartCount", 0)) for s in statuses)
    last = None
    for s in statuses:
        finished = parse_time(
            ((s.get("lastState") or {}).get("terminated") or {}).get("finishedAt")
        )
        if finished and (last is None or finished > last):
            last = finished
    if count and last is not None:
        return f"{count} ({human_duration((now - last).total_seconds())} ago)"
    return str(count)


def _ip(pod: Object, now: datetime) -> str:
    return str((pod.get("status") or {}).get("podIP") or "<none>")


def _node(pod: Object, now: datetime) -> str:
    return str((pod.get("spec") or {}).get("nodeName") or "<none>")


def _nominated(pod: Object, now: datetime) -> str:
    return str((pod.get("status") or {}).get("nominatedNodeName") or "<none>")


def _gates(pod: Object, now: datetime) -> str:
    gates = (pod.get("spec") or {}).get("readinessGates") or []
    if not gates:
        return "<none>"
    conds = {
        c.get("type"): c.get("status") for c in (pod.get("status") or {}).get("conditions") or []
    }
    ready = sum(1 for g in gates if conds.get(g.get("conditionType")) == "True")
    return f"{ready}/{len(gates)}"


def pod_fields(pod: Object) -> dict[str, str]:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    return {
        "spec.nodeName": str(spec.get("nodeName") or ""),
        "spec.restartPolicy": str(spec.get("restartPolicy") or ""),
        "spec.schedulerName": str(spec.get("schedulerName") or ""),
        "spec.serviceAccountName": str(spec.get("serviceAccountName") or ""),
        "spec.hostNetwork": str(bool(spec.get("hostNetwork"))).lower(),
        "status.phase": str(status.get("phase") or ""),
        "status.podIP": str(status.get("podIP") or ""),
        "status.nominatedNodeName": str(status.get("nominatedNodeName") or ""),
    }


POD = KindInfo(
    kind="Pod",
    resource="pods",
    singular="pod",
    short_names=("po",),
    categories=("all",),
    schema=POD_SCHEMA,
    default=default_pod,
    validate=validate_pod,
    validate_update=validate_pod_update,
    columns=(
        NAME,
        Column("Ready", ready_cell, description="The aggregate readiness state of this pod."),
        Column("Status", status_cell, description="The aggregate status of the containers."),
        Column(
            "Restarts", restarts_cell, description="The number of times the containers restarted."
        ),
        Column("Age", age, description="CreationTimestamp of the object."),
        Column("IP", _ip, priority=1, description="IP address assigned to the pod."),
        Column("Node", _node, priority=1, description="Name of the node the pod is on."),
        Column("Nominated Node", _nominated, priority=1, description="Nominated node."),
        Column("Readiness Gates", _gates, priority=1, description="Readiness gates."),
    ),
    selectable_fields=pod_fields,
    subresources=("status", "binding", "log", "exec", "eviction"),
    graceful_delete=True,
    reset_status_on_create=True,
    description="Pod is a collection of containers that can run on a host.",
)
_ = AGE
