from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubelab.client.leaderelection import (
    Decision,
    LeaderElectionConfig,
    decide,
    desired_lease,
)

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def lease(holder: str, renewed_ago: float, duration: int = 15) -> dict[str, Any]:
    stamp = (NOW - timedelta(seconds=renewed_ago)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "metadata": {"name": "l", "namespace": "kube-system", "resourceVersion": "7"},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": duration,
                 "renewTime": stamp, "acquireTime": stamp, "leaseTransitions": 3},
    }  # fmt: skip


@pytest.mark.parametrize(
    ("current", "decision"),
    [
        (None, Decision.CREATE),
        (lease("me", 5), Decision.RENEW),
        (lease("other", 5), Decision.WAIT),
        (lease("other", 16), Decision.ACQUIRE),
        (lease("", 1), Decision.ACQUIRE),
    ],
    ids=["absent", "mine", "held", "expired", "released"],
)
def test_decide(current: dict[str, Any] | None, decision: Decision) -> None:
    assert decide(current, "me", NOW) is decision


def test_desired_lease_counts_transitions_and_keeps_resource_version() -> None:
    cfg = LeaderElectionConfig(name="l", namespace="kube-system", identity="me")
    taken = desired_lease(lease("other", 30), cfg, Decision.ACQUIRE, NOW)
    assert taken["spec"]["holderIdentity"] == "me"
    assert taken["spec"]["leaseTransitions"] == 4
    assert taken["metadata"]["resourceVersion"] == "7"  # the CAS precondition
    assert taken["spec"]["renewTime"] == "2026-01-01T12:00:00.000000Z"
    renewed = desired_lease(lease("me", 3), cfg, Decision.RENEW, NOW)
    assert renewed["spec"]["leaseTransitions"] == 3
    created = desired_lease(None, cfg, Decision.CREATE, NOW)
    assert created["spec"]["leaseTransitions"] == 0
    assert created["metadata"] == {"name": "l", "namespace": "kube-system"}
