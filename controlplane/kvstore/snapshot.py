"""Snapshot files: their framing, and offline restore into a fresh data dir (like etcdutl).

A snapshot as streamed by Maintenance.Snapshot and written by `etcdctl snapshot save` is
`MvccStore.dump()` (canonical JSON with its own sha256 trailer) padded with NUL bytes to a
multiple of 512 and followed by the 32-byte sha256 of everything before it: the framing etcd
uses for its bbolt file, which etcdctl checks after downloading. Restore checks both digests
and places the state in the data dir, where a replica starts from it before replaying its
(empty) Raft log; restore every member of the new cluster from the same file, as with etcd.
"""

from __future__ import annotations

import hashlib
import os

from controlplane.kvstore.errors import ConfigError
from controlplane.kvstore.mvcc import MvccStore

RESTORED_SNAPSHOT = "restored.snapshot"
_SECTOR = 512


def encode(dump: bytes) -> bytes:
    padded = dump + b"\x00" * (-len(dump) % _SECTOR)
    return padded + hashlib.sha256(padded).digest()


def decode(blob: bytes) -> MvccStore:
    body, digest = blob[:-32], blob[-32:]
    if len(blob) % _SECTOR != 32 or hashlib.sha256(body).digest() != digest:
        raise ConfigError("snapshot is corrupt or not a kvstore snapshot: sha256 does not match")
    return MvccStore.load(body.rstrip(b"\x00"))


def restore(snapshot_path: str, data_dir: str) -> int:
    """Validate the snapshot and install it; return its revision."""
    try:
        with open(snapshot_path, "rb") as f:
            blob = f.read()
    except OSError as exc:
        raise ConfigError(f"snapshot {snapshot_path!r}: {exc}") from exc
    store = decode(blob)
    if os.path.isdir(data_dir) and os.listdir(data_dir):
        raise ConfigError(f"--data-dir={data_dir!r}: already exists and is not empty")
    os.makedirs(data_dir, exist_ok=True)
    target = os.path.join(data_dir, RESTORED_SNAPSHOT)
    tmp = target + ".tmp"
    with open(tmp, "wb") as f:
        f.write(store.dump())
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)
    return store.revision
