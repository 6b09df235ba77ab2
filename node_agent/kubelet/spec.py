"""The parts of a Pod object the kubelet acts on, parsed into frozen values.

`parse_pod(obj)` reads a Kubernetes-shaped Pod dict and either returns a `PodSpec` or raises
`ManifestError` naming the field, the value and what would be accepted. Pure: no IO.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from kubelab.api import resources
from node_agent.kubelet.errors import ManifestError

Object = dict[str, Any]

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


class RestartPolicy(Enum):
    ALWAYS = "Always"
    ON_FAILURE = "OnFailure"
    NEVER = "Never"


@dataclass(frozen=True)
class ExecAction:
    command: tuple[str, ...]


@dataclass(frozen=True)
class HTTPGetAction:
    port: int | str
    path: str = "/"
    host: str | None = None
    scheme: str = "HTTP"
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class TCPSocketAction:
    port: int | str
    host: str | None = None


Handler = ExecAction | HTTPGetAction | TCPSocketAction


@dataclass(frozen=True)
class Probe:
    handler: Handler
    initial_delay: float = 0.0
    period: float = 10.0
    timeout: float = 1.0
    failure_threshold: int = 3
    success_threshold: int = 1


@dataclass(frozen=True)
class EnvVar:
    name: str
    value: str | None = None
    value_from: Object | None = None


@dataclass(frozen=True)
class EnvFromSource:
    kind: str  # "configMap" | "secret"
    name: str
    prefix: str = ""
    optional: bool = False


@dataclass(frozen=True)
class VolumeMount:
    name: str
    mount_path: str
    read_only: bool = False
    sub_path: str = ""


@dataclass(frozen=True)
class Volume:
    name: str
    kind: str  # emptyDir | hostPath | configMap | secret
    source: Object = field(default_factory=dict, hash=False, compare=False)
    memory: bool = False  # an emptyDir with medium Memory: a tmpfs
    size_limit: int | None = None  # an emptyDir's sizeLimit, bytes (the tmpfs size)


@dataclass(frozen=True)
class ContainerPort:
    container_port: int
    name: str = ""
    protocol: str = "TCP"


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    image: str
    command: tuple[str, ...] | None = None
    args: tuple[str, ...] | None = None
    env: tuple[EnvVar, ...] = ()
    env_from: tuple[EnvFromSource, ...] = ()
    working_dir: str = ""
    ports: tuple[ContainerPort, ...] = ()
    liveness: Probe | None = None
    readiness: Probe | None = None
    startup: Probe | None = None
    volume_mounts: tuple[VolumeMount, ...] = ()
    run_as_user: int | None = None
    run_as_group: int | None = None
    memory_limit: int | None = None  # bytes
    cpu_limit_milli: int | None = None
    pre_stop: ExecAction | None = None
    post_start: ExecAction | None = None

    def port_number(self, port: int | str) -> int | None:
        """Resolve a probe port: a number, or the name of one of this container's ports."""
        if isinstance(port, int):
            return port
        for p in self.ports:
            if p.name == port:
                return p.container_port
        return int(port) if port.isdigit() else None


@dataclass(frozen=True)
class DNSSettings:
    """`spec.dnsConfig`: merged into (or, with dnsPolicy None, replacing) the generated one."""

    nameservers: tuple[str, ...] = ()
    searches: tuple[str, ...] = ()
    options: tuple[tuple[str, str | None], ...] = ()


DNS_POLICIES = ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None")


def _dns(spec: Object) -> tuple[str, DNSSettings | None]:
    policy = _get(spec, "dnsPolicy", "spec", str, "ClusterFirst")
    if policy not in DNS_POLICIES:
        raise ManifestError("spec.dnsPolicy", policy, ", ".join(DNS_POLICIES))
    cfg = _get(spec, "dnsConfig", "spec", dict, None)
    if cfg is None:
        if policy == "None":
            raise ManifestError("spec.dnsConfig", None, "required when dnsPolicy is None")
        return policy, None
    options = []
    for i, opt in enumerate(_get(cfg, "options", "spec.dnsConfig", list, [])):
        if not isinstance(opt, dict) or not isinstance(opt.get("name"), str):
            raise ManifestError(f"spec.dnsConfig.options[{i}].name", opt, "an option name")
        val = opt.get("value")
        options.append((opt["name"], None if val is None else str(val)))
    settings = DNSSettings(
        nameservers=_strings(cfg, "nameservers", "spec.dnsConfig") or (),
        searches=_strings(cfg, "searches", "spec.dnsConfig") or (),
        options=tuple(options),
    )
    return policy, settings


def _host_aliases(spec: Object) -> tuple[tuple[str, tuple[str, ...]], ...]:
    out = []
    for i, alias in enumerate(_get(spec, "hostAliases", "spec", list, [])):
        where = f"spec.hostAliases[{i}]"
        if not isinstance(alias, dict) or not isinstance(alias.get("ip"), str):
            raise ManifestError(f"{where}.ip", alias, "an IP address")
        names = _strings(alias, "hostnames", where) or ()
        out.append((alias["ip"], names))
    return tuple(out)


@dataclass(frozen=True)
class PodSpec:
    namespace: str
    name: str
    uid: str
    containers: tuple[ContainerSpec, ...]
    init_containers: tuple[ContainerSpec, ...] = ()
    restart_policy: RestartPolicy = RestartPolicy.ALWAYS
    grace_period: float = 30.0
    volumes: tuple[Volume, ...] = ()
    hostname: str = ""
    host_aliases: tuple[tuple[str, tuple[str, ...]], ...] = ()
    dns_policy: str = "ClusterFirst"
    dns_config: DNSSettings | None = None
    node_name: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    # The pod's effective requests (cpu in millicores, others in whole units): app containers
    # summed, init containers by maximum, plus overhead.
    requests: Mapping[str, int] = field(default_factory=dict, hash=False)
    raw: Object = field(default_factory=dict, hash=False, compare=False, repr=False)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def container(self, name: str) -> ContainerSpec | None:
        for c in (*self.init_containers, *self.containers):
            if c.name == name:
                return c
        return None

    def is_init(self, name: str) -> bool:
        return any(c.name == name for c in self.init_containers)


def _get(obj: Object, key: str, path: str, kind: type | tuple[type, ...], default: Any) -> Any:
    got = obj.get(key, default)
    if got is None:
        return default
    if not isinstance(got, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ManifestError(f"{path}.{key}", got, f"expected {names}")
    return got


def _seconds(obj: Object, key: str, path: str, default: float, minimum: float) -> float:
    got = _get(obj, key, path, (int, float), default)
    if isinstance(got, bool) or got < minimum:
        raise ManifestError(f"{path}.{key}", got, f"must be a number >= {minimum}")
    return float(got)


def _int(obj: Object, key: str, path: str, default: int, minimum: int) -> int:
    got = _get(obj, key, path, int, default)
    if isinstance(got, bool) or got < minimum:
        raise ManifestError(f"{path}.{key}", got, f"must be an integer >= {minimum}")
    return int(got)


def _strings(obj: Object, key: str, path: str) -> tuple[str, ...] | None:
    got = obj.get(key)
    if got is None:
        return None
    if not isinstance(got, list) or not all(isinstance(s, str) for s in got):
        raise ManifestError(f"{path}.{key}", got, "expected a list of strings")
    return tuple(got)


def _port(got: Any, path: str) -> int | str:
    if isinstance(got, bool) or not isinstance(got, int | str):
        raise ManifestError(path, got, "expected a port number 1-65535 or a port name")
    if isinstance(got, int) and not 0 < got < 65536:
        raise ManifestError(path, got, "expected a port number 1-65535 or a port name")
    return got


def _handler(obj: Object, path: str) -> Handler:
    kinds = [k for k in ("exec", "httpGet", "tcpSocket") if k in obj]
    if len(kinds) != 1:
        raise ManifestError(path, sorted(obj), "exactly one of exec, httpGet, tcpSocket")
    kind = kinds[0]
    body = _get(obj, kind, path, dict, {})
    where = f"{path}.{kind}"
    if kind == "exec":
        command = _strings(body, "command", where)
        if not command:
            raise ManifestError(f"{where}.command", command, "a non-empty list of strings")
        return ExecAction(command)
    port = _port(body.get("port"), f"{where}.port")
    host = _get(body, "host", where, str, None)
    if kind == "tcpSocket":
        return TCPSocketAction(port=port, host=host)
    scheme = _get(body, "scheme", where, str, "HTTP")
    if scheme not in ("HTTP", "HTTPS"):
        raise ManifestError(f"{where}.scheme", scheme, "HTTP or HTTPS")
    headers = tuple(
        (str(h.get("name", "")), str(h.get("value", "")))
        for h in _get(body, "httpHeaders", where, list, [])
        if isinstance(h, dict)
    )
    return HTTPGetAction(
        port=port,
        path=_get(body, "path", where, str, "/"),
        host=host,
        scheme=scheme,
        headers=headers,
    )


def _probe(obj: Object | None, path: str, liveness_like: bool) -> Probe | None:
    if obj is None:
        return None
    if not isinstance(obj, dict):
        raise ManifestError(path, obj, "expected an object")
    success = _int(obj, "successThreshold", path, 1, 1)
    if liveness_like and success != 1:
        raise ManifestError(f"{path}.successThreshold", success, "must be 1 for liveness/startup")
    return Probe(
        handler=_handler(obj, path),
        initial_delay=_seconds(obj, "initialDelaySeconds", path, 0, 0),
        period=_seconds(obj, "periodSeconds", path, 10, 0.1),
        timeout=_seconds(obj, "timeoutSeconds", path, 1, 0.1),
        failure_threshold=_int(obj, "failureThreshold", path, 3, 1),
        success_threshold=success,
    )


def _env(items: list[Any], path: str) -> tuple[EnvVar, ...]:
    out = []
    for i, item in enumerate(items):
        where = f"{path}[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ManifestError(f"{where}.name", item, "each env entry needs a string name")
        val = item.get("value")
        if val is not None and not isinstance(val, str):
            raise ManifestError(f"{where}.value", val, "expected a string (quote numbers)")
        vf = item.get("valueFrom")
        if vf is not None and not isinstance(vf, dict):
            raise ManifestError(f"{where}.valueFrom", vf, "expected an object")
        out.append(EnvVar(item["name"], val, vf))
    return tuple(out)


def _env_from(items: list[Any], path: str) -> tuple[EnvFromSource, ...]:
    out = []
    for i, item in enumerate(items):
        where = f"{path}[{i}]"
        if not isinstance(item, dict):
            raise ManifestError(where, item, "expected an object")
        prefix = str(item.get("prefix", ""))
        for key, kind in (("configMapRef", "configMap"), ("secretRef", "secret")):
            ref = item.get(key)
            if isinstance(ref, dict) and isinstance(ref.get("name"), str):
                out.append(EnvFromSource(kind, ref["name"], prefix, bool(ref.get("optional"))))
                break
        else:
            raise ManifestError(where, item, "configMapRef.name or secretRef.name")
    return tuple(out)


def _resources(obj: Object, path: str) -> tuple[int | None, int | None]:
    """The container's memory (bytes) and cpu (millicores) limits, read by kubelab.api."""
    res = _get(obj, "resources", path, dict, {})
    limits = _get(res, "limits", f"{path}.resources", dict, {})
    _get(res, "requests", f"{path}.resources", dict, {})
    try:
        parsed = resources.container_limits(obj, field=path)
    except resources.ResourceError as exc:
        raise ManifestError(f"{path}.resources.limits", limits, exc.reason) from exc
    return parsed.get(resources.MEMORY), parsed.get(resources.CPU)


def _pod_requests(obj: Object) -> dict[str, int]:
    """What the pod needs on its node, as the scheduler counts it (kubelab.api.resources)."""
    try:
        return resources.pod_requests(obj)
    except resources.ResourceError as exc:
        raise ManifestError(exc.field, exc.value, exc.reason) from exc


def _ports(obj: Object, path: str) -> tuple[ContainerPort, ...]:
    ports = []
    for i, p in enumerate(_get(obj, "ports", path, list, [])):
        where = f"{path}.ports[{i}]"
        num = p.get("containerPort") if isinstance(p, dict) else None
        if isinstance(num, bool) or not isinstance(num, int) or not 0 < num < 65536:
            raise ManifestError(f"{where}.containerPort", num, "a port number 1-65535")
        ports.append(ContainerPort(num, str(p.get("name", "")), str(p.get("protocol", "TCP"))))
    return tuple(ports)


def _mounts(obj: Object, path: str) -> tuple[VolumeMount, ...]:
    mounts = []
    for i, m in enumerate(_get(obj, "volumeMounts", path, list, [])):
        where = f"{path}.volumeMounts[{i}]"
        if not isinstance(m, dict) or not isinstance(m.get("name"), str):
            raise ManifestError(f"{where}.name", m, "each volumeMount needs a volume name")
        mp = m.get("mountPath")
        if not isinstance(mp, str) or not mp.startswith("/"):
            raise ManifestError(f"{where}.mountPath", mp, "an absolute path")
        sub = m.get("subPath") or ""
        if not isinstance(sub, str) or sub.startswith("/") or ".." in sub.split("/"):
            raise ManifestError(f"{where}.subPath", sub, "a relative path without '..'")
        mounts.append(VolumeMount(m["name"], mp, bool(m.get("readOnly")), sub))
    return tuple(mounts)


def _container(obj: Any, path: str, pod_security: Object) -> ContainerSpec:
    if not isinstance(obj, dict):
        raise ManifestError(path, obj, "expected an object")
    name = _get(obj, "name", path, str, "")
    if not _DNS_LABEL.match(name):
        raise ManifestError(f"{path}.name", name, "a DNS label (lower case letters, digits, -)")
    image = _get(obj, "image", path, str, "")
    if not image:
        raise ManifestError(f"{path}.image", image, "an image name, e.g. busybox")
    if obj.get("restartPolicy") is not None:
        # Upstream's sidecar containers (an init container that keeps running); kubelab
        # runs init containers to completion only, so the pod would never initialise.
        raise ManifestError(
            f"{path}.restartPolicy",
            obj["restartPolicy"],
            "not supported: sidecar containers (restartable init containers) are not built "
            "yet; run the sidecar as a regular container instead",
        )
    sec = {**pod_security, **_get(obj, "securityContext", path, dict, {})}
    ports = _ports(obj, path)
    mounts = _mounts(obj, path)
    mem, cpu = _resources(obj, path)
    lifecycle = _get(obj, "lifecycle", path, dict, {})
    hooks: dict[str, ExecAction | None] = {"preStop": None, "postStart": None}
    for hook in hooks:
        if hook in lifecycle:
            handler = _handler(lifecycle[hook], f"{path}.lifecycle.{hook}")
            if not isinstance(handler, ExecAction):
                raise ManifestError(f"{path}.lifecycle.{hook}", handler, "only exec is supported")
            hooks[hook] = handler
    for key in ("runAsUser", "runAsGroup"):
        got = sec.get(key)
        if got is not None and (isinstance(got, bool) or not isinstance(got, int) or got < 0):
            raise ManifestError(f"{path}.securityContext.{key}", got, "a non-negative integer")
    return ContainerSpec(
        name=name,
        image=image,
        command=_strings(obj, "command", path),
        args=_strings(obj, "args", path),
        env=_env(_get(obj, "env", path, list, []), f"{path}.env"),
        env_from=_env_from(_get(obj, "envFrom", path, list, []), f"{path}.envFrom"),
        working_dir=_get(obj, "workingDir", path, str, ""),
        ports=ports,
        liveness=_probe(obj.get("livenessProbe"), f"{path}.livenessProbe", True),
        readiness=_probe(obj.get("readinessProbe"), f"{path}.readinessProbe", False),
        startup=_probe(obj.get("startupProbe"), f"{path}.startupProbe", True),
        volume_mounts=mounts,
        run_as_user=sec.get("runAsUser"),
        run_as_group=sec.get("runAsGroup"),
        memory_limit=mem,
        cpu_limit_milli=cpu,
        pre_stop=hooks["preStop"],
        post_start=hooks["postStart"],
    )


_VOLUME_KINDS = ("emptyDir", "hostPath", "configMap", "secret")


def _volume(obj: Any, path: str) -> Volume:
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
        raise ManifestError(f"{path}.name", obj, "each volume needs a name")
    kinds = [k for k in _VOLUME_KINDS if k in obj]
    if len(kinds) != 1:
        others = sorted(set(obj) - {"name"})
        raise ManifestError(path, others, "exactly one of " + ", ".join(_VOLUME_KINDS))
    source = obj[kinds[0]] or {}
    if not isinstance(source, dict):
        raise ManifestError(f"{path}.{kinds[0]}", source, "expected an object")
    if kinds[0] == "hostPath" and not str(source.get("path", "")).startswith("/"):
        raise ManifestError(f"{path}.hostPath.path", source.get("path"), "an absolute path")
    if kinds[0] in ("configMap",) and not isinstance(source.get("name"), str):
        raise ManifestError(f"{path}.configMap.name", source.get("name"), "a ConfigMap name")
    if kinds[0] == "secret" and not isinstance(source.get("secretName"), str):
        raise ManifestError(f"{path}.secret.secretName", source.get("secretName"), "a name")
    if kinds[0] == "emptyDir":
        return _empty_dir(obj["name"], source, f"{path}.emptyDir")
    return Volume(obj["name"], kinds[0], source)


def _empty_dir(name: str, source: Object, path: str) -> Volume:
    medium = source.get("medium") or ""
    if medium not in ("", "Memory"):
        raise ManifestError(
            f"{path}.medium", medium, "'' (the node's disk) or 'Memory' (a tmpfs); no HugePages"
        )
    size = None
    if source.get("sizeLimit") is not None:
        try:
            size = resources.amount(resources.MEMORY, source["sizeLimit"])
        except resources.ResourceError as exc:
            raise ManifestError(f"{path}.sizeLimit", source["sizeLimit"], exc.reason) from exc
        if size <= 0:
            raise ManifestError(f"{path}.sizeLimit", source["sizeLimit"], "a positive quantity")
    return Volume(name, "emptyDir", source, memory=medium == "Memory", size_limit=size)


PodsChanged = Callable[[], None]  # a pod source's news: relist
PodAdded = Callable[[Object], None]  # a pod source's news: this one pod is new


def changed_beyond_status(old: Object, new: Object) -> bool:
    """Whether an update touched more than the pod's status (and its resourceVersion): what
    a parsed `PodSpec` reads is the same in both otherwise."""
    if old.get("spec") != new.get("spec"):
        return True
    o, n = old.get("metadata") or {}, new.get("metadata") or {}
    keys = (o.keys() | n.keys()) - _VOLATILE_META
    return any(o.get(k, _ABSENT) != n.get(k, _ABSENT) for k in keys)


_VOLATILE_META = frozenset({"resourceVersion", "managedFields"})
_ABSENT = object()


def parse_pod(obj: Object) -> PodSpec:
    """Parse a Pod object; raise ManifestError on the first invalid field."""
    if not isinstance(obj, dict):
        raise ManifestError("pod", obj, "expected a Pod object")
    if obj.get("kind", "Pod") != "Pod":
        raise ManifestError("kind", obj.get("kind"), "Pod")
    meta = _get(obj, "metadata", "", dict, {})
    spec = _get(obj, "spec", "", dict, {})
    name = _get(meta, "name", "metadata", str, "")
    if not _DNS_SUBDOMAIN.match(name) or len(name) > 253:
        raise ManifestError("metadata.name", name, "a DNS subdomain (lower case, digits, -, .)")
    namespace = _get(meta, "namespace", "metadata", str, "default") or "default"
    if not _DNS_LABEL.match(namespace):
        raise ManifestError("metadata.namespace", namespace, "a DNS label")
    for unsupported in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(unsupported):
            raise ManifestError(
                f"spec.{unsupported}",
                True,
                "not supported: every kubelab pod has its own namespaces",
            )
    pod_sec = _get(spec, "securityContext", "spec", dict, {})
    containers = tuple(
        _container(c, f"spec.containers[{i}]", pod_sec)
        for i, c in enumerate(_get(spec, "containers", "spec", list, []))
    )
    if not containers:
        raise ManifestError("spec.containers", spec.get("containers"), "at least one container")
    inits = tuple(
        _container(c, f"spec.initContainers[{i}]", pod_sec)
        for i, c in enumerate(_get(spec, "initContainers", "spec", list, []))
    )
    names = [c.name for c in (*inits, *containers)]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ManifestError("spec.containers[].name", dupes, "container names must be unique")
    policy_text = _get(spec, "restartPolicy", "spec", str, "Always")
    try:
        policy = RestartPolicy(policy_text)
    except ValueError:
        raise ManifestError(
            "spec.restartPolicy", policy_text, "Always, OnFailure or Never"
        ) from None
    volumes = tuple(
        _volume(v, f"spec.volumes[{i}]")
        for i, v in enumerate(_get(spec, "volumes", "spec", list, []))
    )
    vol_names = {v.name for v in volumes}
    for i, c in enumerate((*inits, *containers)):
        for m in c.volume_mounts:
            if m.name not in vol_names:
                raise ManifestError(
                    f"containers[{c.name}].volumeMounts[{m.name}].name",
                    m.name,
                    "the name of a volume in spec.volumes: " + ", ".join(sorted(vol_names)),
                )
        del i
    labels = _get(meta, "labels", "metadata", dict, {})
    dns_policy, dns_config = _dns(spec)
    return PodSpec(
        namespace=namespace,
        name=name,
        uid=str(_get(meta, "uid", "metadata", str, "")),
        containers=containers,
        init_containers=inits,
        restart_policy=policy,
        grace_period=_seconds(spec, "terminationGracePeriodSeconds", "spec", 30, 0),
        volumes=volumes,
        hostname=_get(spec, "hostname", "spec", str, ""),
        host_aliases=_host_aliases(spec),
        dns_policy=dns_policy,
        dns_config=dns_config,
        node_name=_get(spec, "nodeName", "spec", str, ""),
        labels=tuple(sorted((str(k), str(v)) for k, v in labels.items())),
        requests=_pod_requests(obj),
        raw=obj,
    )
