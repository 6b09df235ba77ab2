from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from kubelab.api.registry import REGISTRY
from kubelab.api.tables import human_duration, table

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (5, "5s"),
        (119, "119s"),
        (200, "3m20s"),
        (600, "10m"),
        (3 * 3600 + 120, "3h2m"),
        (30 * 3600, "30h"),
        (3 * 86400 + 3600 * 4, "3d4h"),
        (100 * 86400, "100d"),
        (800 * 86400, "2y70d"),
    ],
)
def test_human_duration_like_kubectl(seconds: int, text: str) -> None:
    assert human_duration(seconds) == text


def running_pod() -> dict[str, Any]:
    return {
        "metadata": {
            "name": "web",
            "namespace": "default",
            "creationTimestamp": "2026-01-01T11:55:00Z",
        },
        "spec": {"nodeName": "node-1", "containers": [{"name": "a"}, {"name": "b"}]},
        "status": {
            "phase": "Running",
            "podIP": "10.244.1.5",
            "containerStatuses": [
                {"name": "a", "ready": True, "restartCount": 1, "state": {"running": {}}},
                {
                    "name": "b",
                    "ready": False,
                    "restartCount": 0,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                },
            ],
        },
    }


def test_pod_table_has_kubectl_columns_and_wide_ones() -> None:
    info = REGISTRY.by_resource("pods")
    assert info is not None
    t = table(info, [running_pod()], NOW)
    names = [(c["name"], c["priority"]) for c in t["columnDefinitions"]]
    assert names[:5] == [("Name", 0), ("Ready", 0), ("Status", 0), ("Restarts", 0), ("Age", 0)]
    assert ("IP", 1) in names
    assert ("Node", 1) in names
    cells = t["rows"][0]["cells"]
    assert cells[:5] == ["web", "1/2", "CrashLoopBackOff", "1", "5m"]
    assert cells[5:7] == ["10.244.1.5", "node-1"]
    assert t["rows"][0]["object"]["kind"] == "PartialObjectMetadata"


def test_terminating_pod_status() -> None:
    info = REGISTRY.by_resource("pods")
    assert info is not None
    pod = running_pod()
    pod["metadata"]["deletionTimestamp"] = "2026-01-01T12:00:30Z"
    assert table(info, [pod], NOW)["rows"][0]["cells"][2] == "Terminating"


def test_node_table() -> None:
    info = REGISTRY.by_resource("nodes")
    assert info is not None
    node = {
        "metadata": {
            "name": "n1",
            "creationTimestamp": "2026-01-01T10:00:00Z",
            "labels": {"node-role.kubernetes.io/control-plane": ""},
        },
        "spec": {"unschedulable": True},
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "nodeInfo": {"kubeletVersion": "v1.32.0-kubelab"},
            "addresses": [{"type": "InternalIP", "address": "10.250.0.20"}],
        },
    }
    cells = table(info, [node], NOW, include_object="None")["rows"][0]
    assert "object" not in cells
    assert cells["cells"][:6] == [
        "n1",
        "Ready,SchedulingDisabled",
        "control-plane",
        "120m",
        "v1.32.0-kubelab",
        "10.250.0.20",
    ]


def test_generic_table_for_kinds_without_columns() -> None:
    info = REGISTRY.by_resource("leases")
    assert info is not None
    obj = {
        "metadata": {"name": "l", "creationTimestamp": "2026-01-01T11:59:00Z"},
        "spec": {"holderIdentity": "me"},
    }
    assert table(info, [obj], NOW, include_object="Object")["rows"][0]["cells"] == [
        "l",
        "me",
        "60s",
    ]
