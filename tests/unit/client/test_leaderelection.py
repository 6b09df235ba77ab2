from __future__ import annotations

import copy
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubelab.api.errors import AlreadyExists, Conflict, NotFound, ServiceUnavailable
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
        (lease("me", 60), Decision.RENEW),
        (lease("other", 15), Decision.WAIT),
    ],
    ids=["absent", "mine", "held", "expired", "released", "mine, expired", "expires right now"],
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


# --- the elector, one step at a time, with clocks moved by hand --------------------------------


class Clocks:
    """The wall clock (Lease timestamps) and the monotonic one (renew deadline), moved together."""

    def __init__(self) -> None:
        self.wall = NOW
        self.mono = 1000.0

    def advance(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.mono += seconds


class FlakyLeases(FakeLeases):
    """FakeLeases that can be cut off like an unreachable apiserver, or raced on every write."""

    def __init__(self) -> None:
        super().__init__()
        self.fail = False
        self.race = False

    def get(self, resource: object, name: str, *, namespace: str = "") -> dict[str, Any]:
        if self.fail:
            raise ServiceUnavailable("apiserver unavailable")
        got = super().get(resource, name, namespace=namespace)
        if self.race:  # someone else writes between our read and our write
            assert self.lease is not None
            self.rv += 1
            self.lease["metadata"]["resourceVersion"] = str(self.rv)
        return got

    def create(self, resource: object, obj: dict[str, Any], **kw: object) -> dict[str, Any]:
        if self.fail:
            raise ServiceUnavailable("apiserver unavailable")
        return super().create(resource, obj, **kw)

    def update(self, resource: object, obj: dict[str, Any]) -> dict[str, Any]:
        if self.fail:
            raise ServiceUnavailable("apiserver unavailable")
        return super().update(resource, obj)


def candidate(
    leases: FakeLeases, identity: str, clocks: Clocks, log: list[str] | None = None
) -> LeaderElector:
    log = [] if log is None else log
    return LeaderElector(
        leases,  # type: ignore[arg-type]
        LeaderElectionConfig("kube-scheduler", "kube-system", identity),
        on_started_leading=lambda: log.append(f"{identity} started"),
        on_stopped_leading=lambda: log.append(f"{identity} stopped"),
        clock=lambda: clocks.wall,
        monotonic=lambda: clocks.mono,
    )


def test_one_leader_and_failover_after_the_lease_expires() -> None:
    clocks, leases = Clocks(), FakeLeases()
    a, b = candidate(leases, "a", clocks), candidate(leases, "b", clocks)
    assert a.step() is True
    assert b.step() is False
    assert b.observed_holder == "a"
    for _ in range(10):  # a renews every retry period; b never gets in
        clocks.advance(2)
        assert a.step() is True
        assert b.step() is False
    # a dies without releasing; b takes over once the 15 s lease has run out.
    clocks.advance(15)
    assert b.step() is False  # renewTime + 15 s is now: not yet expired
    clocks.advance(0.001)
    assert b.step() is True
    assert leases.lease is not None
    assert leases.lease["spec"]["holderIdentity"] == "b"
    assert leases.lease["spec"]["leaseTransitions"] == 1


def test_leader_steps_down_when_it_cannot_renew_within_the_deadline() -> None:
    clocks, leases, log = Clocks(), FlakyLeases(), list[str]()
    a = candidate(leases, "a", clocks, log)
    assert a.step() is True
    leases.fail = True
    clocks.advance(10)
    assert a.step() is True  # still within the 10 s renew deadline
    clocks.advance(0.5)
    assert a.step() is False
    assert log[-1] == "a stopped"
    leases.fail = False
    assert a.step() is True  # the lease is still ours: it can lead again


def test_losing_the_compare_and_swap_race_means_not_leading() -> None:
    clocks, leases = Clocks(), FlakyLeases()
    leases.lease = lease("x", 60)  # expired long ago
    leases.lease["metadata"]["resourceVersion"] = "0"
    leases.race = True
    a = candidate(leases, "a", clocks)
    assert a.step() is False
    assert leases.lease["spec"]["holderIdentity"] == "x"


def test_run_calls_back_on_start_and_releases_on_stop() -> None:
    leases = FakeLeases()
    started = threading.Event()
    cfg = LeaderElectionConfig("l", "kube-system", "me", retry_period=0.01)
    elector = LeaderElector(leases, cfg, on_started_leading=started.set)  # type: ignore[arg-type]
    elector.start()
    assert started.wait(5)
    elector.stop()
    assert leases.lease is not None
    assert leases.lease["spec"]["holderIdentity"] == ""  # released for the next candidate
    assert not elector.leader
