"""`--runtime-dir`: its default, its owner record, and the runtime's split of state and data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kubelab.lab import cleanup
from node_agent.kubelet import rundir
from node_agent.kubelet.cgroups import Cgroups
from node_agent.kubelet.env import NoConfig
from node_agent.kubelet.errors import ManifestError
from node_agent.kubelet.runtime import ProcessRuntime
from tests.unit.kubelet.factories import pod
from tests.unit.kubelet.test_runtime_state import FakeNetwork


def test_default_is_stable_per_root_dir_and_distinct_between_them(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert rundir.default_for(a) == rundir.default_for(tmp_path / "x" / ".." / "a")
    assert rundir.default_for(a) != rundir.default_for(b)
    assert rundir.default_for(a).parent in rundir.BASES
    assert rundir.default_for(a, base=tmp_path).parent == tmp_path


MOUNTS = """\
/dev/vda / ext4 rw,relatime 0 0
tmpfs /dev/shm tmpfs rw,nosuid,nodev 0 0
proc /proc proc rw 0 0
"""


@pytest.mark.parametrize(
    ("mounts", "base"),
    [
        (MOUNTS, rundir.SHM_BASE),
        (MOUNTS + "tmpfs /run tmpfs rw,mode=755 0 0\n", rundir.BASE),
        ("/dev/vda / ext4 rw 0 0\n", rundir.BASE),
        ("", rundir.BASE),
    ],
    ids=["run-on-disk", "run-tmpfs", "no-tmpfs", "unreadable"],
)
def test_the_default_base_is_the_first_tmpfs_of_run_and_dev_shm(mounts: str, base: Path) -> None:
    assert rundir.choose_base(rundir.mount_types(mounts)) == base


def test_fs_type_takes_the_longest_mount_prefix() -> None:
    types = rundir.mount_types(MOUNTS + "tmpfs /dev/shm/a\\040b tmpfs rw 0 0\n")
    assert rundir.fs_type(Path("/dev/shm/x/y"), types) == "tmpfs"
    assert rundir.fs_type(Path("/dev/shmx"), types) == "ext4"
    assert rundir.fs_type(Path("/dev/shm/a b/c"), types) == "tmpfs"
    assert rundir.fs_type(Path("/"), types) == "ext4"


def test_prepare_records_the_owner_and_remove_spares_the_root_dir(tmp_path: Path) -> None:
    root, run = tmp_path / "root", tmp_path / "run"
    root.mkdir()
    assert rundir.prepare(run, root) == run
    assert (run / rundir.OWNER_FILE).read_text() == f"{root.resolve()}\n"
    rundir.prepare(run, root)  # again: unchanged
    rundir.remove(run, root)
    assert not run.exists()
    rundir.prepare(root, root)  # one directory for both: no owner file, never removed
    assert not (root / rundir.OWNER_FILE).exists()
    rundir.remove(root, root)
    assert root.is_dir()


def test_remove_follows_a_symlinked_runtime_dir_and_spares_a_dir_holding_the_root(
    tmp_path: Path,
) -> None:
    root, real, link = tmp_path / "root", tmp_path / "real", tmp_path / "link"
    root.mkdir()
    real.mkdir()
    link.symlink_to(real)
    rundir.prepare(link, root)
    (real / "pods").mkdir()
    rundir.remove(link, root)
    assert not real.exists()  # the state, not only the link
    assert not link.is_symlink()
    holder = tmp_path / "holder"
    inner = holder / "kubelet"
    inner.mkdir(parents=True)
    rundir.prepare(holder, inner)
    rundir.remove(holder, inner)  # removing it would remove the root dir: kept
    assert inner.is_dir()


@pytest.fixture
def split(tmp_path: Path) -> Iterator[tuple[ProcessRuntime, Path, Path]]:
    root, run = tmp_path / "root", tmp_path / "run"
    cgroups = Cgroups("kubelab-test", root=tmp_path / "nocgroup")
    rt = ProcessRuntime(root, FakeNetwork(), cgroups, NoConfig(), runtime_dir=run)
    try:
        yield rt, root, run
    finally:
        rt.close()


def test_state_goes_to_the_runtime_dir_and_volumes_stay_in_the_root_dir(
    split: tuple[ProcessRuntime, Path, Path],
) -> None:
    rt, root, run = split
    spec = pod(volumes=[{"name": "scratch", "emptyDir": {}}])
    rt.create_sandbox(spec)
    assert (run / "pods" / "u1" / "pod.json").exists()
    assert (run / "pods" / "u1" / "etc" / "hosts").read_text().count("10.244.1.2") == 1
    assert (root / "pods" / "u1" / "volumes" / "scratch").is_dir()
    assert not (root / "pods" / "u1" / "pod.json").exists()
    assert rt.stored_pod("u1") is not None
    assert rt.observe(spec).sandbox_ready
    assert rt.pod_uids() == {"u1"}
    rt.remove_pod("u1", grace=0)
    assert not (run / "pods" / "u1").exists()
    assert not (root / "pods" / "u1").exists()
    assert rt.pod_uids() == set()


def test_a_pod_with_only_data_left_is_still_listed_for_removal(
    split: tuple[ProcessRuntime, Path, Path],
) -> None:
    rt, root, _ = split
    (root / "pods" / "u2" / "volumes").mkdir(parents=True)  # runtime dir lost (a reboot)
    assert rt.pod_uids() == {"u2"}
    rt.remove_pod("u2", grace=0)
    assert rt.pod_uids() == set()


def test_lab_cleanup_looks_where_the_kubelet_writes() -> None:
    assert cleanup.KUBELET_RUN_ROOTS == rundir.BASES
    assert cleanup.RUN_OWNER_FILE == rundir.OWNER_FILE


@pytest.mark.parametrize("what", ["file", "dangling symlink"])
def test_a_runtime_dir_that_cannot_be_a_directory_names_the_flag(tmp_path: Path, what: str) -> None:
    root, run = tmp_path / "root", tmp_path / "run"
    root.mkdir()
    if what == "file":
        run.write_text("")
    else:
        run.symlink_to(tmp_path / "nowhere")
    with pytest.raises(ManifestError, match=r"--runtime-dir: invalid value .*run'"):
        rundir.prepare(run, root)


def test_a_symlink_on_the_way_is_refused(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "top").symlink_to(tmp_path / "real")
    with pytest.raises(ManifestError, match="--runtime-dir"):
        rundir._check_owned(tmp_path / "top" / "x", tmp_path / "top")
    (tmp_path / "ok" / "x").mkdir(parents=True)
    rundir._check_owned(tmp_path / "ok" / "x", tmp_path / "ok")
