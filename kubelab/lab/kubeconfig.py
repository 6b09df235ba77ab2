"""A lab's entry in the user's kubeconfig: merge on `up`, remove on `down`, as kind does.

The entry is a cluster, a user and a context, all named `kubelab-<name>`; merging replaces
entries of that name in place (or appends them), leaves every other entry untouched and makes
the context current. Removing deletes the three and clears `current-context` if it pointed at
the lab. `merge`/`remove` are pure functions of plain dicts; `merge_file`/`remove_file` are the
file edge (atomic replace, mode 0600, kubectl's `<file>.lock` against concurrent writers).
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from kubelab.lab.errors import KubeconfigError

Config = dict[str, Any]
_SECTIONS = ("clusters", "users", "contexts")


def context_name(lab: str) -> str:
    return f"kubelab-{lab}"


def empty() -> Config:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [],
        "users": [],
        "contexts": [],
        "current-context": "",
    }


def default_path(env: Mapping[str, str], home: Path) -> Path:
    """Where kubectl reads: the first entry of $KUBECONFIG, else ~/.kube/config."""
    first = next((p for p in env.get("KUBECONFIG", "").split(os.pathsep) if p), None)
    return Path(first) if first else home / ".kube" / "config"


def _upsert(items: list[Any], name: str, value: dict[str, Any]) -> list[Any]:
    out = [value if isinstance(i, dict) and i.get("name") == name else i for i in items]
    if not any(isinstance(i, dict) and i.get("name") == name for i in items):
        out.append(value)
    return out


def _checked(config: Config, where: str) -> Config:
    if not isinstance(config, dict):
        raise KubeconfigError(where, f"expected a mapping, found {type(config).__name__}")
    for section in _SECTIONS:
        value = config.get(section)
        if value is not None and not isinstance(value, list):
            raise KubeconfigError(where, f"{section} must be a list, found {type(value).__name__}")
    return config


def current(config: Config) -> tuple[dict[str, Any], dict[str, Any]]:
    """The cluster and user of `config`'s current context (else its first context)."""
    config = _checked(config, "kubeconfig")
    contexts = {c["name"]: c.get("context", {}) for c in config.get("contexts") or []}
    ctx: dict[str, Any] = contexts.get(config.get("current-context", "")) or next(
        iter(contexts.values()), {}
    )
    clusters = {c["name"]: c.get("cluster", {}) for c in config.get("clusters") or []}
    users = {u["name"]: u.get("user", {}) for u in config.get("users") or []}
    try:
        cluster = dict(clusters[ctx["cluster"]]) if ctx else dict(next(iter(clusters.values())))
        user = dict(users[ctx["user"]]) if ctx else dict(next(iter(users.values())))
    except (KeyError, StopIteration) as exc:
        raise KubeconfigError("kubeconfig", f"has no usable cluster/user ({exc})") from exc
    return cluster, user


def lab_entry(admin: Config, server: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The cluster and user of `admin` (the apiserver's admin.kubeconfig), pointed at `server`."""
    cluster, user = current(admin)
    cluster["server"] = server
    return cluster, user


def merge(base: Config, lab: str, cluster: dict[str, Any], user: dict[str, Any]) -> Config:
    """`base` with the lab's cluster, user and context upserted and made current."""
    out = copy.deepcopy(_checked(base, "kubeconfig")) if base else empty()
    name = context_name(lab)
    out.setdefault("apiVersion", "v1")
    out.setdefault("kind", "Config")
    out["clusters"] = _upsert(out.get("clusters") or [], name, {"name": name, "cluster": cluster})
    out["users"] = _upsert(out.get("users") or [], name, {"name": name, "user": user})
    context = {"name": name, "context": {"cluster": name, "user": name}}
    out["contexts"] = _upsert(out.get("contexts") or [], name, context)
    out["current-context"] = name
    return out


def remove(base: Config, lab: str) -> Config:
    """`base` without the lab's entries; current-context cleared if it was the lab's."""
    out = copy.deepcopy(_checked(base, "kubeconfig")) if base else empty()
    name = context_name(lab)
    for section in _SECTIONS:
        if out.get(section) is not None:
            out[section] = [
                i for i in out[section] if not (isinstance(i, dict) and i.get("name") == name)
            ]
    if out.get("current-context") == name:
        out["current-context"] = ""
    return out


# -- file edge -------------------------------------------------------------------------------


@contextmanager
def _locked(path: Path, timeout: float = 10.0) -> Iterator[None]:
    """kubectl's (client-go's) lock protocol: create `<file>.lock` exclusively, delete after.

    A lock file that stays behind would make kubectl's own config edits fail, so it is always
    removed; an flock would not keep kubectl out.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.with_name(path.name + ".lock")
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            break
        except FileExistsError:
            if time.monotonic() >= deadline:
                raise KubeconfigError(
                    str(path), f"locked by {lock}; remove it if no kubectl or kubelab is running"
                ) from None
            time.sleep(0.05)
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def load(path: Path) -> Config:
    """The kubeconfig at `path`; an empty one when the file is missing or blank."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return empty()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise KubeconfigError(str(path), f"not valid YAML ({exc})") from exc
    if data is None:
        return empty()
    return _checked(data, str(path))


def save(path: Path, config: Config) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        yaml.safe_dump(config, out, default_flow_style=False, sort_keys=False)
    os.replace(tmp, path)


def merge_file(path: Path, lab: str, cluster: dict[str, Any], user: dict[str, Any]) -> None:
    with _locked(path):
        save(path, merge(load(path), lab, cluster, user))


def remove_file(path: Path, lab: str) -> bool:
    """Remove the lab's entries from `path`; False when the file had none (left unchanged)."""
    with _locked(path):
        if not path.exists():
            return False
        before = load(path)
        after = remove(before, lab)
        if after == before:
            return False
        save(path, after)
        return True
