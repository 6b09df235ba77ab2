"""The C library calls the kubelet makes itself: namespaces (setns, unshare) and mounts.

ctypes with `use_errno`, so a failure becomes an OSError with the call, its target and the
system's message. The container shim (`launcher.py`) has its own copy: it must not import
kubelet modules.
"""

from __future__ import annotations

import ctypes
import errno
import os

MS_NOSUID = 2
MS_NODEV = 4
MS_BIND = 4096
MNT_DETACH = 2

libc = ctypes.CDLL(None, use_errno=True)


def check(result: int, what: str) -> None:
    """Raise OSError(errno, "<what>: <message>") when a call returned nonzero."""
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount_tmpfs(target: str, *, mode: int, size: int | None = None) -> None:
    """A tmpfs at `target` (no setuid, no device files), `size` bytes at most when given."""
    options = f"mode={mode:o}" + (f",size={size}" if size is not None else "")
    result = libc.mount(b"tmpfs", target.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, options.encode())
    check(result, f"mount tmpfs on {target}")


def unmount(target: str) -> bool:
    """Detach the mount at `target`; False when nothing was mounted there."""
    if libc.umount2(target.encode(), MNT_DETACH) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOENT):
        return False
    raise OSError(err, f"umount {target}: {os.strerror(err)}")
