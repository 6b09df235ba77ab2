"""Reading the store's leader, lease holders and nodes out of the cluster's answers (pure)."""

from __future__ import annotations

from typing import Any

from kubelab.lab.health import StoreMember, leader, lease_holders, node_rows, render_store


def member(machine: str, mid: int, leader_id: int, term: int) -> StoreMember:
    return StoreMember(machine, f"{machine}:2379", member_id=mid, leader_id=leader_id, term=term)


def test_leader_is_what_the_members_with_the_latest_term_say() -> None:
    members = [
        member("cp-1", 0xA, 0xA, 3),  # a stale view from an old term
        member("cp-2", 0xB, 0xC, 4),
        member("cp-3", 0xC, 0xC, 4),
    ]
    assert leader(members) == ("cp-3", 4)
    assert (
        render_store(members) == "store: leader cp-3 (term 4); members: cp-1 up, cp-2 up, cp-3 up"
    )


def test_no_answer_no_leader() -> None:
    down = [StoreMember("cp-1", "x", error="UNAVAILABLE")]
    assert leader(down) == (None, None)
    assert render_store(down) == "store: no leader; members: cp-1 UNAVAILABLE"
    # A leader that is not among the answering members is shown by its id.
    assert leader([member("cp-1", 0xA, 0xFF, 2)]) == ("member ff", 2)


def lease(name: str, holder: str | None) -> dict[str, Any]:
    spec = {} if holder is None else {"holderIdentity": holder}
    return {"metadata": {"name": name, "namespace": "kube-system"}, "spec": spec}


def test_lease_holders() -> None:
    leases = {"kind": "LeaseList", "items": [lease("kube-scheduler", "cp-2_1a2b"), lease("x", "y")]}
    assert lease_holders(leases) == {"kube-scheduler": "cp-2_1a2b", "kube-controller-manager": ""}
    assert lease_holders({"items": [lease("kube-scheduler", None)]})["kube-scheduler"] == ""


def node(name: str, ready: str | None, role: str | None, ip: str, **spec: Any) -> dict[str, Any]:
    labels = {"kubernetes.io/hostname": name}
    if role:
        labels[f"node-role.kubernetes.io/{role}"] = ""
    conditions = [] if ready is None else [{"type": "Ready", "status": ready}]
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": spec,
        "status": {
            "conditions": [{"type": "MemoryPressure", "status": "False"}, *conditions],
            "addresses": [
                {"type": "Hostname", "address": name},
                {"type": "InternalIP", "address": ip},
            ],
        },
    }


def test_node_rows_read_like_kubectl() -> None:
    nodes = {
        "items": [
            node("cp-1", "True", "control-plane", "10.250.0.10"),
            node("node-1", "False", None, "10.250.0.20", unschedulable=True),
            node("node-2", None, None, "10.250.0.21"),
        ]
    }
    assert node_rows(nodes) == [
        ["cp-1", "Ready", "control-plane", "10.250.0.10"],
        ["node-1", "NotReady,SchedulingDisabled", "<none>", "10.250.0.20"],
        ["node-2", "Unknown", "<none>", "10.250.0.21"],
    ]
