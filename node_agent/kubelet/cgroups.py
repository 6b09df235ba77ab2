"""Memory and CPU limits through cgroups (v1 controllers `memory` and `cpu`, or the v2 tree).

Every cgroup the kubelet makes lives under one parent named after the node
(`kubelab-<node>`), one per pod and one per container inside it, so cleanup finds them all.
Where the hierarchy is missing or not writable the kubelet runs containers without limits and
says so once in its log.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
CPU_PERIOD_US = 100_000


@dataclass(frozen=True)
class ContainerCgroup:
    procs_files: tuple[str, ...]
    memory_dir: str  # where the shim reads OOM kill counters; "" when none


class Cgroups:
    def __init__(self, parent: str, root: Path = CGROUP_ROOT) -> None:
        self.parent = parent
        self.root = root
        self.v2 = (root / "cgroup.controllers").exists()
        self.enabled = self._writable()
        if not self.enabled:
            log.warning("cgroups unavailable root=%s: containers run without limits", root)

    def _writable(self) -> bool:
        dirs = [self.root] if self.v2 else [self.root / "memory", self.root / "cpu"]
        return all(d.is_dir() and os.access(d, os.W_OK) for d in dirs)

    def _dirs(self, *parts: str) -> dict[str, Path]:
        if self.v2:
            return {"unified": self.root.joinpath(self.parent, *parts)}
        return {c: self.root.joinpath(c, self.parent, *parts) for c in ("memory", "cpu")}

    def create(
        self, pod_uid: str, container: str, memory: int | None, cpu_milli: int | None
    ) -> ContainerCgroup:
        if not self.enabled:
            return ContainerCgroup((), "")
        dirs = self._dirs(f"pod{pod_uid}", container)
        fresh = True  # a new cgroup starts without limits: only limits need writing then
        for controller, d in dirs.items():
            try:
                d.mkdir(parents=True)
            except FileExistsError:
                fresh = False  # a restarted container's: set (or clear) its limits again
            if controller == "unified":
                self._enable_v2_controllers(d)
        if self.v2:
            d = dirs["unified"]
            if memory or not fresh:
                (d / "memory.max").write_text(str(memory) if memory else "max")
            if cpu_milli or not fresh:
                quota = f"{cpu_milli * CPU_PERIOD_US // 1000}" if cpu_milli else "max"
                (d / "cpu.max").write_text(f"{quota} {CPU_PERIOD_US}")
            return ContainerCgroup((str(d / "cgroup.procs"),), str(d))
        mem, cpu = dirs["memory"], dirs["cpu"]
        if memory or not fresh:
            (mem / "memory.limit_in_bytes").write_text(str(memory) if memory else "-1")
        if cpu_milli or not fresh:
            (cpu / "cpu.cfs_period_us").write_text(str(CPU_PERIOD_US))
            quota = str(max(1000, cpu_milli * CPU_PERIOD_US // 1000)) if cpu_milli else "-1"
            (cpu / "cpu.cfs_quota_us").write_text(quota)
        return ContainerCgroup((str(mem / "cgroup.procs"), str(cpu / "cgroup.procs")), str(mem))

    def _enable_v2_controllers(self, leaf: Path) -> None:
        path = self.root
        for part in leaf.relative_to(self.root).parts[:-1]:
            path = path / part
            try:
                (path / "cgroup.subtree_control").write_text("+memory +cpu")
            except OSError as exc:
                log.debug("cgroup subtree_control path=%s err=%s", path, exc)

    def remove_pod(self, pod_uid: str, timeout: float = 2.0) -> None:
        """Remove the pod's cgroups (leaves first); they empty shortly after the last exit."""
        if not self.enabled:
            return
        for d in self._dirs(f"pod{pod_uid}").values():
            if not d.exists():
                continue
            deadline = time.monotonic() + timeout
            leaves = [p for p in d.iterdir() if p.is_dir()]
            for target in [*leaves, d]:
                while True:
                    try:
                        target.rmdir()
                        break
                    except FileNotFoundError:
                        break
                    except OSError as exc:
                        if time.monotonic() > deadline:
                            log.warning("cgroup busy path=%s err=%s", target, exc)
                            break
                        time.sleep(0.05)

    def remove_parent(self) -> None:
        if not self.enabled:
            return
        for d in self._dirs().values():
            try:
                d.rmdir()
            except OSError as exc:
                log.debug("cgroup parent kept path=%s err=%s", d, exc)

    def pod_uids(self) -> set[str]:
        found = set()
        for d in self._dirs().values():
            if d.is_dir():
                found |= {
                    p.name[3:] for p in d.iterdir() if p.is_dir() and p.name.startswith("pod")
                }
        return found
