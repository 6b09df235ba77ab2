"""The environment the lab gives its processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubelab.lab import procs


def test_lab_env_limits_malloc_arenas_unless_the_caller_says_otherwise() -> None:
    assert procs.lab_env({"PATH": "/bin"}) == {"PATH": "/bin", "MALLOC_ARENA_MAX": "2"}
    assert procs.lab_env({"MALLOC_ARENA_MAX": "8"}) == {"MALLOC_ARENA_MAX": "8"}


@pytest.mark.timeout(30)
def test_spawned_process_gets_the_lab_env(tmp_path: Path) -> None:
    out = tmp_path / "out.log"
    argv = ["sh", "-c", 'echo "arenas=$MALLOC_ARENA_MAX other=$OTHER"']
    proc = procs.spawn(argv, netns=None, log_path=out, env={"OTHER": "x", "PATH": "/usr/bin:/bin"})
    assert proc.wait(timeout=20) == 0
    assert out.read_text() == "arenas=2 other=x\n"
