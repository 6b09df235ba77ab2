"""What the kubelet writes into a container's cgroup (against a directory laid out like a
cgroup v1 mount: the limit files of a new cgroup hold the kernel's defaults)."""

from __future__ import annotations

from pathlib import Path

from node_agent.kubelet.cgroups import Cgroups


def v1_root(tmp_path: Path) -> Path:
    for controller in ("memory", "cpu"):
        (tmp_path / controller).mkdir()
    return tmp_path


def files(d: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(d.iterdir()) if p.is_file()}


def test_a_new_cgroup_gets_only_the_limits_asked_for(tmp_path: Path) -> None:
    cg = Cgroups("kubelab-n1", root=v1_root(tmp_path))
    made = cg.create("u1", "plain", None, None)
    assert files(tmp_path / "memory/kubelab-n1/podu1/plain") == {}  # the defaults: no limit
    assert made.procs_files == (
        str(tmp_path / "memory/kubelab-n1/podu1/plain/cgroup.procs"),
        str(tmp_path / "cpu/kubelab-n1/podu1/plain/cgroup.procs"),
    )
    cg.create("u1", "limited", 64 * 2**20, 250)
    assert files(tmp_path / "memory/kubelab-n1/podu1/limited") == {
        "memory.limit_in_bytes": str(64 * 2**20)
    }
    assert files(tmp_path / "cpu/kubelab-n1/podu1/limited") == {
        "cpu.cfs_period_us": "100000",
        "cpu.cfs_quota_us": "25000",
    }


def test_a_reused_cgroup_has_its_limits_set_again(tmp_path: Path) -> None:
    cg = Cgroups("kubelab-n1", root=v1_root(tmp_path))
    cg.create("u1", "c", 64 * 2**20, 250)
    cg.create("u1", "c", None, None)  # the same container started again, now without limits
    assert files(tmp_path / "memory/kubelab-n1/podu1/c")["memory.limit_in_bytes"] == "-1"
    assert files(tmp_path / "cpu/kubelab-n1/podu1/c")["cpu.cfs_quota_us"] == "-1"
