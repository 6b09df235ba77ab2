"""`kubelab status` rendering (pure)."""

from __future__ import annotations

import pytest

from kubelab.lab.health import StoreMember
from kubelab.lab.plan import plan
from kubelab.lab.spec import ClusterSpec
from kubelab.lab.status import (
    ClusterView,
    LabStatus,
    ProcessStatus,
    holder_machine,
    human_duration,
    lease_text,
    render_status,
)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (59.9, "59s"), (60, "1m0s"), (303, "5m3s"), (7800, "2h10m"), (273600, "3d4h")],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_render_status() -> None:
    lab = plan(ClusterSpec(name="demo", control_planes=1, workers=1))
    st = LabStatus(
        plan=lab,
        supervisor_pid=4242,
        processes=(
            ProcessStatus("cp-1/kvstore", "running", 101, 303.0, 0, None),
            ProcessStatus("cp-1/apiserver", "backoff", None, None, 3, 1),
            ProcessStatus("node-1/kubelet", "not started", None, None, 0, None),
        ),
        netns_present=frozenset({"demo-cp-1"}),
    )
    lines = render_status(st).splitlines()
    assert lines[0] == (
        "lab demo: 1 control plane(s), 1 worker(s), store kvstore; API https://10.250.0.10:6443"
    )
    assert lines[1] == "supervisor: running (pid 4242)"
    assert lines[3].split() == ["MACHINE", "ROLE", "IP", "POD", "CIDR", "NETNS"]
    assert lines[4].split() == [
        "cp-1", "control-plane", "10.250.0.10", "10.244.0.0/24", "demo-cp-1", "(present)",
    ]  # fmt: skip
    assert lines[5].split()[-1] == "(missing)"
    assert lines[8].split() == ["cp-1/kvstore", "running", "101", "5m3s", "0", "-"]
    assert lines[9].split() == ["cp-1/apiserver", "backoff", "-", "-", "3", "1"]


def test_render_what_the_cluster_says() -> None:
    lab = plan(ClusterSpec(name="demo", control_planes=1, workers=1))
    view = ClusterView(
        store=(StoreMember("cp-1", "10.250.0.10:2379", member_id=1, leader_id=1, term=2),),
        leases={"kube-scheduler": "cp-1_x", "kube-controller-manager": ""},
        nodes=(("cp-1", "Ready", "control-plane", "10.250.0.10"),),
    )
    st = LabStatus(lab, 1, (), frozenset(), cluster=view)
    text = render_status(st)
    assert "store: leader cp-1 (term 2); members: cp-1 up" in text
    assert (
        "leases: kube-scheduler held by cp-1_x, "
        "kube-controller-manager held by none (no controller-manager yet)"
    ) in text
    assert text.splitlines()[-1].split() == ["cp-1", "Ready", "control-plane", "10.250.0.10"]
    down = LabStatus(lab, 1, (), frozenset(), cluster=ClusterView(api_error="https://x: refused"))
    assert render_status(down).endswith("apiserver: not reachable at https://x: refused")
    assert render_status(LabStatus(lab, None, (), frozenset())).endswith(
        "cluster: not asked (the lab is not up)"
    )


@pytest.mark.parametrize(
    ("lease", "holder", "components", "text"),
    [
        ("kube-scheduler", "cp-2_ab", {"scheduler"}, "kube-scheduler held by cp-2_ab"),
        ("kube-scheduler", "", {"scheduler"}, "kube-scheduler held by nobody"),
        ("kube-scheduler", "", set(), "kube-scheduler held by none (no scheduler yet)"),
        (
            "kube-controller-manager",
            "",
            {"scheduler"},
            "kube-controller-manager held by none (no controller-manager yet)",
        ),
        (
            "kube-controller-manager",
            "",
            {"controller-manager"},
            "kube-controller-manager held by nobody",
        ),
        ("other", "", set(), "other held by nobody"),
    ],
)
def test_lease_text(lease: str, holder: str, components: set[str], text: str) -> None:
    assert lease_text(lease, holder, components) == text


def test_holder_machine_from_the_components_start_lines() -> None:
    logs = {
        "cp-2": "--- kubelab-supervisor\nI starting identity=h_bbbb\nI leader is identity=h_aaaa",
        "cp-1": "I starting scheduler_name=x leader_elect=True identity=h_aaaa\nI leader is",
        "cp-3": "",
    }
    assert holder_machine("h_bbbb", logs) == "cp-2"
    assert holder_machine("h_aaaa", logs) == "cp-1"  # not cp-2, which only saw it lead
    assert holder_machine("h_cccc", logs) is None
    assert lease_text("kube-scheduler", "h_bbbb", {"scheduler"}, "cp-2") == (
        "kube-scheduler held by cp-2 (h_bbbb)"
    )
