"""Where the kubelet keeps runtime state: `--runtime-dir`, by default on the /run tmpfs.

A pod's runtime state (its stored Pod, /etc files, container spec/run/pid/exit files, IPAM
reservations) lives exactly as long as its processes and network namespace, which a reboot
ends too, so it belongs on a tmpfs, as containerd keeps its task state under /run. Logs and
volumes stay under `--root-dir`. The default directory is derived from the (resolved) root
dir, so a kubelet restarted with the same `--root-dir` finds and adopts its pods; a `root-dir`
file inside names the owner, so `kubelab down` (kubelab.lab.cleanup) can find the directories
of a lab's kubelets without any record. This module does not decide what goes in the
directory (runtime.py, ipam.py do).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

BASE = Path("/run/kubelab/kubelet")
OWNER_FILE = "root-dir"


def default_for(root_dir: Path, base: Path = BASE) -> Path:
    """`<base>/<16 hex digits of sha256(resolved root dir)>`: stable across restarts."""
    key = hashlib.sha256(str(root_dir.resolve()).encode()).hexdigest()[:16]
    return base / key


def prepare(runtime_dir: Path, root_dir: Path) -> Path:
    """Create `runtime_dir` (mode 0700) and record its owner; return it."""
    runtime_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    owner = runtime_dir / OWNER_FILE
    text = f"{root_dir.resolve()}\n"
    if runtime_dir.resolve() != root_dir.resolve() and not _reads(owner, text):
        tmp = owner.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, owner)
    return runtime_dir


def _reads(path: Path, text: str) -> bool:
    try:
        return path.read_text() == text
    except OSError:
        return False


def remove(runtime_dir: Path, root_dir: Path) -> None:
    """Remove `runtime_dir` after a full cleanup (never the root dir itself)."""
    if runtime_dir.resolve() == root_dir.resolve():
        return
    shutil.rmtree(runtime_dir, ignore_errors=True)
    log.info("runtime dir removed path=%s", runtime_dir)
