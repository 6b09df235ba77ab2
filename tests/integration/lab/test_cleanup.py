"""`cleanup.clean` removes every kernel object with the lab's prefix, and nothing else (root)."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubelab.lab import cleanup, procs
from kubelab.lab.spec import kernel_prefix
from tests.support.netns import TEST_PREFIX, NetnsFactory, list_netns, run

pytestmark = [pytest.mark.netns, pytest.mark.timeout(60)]
CGROUP = Path("/sys/fs/cgroup/pids")


@pytest.fixture
def lab_prefix(tmp_path: Path) -> Iterator[str]:
    """A throwaway lab name (`t` + hex, a valid name) whose objects are always removed."""
    prefix = kernel_prefix(f"t{secrets.token_hex(3)}")
    yield prefix
    cleanup.clean(prefix, tmp_path / "lab")


def links() -> set[str]:
    out = run("ip", "-o", "link", "show").stdout
    return {line.split(":", 2)[1].strip().split("@", 1)[0] for line in out.splitlines()}


def test_clean_removes_the_labs_objects_and_spares_others(
    lab_prefix: str, tmp_path: Path, netns: NetnsFactory
) -> None:
    p = lab_prefix
    lab_dir = tmp_path / "lab"
    # Another lab whose name extends ours must survive (names have no hyphen: kl-tX- vs kl-tXy-).
    bystander_ns = netns("bystander")
    bystander_link = f"{netns.tag}b"
    run("ip", "link", "add", bystander_link, "type", "bridge")
    # The lab: two machines on a bridge, a process inside one, chains, a mount, a cgroup.
    for machine, link in (("cp-1", "c1"), ("node-1", "n1")):
        run("ip", "netns", "add", f"{p}{machine}")
        run("ip", "link", "add", f"{p}{link}", "type", "veth", "peer", "name", "eth0",
            "netns", f"{p}{machine}")  # fmt: skip
    run("ip", "link", "add", f"{p}br", "type", "bridge")
    run("ip", "link", "set", f"{p}c1", "master", f"{p}br")
    sleeper = subprocess.Popen(["ip", "netns", "exec", f"{p}cp-1", "sleep", "300"])
    parent_chain = f"{TEST_PREFIX}{p[:-1]}-up"  # a non-lab chain that jumps into the lab's
    run("iptables", "-w", "-t", "filter", "-N", parent_chain)
    run("iptables", "-w", "-t", "filter", "-N", f"{p}fwd")
    run("iptables", "-w", "-t", "filter", "-A", f"{p}fwd", "-j", "ACCEPT")
    run("iptables", "-w", "-t", "filter", "-A", parent_chain, "-i", f"{p}br", "-j", f"{p}fwd")
    run("iptables", "-w", "-t", "filter", "-A", parent_chain, "-j", "RETURN")
    mnt = lab_dir / "machines" / "cp-1" / "mnt"
    mnt.mkdir(parents=True)
    run("mount", "-t", "tmpfs", "tmpfs", str(mnt))
    cgroup = CGROUP / f"{p}pods" / "web"
    cgroup.mkdir(parents=True)
    in_cgroup = subprocess.Popen(["sleep", "300"])
    (cgroup / "cgroup.procs").write_text(str(in_cgroup.pid))
    try:
        found = cleanup.select(p, lab_dir, cleanup.observe(p))
        assert found.chains == (("filter", f"{p}fwd"),)
        assert [(r.chain, r.args) for r in found.rules] == [
            (parent_chain, ("-i", f"{p}br", "-j", f"{p}fwd"))
        ]
        assert found.mounts == (str(mnt),)
        assert found.cgroups == (str(CGROUP / f"{p}pods"),)

        plan, report = cleanup.clean(p, lab_dir)
        assert report.failed == []
        assert plan.netns == (f"{p}cp-1", f"{p}node-1")  # netlab's clean_prefix removed these
        assert set(plan.links) == {f"{p}br", f"{p}c1", f"{p}n1"}
        # netlab's clean takes the lab's chains and the jumps to them; the scan takes the rest.
        assert (plan.mounts, plan.cgroups) == (found.mounts, found.cgroups)

        assert not {n for n in list_netns() if n.startswith(p)}
        assert not {n for n in links() if n.startswith(p)}
        saved = run("iptables-save", "-t", "filter").stdout
        assert f":{p}fwd" not in saved
        assert f"-j {p}fwd" not in saved
        assert f"-A {parent_chain} -j RETURN" in saved  # the rest of the chain is untouched
        assert str(mnt) not in Path("/proc/self/mountinfo").read_text()
        assert not (CGROUP / f"{p}pods").exists()
        assert sleeper.wait(10) is not None
        assert in_cgroup.wait(10) is not None
        # Bystanders are intact; a second clean finds nothing.
        assert bystander_ns in list_netns()
        assert bystander_link in links()
        again, _ = cleanup.clean(p, lab_dir)
        assert again.empty
    finally:
        for proc in (sleeper, in_cgroup):
            if procs.identify(proc.pid) is not None and proc.poll() is None:
                proc.kill()
            proc.wait(10)
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
        for chain in (parent_chain, f"{p}fwd"):
            subprocess.run(["iptables", "-w", "-F", chain], capture_output=True)
        for chain in (parent_chain, f"{p}fwd"):
            subprocess.run(["iptables", "-w", "-X", chain], capture_output=True)
