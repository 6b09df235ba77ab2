"""Small-file reads and writes in as few system calls as the kernel needs.

The kubelet writes and reads a handful of small files for every pod it starts (state, run
records, /etc files for the pod). Python's `open()` adds an fstat, an isatty ioctl and an
lseek to each, and in a busy kubelet every system call also passes the interpreter lock to
another thread and back; these helpers use the `os` calls directly.
"""

from __future__ import annotations

import os
from pathlib import Path

_WRITE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC


def read_bytes(path: str | Path) -> bytes | None:
    """The whole file, or None if it cannot be read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        chunks: list[bytes] = []
        while True:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    except OSError:
        return None
    finally:
        os.close(fd)


def write_bytes(path: str | Path, data: bytes | str, mode: int = 0o644) -> None:
    """Create or replace the content of `path` (not atomic: see `replace_bytes`)."""
    payload = data.encode() if isinstance(data, str) else data
    fd = os.open(path, _WRITE, mode)
    try:
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def replace_bytes(
    path: str | Path, data: bytes | str, tmp_suffix: str = ".tmp", mode: int = 0o644
) -> None:
    """Write `path` whole or not at all: into `<path><tmp_suffix>`, then renamed over it."""
    tmp = f"{path}{tmp_suffix}"
    write_bytes(tmp, data, mode)
    os.replace(tmp, path)
