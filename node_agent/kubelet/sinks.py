"""Status sinks: where pod status, node status, Lease renewals and Events go.

`FileStatusSink` is standalone mode's: one JSON file per object under `<root>/status/`
(`pods/<namespace>_<name>.json` holds the whole pod with its status, plus `node.json` and
`lease.json`), replaced atomically, and `events.jsonl` (one Event a line, appended), so tools
and tests can read them at any time. The API client's sink plugs in with the same methods.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

Object = dict[str, Any]


class FileStatusSink:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        (directory / "pods").mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def _write(self, path: Path, data: Object) -> None:
        with self._lock:
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
            os.replace(tmp, path)

    def pod_path(self, namespace: str, name: str) -> Path:
        return self.dir / "pods" / f"{namespace}_{name}.json"

    def pod_status(self, pod: Object, status: Object) -> None:
        meta = pod.get("metadata", {})
        self._write(
            self.pod_path(meta.get("namespace", "default"), meta["name"]), {**pod, "status": status}
        )

    def pod_removed(self, namespace: str, name: str, uid: str) -> None:
        path = self.pod_path(namespace, name)
        try:
            current = json.loads(path.read_text())
        except (OSError, ValueError):
            return
        if current.get("metadata", {}).get("uid") == uid:
            path.unlink(missing_ok=True)

    def node_status(self, node: Object) -> None:
        self._write(self.dir / "node.json", node)

    def renew_lease(self, lease: Object) -> None:
        self._write(self.dir / "lease.json", lease)

    def event(self, event: Object) -> None:
        """Events are appended, one JSON object a line, to `events.jsonl`."""
        with self._lock, (self.dir / "events.jsonl").open("a") as f:
            f.write(json.dumps(event, sort_keys=True) + "\n")
