"""Where the kubelet keeps runtime state: `--runtime-dir`, by default on a tmpfs.

A pod's runtime state (its stored Pod, /etc files, container spec/run/pid/exit files, IPAM
reservations) lives exactly as long as its processes and network namespace, which a reboot
ends too, so it belongs on a tmpfs, as containerd keeps its task state under /run. Logs and
volumes stay under `--root-dir`. The default directory is `/run/kubelab/kubelet/<hash>`, or
`/dev/shm/kubelab/kubelet/<hash>` on a host whose /run is not a tmpfs (some containers and
minimal systems), with the hash derived from the (resolved) root dir, so a kubelet restarted
with the same `--root-dir` finds and adopts its pods. /dev/shm is world-writable: `prepare`
refuses a directory on the way that is a symlink or owned by another user. A `root-dir`
file inside names the owner, so `kubelab down` (kubelab.lab.cleanup) can find the directories
of a lab's kubelets without any record. This module does not decide what goes in the
directory (runtime.py, ipam.py do).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import stat
from contextlib import suppress
from pathlib import Path

from node_agent.kubelet.errors import ManifestError

log = logging.getLogger(__name__)

BASE = Path("/run/kubelab/kubelet")
SHM_BASE = Path("/dev/shm/kubelab/kubelet")  # noqa: S108 - checked by prepare()
BASES = (BASE, SHM_BASE)  # where kubelab.lab.cleanup looks
OWNER_FILE = "root-dir"


def mount_types(mounts_text: str) -> dict[str, str]:
    """Mount point -> file system type, from /proc/self/mounts text (later mounts win)."""
    out = {}
    for line in mounts_text.splitlines():
        fields = line.split()
        if len(fields) >= 3:
            out[fields[1].replace("\\040", " ")] = fields[2]
    return out


def fs_type(path: Path, mounts: dict[str, str]) -> str:
    """The type of the file system `path` is (or would be) on: its longest mount prefix."""
    best = ""
    text = str(path)
    for point in mounts:
        prefix = point.rstrip("/") + "/"
        if (text == point or text.startswith(prefix)) and len(point) > len(best):
            best = point
    return mounts.get(best, "")


def choose_base(mounts: dict[str, str]) -> Path:
    """The first of /run and /dev/shm that is a tmpfs; /run if neither is."""
    for base in BASES:
        if fs_type(base, mounts) == "tmpfs":
            return base
    return BASE


def default_for(root_dir: Path, base: Path | None = None) -> Path:
    """`<base>/<16 hex digits of sha256(resolved root dir)>`: stable across restarts."""
    if base is None:
        try:
            text = Path("/proc/self/mounts").read_text()
        except OSError:
            text = ""
        base = choose_base(mount_types(text))
    key = hashlib.sha256(str(root_dir.resolve()).encode()).hexdigest()[:16]
    return base / key


def images_home(root_dir: Path) -> Path:
    """Where the image catalog's PATH directories go: `<BASE>/<hash>` on /run, which every
    user may traverse (0711 each), whatever the runtime dir and the root dir are. Not on
    /dev/shm, a mountPath pods often use; it is the runtime dir itself when that is on /run."""
    return default_for(root_dir, BASE)


def prepare(runtime_dir: Path, root_dir: Path) -> Path:
    """Create `runtime_dir` (mode 0711: others may reach the image directories in it, not list
    it; the pods' state below is 0700) and record its owner; return it."""
    try:
        runtime_dir.mkdir(parents=True, exist_ok=True, mode=0o711)
    except OSError as exc:  # a file there, a dangling symlink, no permission
        raise ManifestError(
            "--runtime-dir", str(runtime_dir), f"a directory this user can create: {exc}"
        ) from exc
    for base in BASES:
        if runtime_dir.is_relative_to(base):
            _check_owned(runtime_dir, base.parent)
            # traversable, not listable (S103); also one made 0700 by an earlier kubelet
            os.chmod(runtime_dir, 0o711)  # noqa: S103
    owner = runtime_dir / OWNER_FILE
    text = f"{root_dir.resolve()}\n"
    if runtime_dir.resolve() != root_dir.resolve() and not _reads(owner, text):
        tmp = owner.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, owner)
    return runtime_dir


def _check_owned(path: Path, top: Path) -> None:
    """Every directory from `top` down to `path` is a real directory owned by this user."""
    parts = path.relative_to(top).parts
    for i in range(len(parts) + 1):
        d = top.joinpath(*parts[:i])
        st = d.lstat()
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
            raise ManifestError(
                "--runtime-dir", str(path), f"{d} must be a directory owned by this user"
            )


def _reads(path: Path, text: str) -> bool:
    try:
        return path.read_text() == text
    except OSError:
        return False


def remove(runtime_dir: Path, root_dir: Path) -> None:
    """Remove `runtime_dir` after a full cleanup: the directory it names (through a symlink)
    and then the link; never the root dir or a directory that holds it."""
    target, root = runtime_dir.resolve(), root_dir.resolve()
    if root.is_relative_to(target):
        if target != root:
            log.warning("runtime dir kept: it holds the root dir path=%s root=%s", target, root)
        return
    shutil.rmtree(target, ignore_errors=True)
    if runtime_dir.is_symlink():
        runtime_dir.unlink(missing_ok=True)
    log.info("runtime dir removed path=%s", target)
    for base in BASES:  # `<base>` and `<base>/..` once no other kubelet's dir is in them
        if runtime_dir.is_relative_to(base):
            for d in (base, base.parent):
                with suppress(OSError):
                    d.rmdir()
