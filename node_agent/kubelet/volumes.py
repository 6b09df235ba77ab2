"""Pod volumes and the per-pod /etc files, materialised under the pod's directory.

`emptyDir` is a directory, `configMap`/`secret` directories of key files (read-only when
mounted), `hostPath` the host's path. The container shim bind-mounts them at `mountPath` in the
container's own mount namespace, so nothing is ever mounted on the host. Containers share the
host's filesystem (there is no image root filesystem): a missing mount point is created and
recorded in `created_paths`, and removed again with the pod.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from node_agent.kubelet.env import ConfigLookup, object_data
from node_agent.kubelet.errors import ConfigError
from node_agent.kubelet.fsutil import read_bytes, replace_bytes, write_bytes
from node_agent.kubelet.libc import mount_tmpfs, unmount
from node_agent.kubelet.spec import ContainerSpec, PodSpec, Volume

CLUSTER_DNS_SEARCH = ("svc.cluster.local", "cluster.local")


@dataclass(frozen=True)
class DNSConfig:
    """`nameserver` None: no cluster DNS; lookups fail at once instead of hanging."""

    nameserver: str | None = None
    domain: str = "cluster.local"


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    read_only: bool


def resolv_conf(pod: PodSpec, dns: DNSConfig) -> str:
    """The pod's resolv.conf: cluster DNS (when there is one) merged with `spec.dnsConfig`."""
    extra = pod.dns_config
    servers: list[str] = []
    searches: list[str] = []
    options: dict[str, str | None] = {}
    if pod.dns_policy != "None":
        if dns.nameserver is None:
            # Nothing listens on 127.0.0.1:53 in the pod: a lookup fails at once, never hangs.
            servers, options = ["127.0.0.1"], {"timeout": "1", "attempts": "1"}
        else:
            servers = [dns.nameserver]
            searches = [f"{pod.namespace}.svc.{dns.domain}", f"svc.{dns.domain}", dns.domain]
            options = {"ndots": "5"}
    if extra is not None:
        servers += [s for s in extra.nameservers if s not in servers]
        searches += [s for s in extra.searches if s not in searches]
        options.update(dict(extra.options))
    lines = [f"nameserver {s}" for s in servers[:3]]
    if searches:
        lines.append("search " + " ".join(searches[:6]))
    if options:
        lines.append(
            "options " + " ".join(k if v is None else f"{k}:{v}" for k, v in options.items())
        )
    return "\n".join(lines) + "\n"


def hosts_file(pod: PodSpec, ip: str) -> str:
    name = pod.hostname or pod.name
    lines = [
        "# Kubernetes-managed hosts file (kubelab).",
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
    ]
    if ip:
        lines.append(f"{ip}\t{name}")
    if pod.host_aliases:
        lines.append("")
        lines.append("# Entries added by HostAliases.")
        lines += [f"{alias_ip}\t{' '.join(names)}" for alias_ip, names in pod.host_aliases]
    return "\n".join(lines) + "\n"


def write_etc(pod_dir: Path, pod: PodSpec, ip: str, dns: DNSConfig) -> None:
    etc = f"{pod_dir}/etc"
    os.makedirs(etc, exist_ok=True)
    files = (
        ("hosts", hosts_file(pod, ip)),
        ("resolv.conf", resolv_conf(pod, dns)),
        ("hostname", (pod.hostname or pod.name) + "\n"),
    )
    for name, text in files:
        write_bytes(f"{etc}/{name}", text)


def _write_keys(target: Path, data: Mapping[str, str], source: Mapping[str, object]) -> None:
    """The volume's files as the object's keys (or `items`) say: a changed file is replaced
    whole (rename), an unchanged one left alone, one whose key is gone removed. A container
    that has the volume mounted sees the new files (not through a subPath: a file mount keeps
    the old file, as in Kubernetes)."""
    target.mkdir(parents=True, exist_ok=True)
    mode = int(source.get("defaultMode", 0o644))  # type: ignore[call-overload]
    items = source.get("items")
    pairs: list[tuple[str, str]]
    if isinstance(items, list):
        pairs = []
        for item in items:
            key = str(item.get("key", ""))
            if key not in data:
                raise ConfigError(f"volume key {key!r} not found")
            pairs.append((key, str(item.get("path", key))))
    else:
        pairs = [(k, k) for k in data]
    wanted = set()
    for key, rel in pairs:
        path = target / rel
        wanted.add(str(path))
        payload = data[key].encode()
        if read_bytes(path) != payload:
            path.parent.mkdir(parents=True, exist_ok=True)
            replace_bytes(path, payload, ".kubelab-tmp", mode)
            os.chmod(path, mode)  # the umask may have narrowed it
    for dirpath, _, files in os.walk(target):
        for name in files:
            if os.path.join(dirpath, name) not in wanted:
                with suppress(FileNotFoundError):
                    os.unlink(os.path.join(dirpath, name))


def _object_ref(vol: Volume, namespace: str) -> tuple[str, str, str]:
    """(kind, namespace, name) of the object a configMap or secret volume shows."""
    if vol.kind == "configMap":
        return "ConfigMap", namespace, str(vol.source.get("name"))
    return "Secret", namespace, str(vol.source.get("secretName"))


def refresh(pod_dir: Path, pod: PodSpec, lookup: ConfigLookup) -> list[str]:
    """Rewrite the pod's configMap and secret volumes from their objects as they are now, as
    the upstream kubelet does on its periodic sync; the names of the volumes looked at. A
    volume whose object is gone (or lacks a listed key) keeps its files."""
    done = []
    for vol in pod.volumes:
        path = pod_dir / "volumes" / vol.name
        if vol.kind not in ("configMap", "secret") or not path.is_dir():
            continue
        obj = lookup.get(*_object_ref(vol, pod.namespace))
        if obj is None:
            continue
        with suppress(ConfigError):
            _write_keys(path, object_data(obj), vol.source)
            done.append(vol.name)
    return done


def release(pod_dir: Path) -> list[str]:
    """Unmount the memory-backed emptyDirs under `pod_dir` (before its files are removed);
    the paths unmounted."""
    root = pod_dir / "volumes"
    if not root.is_dir():
        return []
    return [str(p) for p in sorted(root.iterdir()) if os.path.ismount(p) and unmount(str(p))]


def materialise(pod_dir: Path, pod: PodSpec, lookup: ConfigLookup) -> dict[str, str]:
    """Create every volume's source; return volume name -> host path."""
    out = {}
    for vol in pod.volumes:
        out[vol.name] = str(_materialise_one(pod_dir / "volumes" / vol.name, pod, vol, lookup))
    return out


def _materialise_one(path: Path, pod: PodSpec, vol: Volume, lookup: ConfigLookup) -> Path:
    src = vol.source
    if vol.kind == "emptyDir":
        path.mkdir(parents=True, exist_ok=True)
        if vol.memory and not os.path.ismount(path):
            try:
                mount_tmpfs(str(path), mode=0o777, size=vol.size_limit)
            except OSError as exc:  # said on the pod (ContainerCreating), not as a traceback
                raise ConfigError(f"emptyDir {vol.name} (medium Memory): {exc}") from exc
        os.chmod(path, 0o777)  # noqa: S103 - any runAsUser must be able to write an emptyDir
        return path
    if vol.kind == "hostPath":
        host = Path(str(src["path"]))
        kind = str(src.get("type", ""))
        if not host.exists():
            if kind == "FileOrCreate":
                host.parent.mkdir(parents=True, exist_ok=True)
                host.touch()
            elif kind in ("", "DirectoryOrCreate"):
                host.mkdir(parents=True, exist_ok=True)
            else:
                raise ConfigError(f"hostPath {host} does not exist (type {kind})")
        return host
    kind_name, namespace, name = _object_ref(vol, pod.namespace)
    obj = lookup.get(kind_name, namespace, name)
    if obj is None:
        if src.get("optional"):
            path.mkdir(parents=True, exist_ok=True)
            return path
        raise ConfigError(f'{kind_name.lower()} "{name}" not found')
    _write_keys(path, object_data(obj), src)
    return path


def container_mounts(
    pod_dir: Path, c: ContainerSpec, pod: PodSpec, sources: Mapping[str, str]
) -> list[Mount]:
    etc = pod_dir / "etc"
    mounts = [
        Mount(str(etc / "hosts"), "/etc/hosts", False),
        Mount(str(etc / "resolv.conf"), "/etc/resolv.conf", False),
        Mount(str(etc / "hostname"), "/etc/hostname", False),
    ]
    kinds = {v.name: v.kind for v in pod.volumes}
    for m in c.volume_mounts:
        source = sources[m.name]
        if m.sub_path:
            source = os.path.join(source, m.sub_path)
            if not os.path.exists(source):
                os.makedirs(source, exist_ok=True)
        read_only = m.read_only or kinds[m.name] in ("configMap", "secret")
        mounts.append(Mount(source, m.mount_path, read_only))
    return mounts


def check_not_hidden(c: ContainerSpec, needed: Sequence[str]) -> None:
    """A ConfigError when one of the container's volumeMounts would hide a node path it runs
    from (`catalog.runs_from`): containers share the node's filesystem, so an emptyDir at
    /opt hides a kubelab installed under /opt."""
    for i, m in enumerate(c.volume_mounts):
        target = os.path.normpath(m.mount_path)
        under = target.rstrip("/") + "/"
        for path in needed:
            if path == target or path.startswith(under):
                raise ConfigError(
                    f'volumeMounts[{i}].mountPath "{m.mount_path}" would hide {path}, which '
                    f"container {c.name} runs from: containers share the node's filesystem, "
                    "so mount the volume elsewhere"
                )


def ensure_targets(mounts: list[Mount], record: Path) -> None:
    """Create missing mount points (recorded in `record`, one path per line)."""
    created = []
    for m in mounts:
        target = Path(m.target)
        if target.exists():
            continue
        missing = []
        parent = target
        while not parent.exists():
            missing.append(parent)
            parent = parent.parent
        if os.path.isdir(m.source):
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.touch()
        created.extend(missing)
    if created:
        record.parent.mkdir(parents=True, exist_ok=True)
        with record.open("a") as f:
            for p in created:
                f.write(f"{p}\n")


def remove_created(record: Path) -> None:
    """Remove the mount points a pod created, deepest first, only while they are empty."""
    if not record.exists():
        return
    paths = sorted(
        {Path(p) for p in record.read_text().split("\n") if p}, key=lambda p: -len(p.parts)
    )
    for p in paths:
        try:
            if p.is_dir() and not p.is_symlink():
                p.rmdir()
            elif p.is_file() and p.stat().st_size == 0:
                p.unlink()
        except OSError:
            continue
