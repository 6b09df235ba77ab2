"""Static pods: the `PodSource` of standalone mode, read from `--pod-manifest-path`.

Every `*.yaml`, `*.yml` and `*.json` file in the directory may hold several documents. Pods are
run as the upstream kubelet runs static pods: named `<name>-<node>`, bound to this node, with a
uid derived from the node, the file and the pod's content (so an unchanged manifest keeps its
uid across kubelet restarts, and an edited one is replaced), annotated
`kubernetes.io/config.source: file` and `kubernetes.io/config.hash` (their mirror pods in the
API, `mirror.py`, add `kubernetes.io/config.mirror`). As a kubelab extension, ConfigMap
and Secret documents in the same directory are served to the pods (`ConfigLookup`), so
standalone pods can use `envFrom` and configMap/secret volumes.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from node_agent.kubelet.spec import PodAdded, PodsChanged

log = logging.getLogger(__name__)

Object = dict[str, Any]
SUFFIXES = (".yaml", ".yml", ".json")
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: much faster


def static_pod(doc: Object, node_name: str, source: str) -> Object:
    """The pod as this node runs it: renamed, bound, with a content-derived uid."""
    pod = copy.deepcopy(doc)
    meta = pod.setdefault("metadata", {})
    meta["namespace"] = meta.get("namespace") or "default"
    digest = hashlib.sha256(
        json.dumps([node_name, source, doc], sort_keys=True).encode()
    ).hexdigest()
    meta["name"] = f"{meta.get('name', '')}-{node_name}"
    meta["uid"] = digest[:32]
    annotations = meta.setdefault("annotations", {})
    annotations["kubernetes.io/config.source"] = "file"
    annotations["kubernetes.io/config.hash"] = digest[:32]
    pod.setdefault("spec", {})["nodeName"] = node_name
    return pod


class StaticPodSource:
    def __init__(self, path: Path, node_name: str, check_period: float = 20.0) -> None:
        self.path = path
        self.node_name = node_name
        self.check_period = check_period
        self._lock = threading.Lock()
        self._read_at = float("-inf")
        self._pods: list[Object] = []
        self._config: dict[tuple[str, str, str], Object] = {}
        self._errors: dict[str, str] = {}
        self._seen: tuple[tuple[str, int, int], ...] = ()

    def _load(self) -> None:
        files = sorted(p for p in self.path.iterdir() if p.suffix in SUFFIXES and p.is_file())
        seen = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)
        if seen == self._seen:
            return  # nothing changed: skip parsing (YAML is slow)
        self._seen = seen
        pods: list[Object] = []
        config: dict[tuple[str, str, str], Object] = {}
        for file in files:
            try:
                docs = [d for d in yaml.load_all(file.read_text(), Loader=_Loader) if d is not None]
            except (OSError, yaml.YAMLError) as exc:
                self._error(str(file), f"cannot read manifest: {exc}")
                continue
            self._errors.pop(str(file), None)
            for doc in docs:
                if not isinstance(doc, dict):
                    self._error(str(file), f"a document is not an object: {doc!r:.60}")
                    continue
                kind = doc.get("kind")
                if kind == "Pod":
                    pods.append(static_pod(doc, self.node_name, file.name))
                elif kind in ("ConfigMap", "Secret"):
                    meta = doc.get("metadata", {})
                    ns = meta.get("namespace") or "default"
                    config[(str(kind), ns, str(meta.get("name")))] = doc
                else:
                    self._error(f"{file}:{kind}", f"kind {kind!r} ignored: Pod, ConfigMap, Secret")
        self._pods, self._config = pods, config

    def _error(self, key: str, message: str) -> None:
        if self._errors.get(key) != message:
            log.error("static pod manifest file=%s err=%s", key, message)
            self._errors[key] = message

    def _refresh(self, force: bool = False) -> None:
        with self._lock:
            now = time.monotonic()
            if force or now - self._read_at >= self.check_period:
                self._read_at = now
                if self.path.is_dir():
                    self._load()
                else:
                    self._error(str(self.path), "--pod-manifest-path is not a directory")
                    self._pods, self._config = [], {}

    def watch(self, changed: PodsChanged, stop: threading.Event, added: PodAdded) -> None:
        """Re-read the directory every `check_period`; call `changed()` when the pods differ
        (`added` is not used: a changed file relists its pods)."""
        before = [p["metadata"]["uid"] for p in self.pods()]
        while not stop.wait(self.check_period):
            self._refresh(force=True)
            now = [p["metadata"]["uid"] for p in self._pods]
            if now != before:
                before = now
                changed()

    def pods(self) -> list[Object]:
        self._refresh()
        return list(self._pods)

    def get(self, kind: str, namespace: str, name: str) -> Object | None:
        self._refresh()
        return self._config.get((kind, namespace, name))
