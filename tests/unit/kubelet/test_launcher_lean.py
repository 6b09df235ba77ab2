"""The zygote stays as small as `python -I -S` allows: loading launcher.py pulls in no module
that only a shim needs (they are imported after the fork)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from node_agent.kubelet import launcher

SHIM_ONLY = {"ctypes", "json", "select", "contextlib", "enum", "typing", "signal"}


@pytest.mark.timeout(30)
def test_zygote_loads_no_shim_only_module() -> None:
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import launcher; "
        "print(' '.join(sorted(sys.modules)))"
    )
    where = str(Path(launcher.__file__).parent)
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code, where], capture_output=True, text=True, check=True
    ).stdout.split()
    assert "launcher" in out
    assert SHIM_ONLY.isdisjoint(out), sorted(SHIM_ONLY.intersection(out))
