from __future__ import annotations

import os
from pathlib import Path

from node_agent.kubelet.fsutil import read_bytes, replace_bytes, write_bytes


def test_write_read_and_replace(tmp_path: Path) -> None:
    path = tmp_path / "f"
    assert read_bytes(path) is None
    write_bytes(path, "héllo")
    assert read_bytes(path) == "héllo".encode()
    write_bytes(path, b"x")  # truncates
    assert read_bytes(path) == b"x"
    big = os.urandom(200_000)  # more than one read
    replace_bytes(path, big)
    assert read_bytes(path) == big
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]  # no temporary left
    assert oct(path.stat().st_mode & 0o777) == oct(0o644 & ~_umask())


def test_a_directory_reads_as_none(tmp_path: Path) -> None:
    assert read_bytes(tmp_path) is None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
