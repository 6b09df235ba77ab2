"""A container's environment: image env, then `envFrom`, then `env` (later wins), as Kubernetes.

Pure apart from the `ConfigLookup` it is given (the API client's cache, or the static-pod
directory). `$(VAR)` references to earlier variables are expanded; `$$` escapes a dollar.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any, Protocol

from node_agent.kubelet.errors import ConfigError
from node_agent.kubelet.spec import ContainerSpec, PodSpec

Object = dict[str, Any]


class ConfigLookup(Protocol):
    def get(self, kind: str, namespace: str, name: str) -> Object | None:
        """The ConfigMap or Secret object, or None when it does not exist."""


class NoConfig:
    def get(self, kind: str, namespace: str, name: str) -> Object | None:
        return None


def object_data(obj: Object) -> dict[str, str]:
    """Key -> text of a ConfigMap (data) or Secret (base64 data, or stringData)."""
    if obj.get("kind") == "Secret":
        out = {
            k: base64.b64decode(v).decode(errors="replace")
            for k, v in (obj.get("data") or {}).items()
        }
        out.update({k: str(v) for k, v in (obj.get("stringData") or {}).items()})
        return out
    return {k: str(v) for k, v in (obj.get("data") or {}).items()}


_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)|\$\$")


def expand(text: str, env: Mapping[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        return env.get(name, m.group(0))

    return _REF.sub(sub, text)


def _field_ref(path: str, pod: PodSpec, pod_ip: str, host_ip: str) -> str:
    meta = pod.raw.get("metadata", {})
    values = {
        "metadata.name": pod.name,
        "metadata.namespace": pod.namespace,
        "metadata.uid": pod.uid,
        "spec.nodeName": pod.node_name,
        "spec.serviceAccountName": str(pod.raw.get("spec", {}).get("serviceAccountName", "")),
        "status.podIP": pod_ip,
        "status.hostIP": host_ip,
    }
    if path in values:
        return values[path]
    m = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if m:
        return str((meta.get(m.group(1)) or {}).get(m.group(2), ""))
    raise ConfigError(f"valueFrom.fieldRef.fieldPath: unsupported value {path!r}")


def resolve_env(
    pod: PodSpec,
    c: ContainerSpec,
    image_env: Mapping[str, str],
    lookup: ConfigLookup,
    *,
    pod_ip: str,
    host_ip: str,
) -> dict[str, str]:
    env: dict[str, str] = dict(image_env)
    for src in c.env_from:
        kind = "ConfigMap" if src.kind == "configMap" else "Secret"
        obj = lookup.get(kind, pod.namespace, src.name)
        if obj is None:
            if src.optional:
                continue
            raise ConfigError(f'{kind.lower()} "{src.name}" not found')
        for k, v in object_data(obj).items():
            env[src.prefix + k] = v
    for var in c.env:
        if var.value is not None or var.value_from is None:
            env[var.name] = expand(var.value or "", env)
            continue
        found = _value_from(
            pod, c, var.name, var.value_from, lookup, pod_ip=pod_ip, host_ip=host_ip
        )
        if found is not None:
            env[var.name] = found
    return env


def _value_from(
    pod: PodSpec,
    c: ContainerSpec,
    name: str,
    vf: Object,
    lookup: ConfigLookup,
    *,
    pod_ip: str,
    host_ip: str,
) -> str | None:
    """One `valueFrom`; None when an optional reference is missing."""
    if "fieldRef" in vf:
        return _field_ref(str(vf["fieldRef"].get("fieldPath", "")), pod, pod_ip, host_ip)
    if "resourceFieldRef" in vf:
        return _resource_ref(c, vf["resourceFieldRef"])
    for key, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
        if key not in vf:
            continue
        ref = vf[key]
        obj = lookup.get(kind, pod.namespace, str(ref.get("name", "")))
        data = object_data(obj) if obj is not None else None
        if data is not None and ref.get("key") in data:
            return data[str(ref["key"])]
        if ref.get("optional"):
            return None
        what = f'{kind.lower()} "{ref.get("name")}"'
        if data is None:
            raise ConfigError(f"{what} not found")
        raise ConfigError(f"couldn't find key {ref.get('key')} in {what}")
    raise ConfigError(f"env {name}: unsupported valueFrom {sorted(vf)}")


def _resource_ref(c: ContainerSpec, ref: Object) -> str:
    resource = ref.get("resource")
    if resource == "limits.memory" and c.memory_limit:
        return str(c.memory_limit)
    if resource == "limits.cpu" and c.cpu_limit_milli:
        return str(max(1, -(-c.cpu_limit_milli // 1000)))
    return "0"
