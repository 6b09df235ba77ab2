from __future__ import annotations

import copy
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubelab.api.errors import AlreadyExists, Conflict, NotFound
from kubelab.client.leaderelection import (
    Decision,
    LeaderElectionConfig,
    LeaderElector,
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


class FakeLeases:
    """The three calls LeaderElector makes, over one in-memory Lease with resourceVersions."""

    def __init__(self) -> None:
        self.lease: dict[str, Any] | None = None
        self.rv = 0

    def get(self, resource: object, name: str, *, namespace: str = "") -> dict[str, Any]:
        if self.lease is None:
            raise NotFound("not found")
        return copy.deepcopy(self.lease)

    def create(self, resource: object, obj: dict[str, Any], **_: object) -> dict[str, Any]:
        if self.lease is not None:
            raise AlreadyExists("exists")
        return self._store(obj)

    def update(self, resource: object, obj: dict[str, Any]) -> dict[str, Any]:
        assert self.lease is not None
        if obj["metadata"].get("resourceVersion") != self.lease["metadata"]["resourceVersion"]:
            raise Conflict("stale")
        return self._store(obj)

    def _store(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.rv += 1
        self.lease = copy.deepcopy(obj)
        self.lease["metadata"]["resourceVersion"] = str(self.rv)
        return copy.deepcopy(self.lease)


def test_leader_steps_down_at_once_when_another_holder_appears() -> None:
    leases = FakeLeases()
    started, stopped = threading.Event(), threading.Event()
    cfg = LeaderElectionConfig("l", "kube-system", "me", renew_deadline=60, retry_period=0.01)
    elector = LeaderElector(
        leases,  # type: ignore[arg-type]
        cfg,
        on_started_leading=started.set,
        on_stopped_leading=stopped.set,
    )
    elector.start()
    try:
        assert started.wait(5)
        assert leases.lease is not None
        assert leases.lease["spec"]["holderIdentity"] == "me"
        stolen = copy.deepcopy(leases.lease)
        stolen["spec"]["holderIdentity"] = "usurper"
        stolen["spec"]["renewTime"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        leases.update(None, stolen)
        assert stopped.wait(5)  # long before the 60 s renew deadline
        assert not elector.leader
    finally:
        elector.stop()
