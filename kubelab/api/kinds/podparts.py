"""Pod parts with their own rules: probes and volumes (schema, defaults, validation).

Defaults are Kubernetes' core/v1 ones, so the kubelet reads complete objects: probes get
timeoutSeconds 1, periodSeconds 10, successThreshold 1, failureThreshold 3, and httpGet path
"/" and scheme HTTP; configMap/secret volumes get defaultMode 420 (0644).
"""

# ruff: noqa: PLR0912  (one branch per probe handler and volume source)

from __future__ import annotations

from typing import Any

from kubelab.api import validation as v
from kubelab.api.errors import Cause
from kubelab.api.schema import Arr, Bool, Free, Int, IntOrStr, Obj, Quantity, Str

KEY_TO_PATH = Obj(fields={"key": Str(), "path": Str(), "mode": Int()})
HTTP_HEADER = Obj(fields={"name": Str(), "value": Str()})
PROBE = Obj(
    "Probe describes a health check to be performed against a container.",
    {
        "exec": Obj(fields={"command": Arr(item=Str())}),
        "httpGet": Obj(
            fields={
                "path": Str(),
                "port": IntOrStr(),
                "host": Str(),
                "scheme": Str(),
                "httpHeaders": Arr(item=HTTP_HEADER),
            }
        ),
        "tcpSocket": Obj(fields={"port": IntOrStr(), "host": Str()}),
        "grpc": Obj(fields={"port": Int(), "service": Str()}),
        "initialDelaySeconds": Int(),
        "timeoutSeconds": Int(),
        "periodSeconds": Int(),
        "successThreshold": Int(),
        "failureThreshold": Int(),
        "terminationGracePeriodSeconds": Int(),
    },
)
PROBE_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")
VOLUME_SOURCES = {
    "emptyDir": Obj(fields={"medium": Str(), "sizeLimit": Quantity()}),
    "hostPath": Obj(fields={"path": Str(), "type": Str()}),
    "configMap": Obj(
        fields={
            "name": Str(),
            "items": Arr(item=KEY_TO_PATH),
            "defaultMode": Int(),
            "optional": Bool(),
        }
    ),
    "secret": Obj(
        fields={
            "secretName": Str(),
            "items": Arr(item=KEY_TO_PATH),
            "defaultMode": Int(),
            "optional": Bool(),
        }
    ),
    "downwardAPI": Free(),
    "projected": Free(),
    "persistentVolumeClaim": Obj(fields={"claimName": Str(), "readOnly": Bool()}),
    "nfs": Free(),
    "ephemeral": Free(),
    "csi": Free(),
}
VOLUME = Obj(fields={"name": Str(), **VOLUME_SOURCES})
HOST_PATH_TYPES = (
    "",
    "DirectoryOrCreate",
    "Directory",
    "FileOrCreate",
    "File",
    "Socket",
    "CharDevice",
    "BlockDevice",
)


def default_probe(probe: Any) -> None:
    if not isinstance(probe, dict):
        return
    probe.setdefault("timeoutSeconds", 1)
    probe.setdefault("periodSeconds", 10)
    probe.setdefault("successThreshold", 1)
    probe.setdefault("failureThreshold", 3)
    http = probe.get("httpGet")
    if isinstance(http, dict):
        http.setdefault("path", "/")
        http.setdefault("scheme", "HTTP")


def _probe_port(causes: v.Causes, path: str, port: Any, port_names: set[str]) -> None:
    if isinstance(port, str):
        v.port_name(causes, path, port)
        if port not in port_names and not causes[-1:]:
            causes.append(
                Cause(
                    path,
                    f'Invalid value: "{port}": must be a named container port',
                    "FieldValueInvalid",
                )
            )
    else:
        v.port_number(causes, path, port)


def validate_probe(
    causes: v.Causes, path: str, probe: Any, port_names: set[str], *, liveness_like: bool
) -> None:
    if not isinstance(probe, dict):
        return
    handlers = [h for h in PROBE_HANDLERS if probe.get(h) is not None]
    if not handlers:
        causes.append(
            Cause(path, "Required value: must specify a handler type", "FieldValueRequired")
        )
    elif len(handlers) > 1:
        v.forbidden(causes, f"{path}.{handlers[1]}", "may not specify more than 1 handler type")
    http = probe.get("httpGet")
    if isinstance(http, dict):
        if "port" not in http:
            v.required(causes, f"{path}.httpGet.port")
        else:
            _probe_port(causes, f"{path}.httpGet.port", http["port"], port_names)
        v.enum(causes, f"{path}.httpGet.scheme", http.get("scheme"), ("HTTP", "HTTPS"))
    tcp = probe.get("tcpSocket")
    if isinstance(tcp, dict):
        if "port" not in tcp:
            v.required(causes, f"{path}.tcpSocket.port")
        else:
            _probe_port(causes, f"{path}.tcpSocket.port", tcp["port"], port_names)
    grpc = probe.get("grpc")
    if isinstance(grpc, dict):
        v.port_number(causes, f"{path}.grpc.port", grpc.get("port"))
    ex = probe.get("exec")
    if isinstance(ex, dict) and not ex.get("command"):
        v.required(causes, f"{path}.exec.command")
    for f in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds"):
        v.non_negative(causes, f"{path}.{f}", probe.get(f))
    for f in ("timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"):
        val = probe.get(f)
        if isinstance(val, int) and val < 1:
            v.invalid(causes, f"{path}.{f}", val, "must be greater than or equal to 1")
    if liveness_like and probe.get("successThreshold", 1) != 1:
        v.invalid(causes, f"{path}.successThreshold", probe.get("successThreshold"), "must be 1")


def default_volume(vol: Any) -> None:
    if not isinstance(vol, dict):
        return
    for source in ("configMap", "secret"):
        if isinstance(vol.get(source), dict):
            vol[source].setdefault("defaultMode", 420)
    if isinstance(vol.get("hostPath"), dict):
        vol["hostPath"].setdefault("type", "")
    if len([k for k in vol if k in VOLUME_SOURCES]) == 0 and vol.get("name"):
        vol["emptyDir"] = {}  # Kubernetes defaults a volume without a source to emptyDir


def validate_volume(causes: v.Causes, path: str, vol: Any) -> None:
    if not isinstance(vol, dict):
        return
    sources = [k for k in vol if k in VOLUME_SOURCES]
    if len(sources) > 1:
        v.forbidden(causes, f"{path}.{sources[1]}", "may not specify more than 1 volume type")
    cm, secret, host = vol.get("configMap"), vol.get("secret"), vol.get("hostPath")
    if isinstance(cm, dict) and not cm.get("name"):
        v.required(causes, f"{path}.configMap.name")
    if isinstance(secret, dict) and not secret.get("secretName"):
        v.required(causes, f"{path}.secret.secretName")
    if isinstance(host, dict):
        if not host.get("path"):
            v.required(causes, f"{path}.hostPath.path")
        v.enum(causes, f"{path}.hostPath.type", host.get("type"), HOST_PATH_TYPES)
    for source in ("configMap", "secret"):
        spec = vol.get(source)
        if isinstance(spec, dict):
            mode = spec.get("defaultMode")
            if mode is not None and (not isinstance(mode, int) or not 0 <= mode <= 0o777):
                v.invalid(
                    causes,
                    f"{path}.{source}.defaultMode",
                    mode,
                    "must be a number between 0 and 0777 (octal), both inclusive",
                )
            for i, item in enumerate(spec.get("items") or []):
                if isinstance(item, dict):
                    if not item.get("key"):
                        v.required(causes, f"{path}.{source}.items[{i}].key")
                    if not item.get("path"):
                        v.required(causes, f"{path}.{source}.items[{i}].path")
                    elif str(item["path"]).startswith("/") or ".." in str(item["path"]).split("/"):
                        v.invalid(
                            causes,
                            f"{path}.{source}.items[{i}].path",
                            item["path"],
                            "must be a relative path without '..'",
                        )


ENV_SOURCE = Obj(
    fields={
        "fieldRef": Obj(fields={"apiVersion": Str(), "fieldPath": Str()}),
        "resourceFieldRef": Obj(
            fields={"containerName": Str(), "resource": Str(), "divisor": Quantity()}
        ),
        "configMapKeyRef": Obj(fields={"name": Str(), "key": Str(), "optional": Bool()}),
        "secretKeyRef": Obj(fields={"name": Str(), "key": Str(), "optional": Bool()}),
    }
)
FIELD_PATHS = (
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
)
RESOURCE_FIELDS = (
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
)


def default_env_source(source: Any) -> None:
    if isinstance(source, dict) and isinstance(source.get("fieldRef"), dict):
        source["fieldRef"].setdefault("apiVersion", "v1")


def validate_env_source(causes: v.Causes, path: str, source: Any) -> None:
    if not isinstance(source, dict):
        return
    kinds = [k for k in ENV_SOURCE.fields if source.get(k) is not None]
    if len(kinds) != 1:
        causes.append(
            Cause(
                path,
                "Invalid value: may not have more than one field specified at a time"
                if kinds
                else "Required value: must specify one of: `fieldRef`, "
                "`resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
                "FieldValueInvalid" if kinds else "FieldValueRequired",
            )
        )
    ref = source.get("fieldRef")
    if isinstance(ref, dict):
        fp = ref.get("fieldPath")
        labels_or_annotations = isinstance(fp, str) and fp.startswith(
            ("metadata.labels['", "metadata.annotations['")
        )
        if not fp:
            v.required(causes, f"{path}.fieldRef.fieldPath")
        elif fp not in FIELD_PATHS and not labels_or_annotations:
            v.unsupported(causes, f"{path}.fieldRef.fieldPath", fp, FIELD_PATHS)
    res = source.get("resourceFieldRef")
    if isinstance(res, dict):
        v.enum(causes, f"{path}.resourceFieldRef.resource", res.get("resource"), RESOURCE_FIELDS)
    for key in ("configMapKeyRef", "secretKeyRef"):
        sel = source.get(key)
        if isinstance(sel, dict):
            if not sel.get("key"):
                v.required(causes, f"{path}.{key}.key")
            if not sel.get("name"):
                v.required(causes, f"{path}.{key}.name")
