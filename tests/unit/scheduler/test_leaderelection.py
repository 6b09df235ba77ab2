from __future__ import annotations

import pytest

from controlplane.scheduler.leaderelection import (
    Action,
    ElectionConfig,
    LeaderElector,
    LeaseRecord,
    MemoryLeaseStore,
    decide,
    from_lease_spec,
    to_lease_spec,
)
from tests.unit.scheduler.fakeclock import FakeClock

ME, OTHER = "cp-1_abc", "cp-2_def"


@pytest.mark.parametrize(
    ("current", "now", "action", "holder", "transitions", "acquire_time"),
    [
        (None, 100.0, Action.ACQUIRE, ME, 0, 100.0),
        (LeaseRecord(ME, 15, 50.0, 95.0, 3), 100.0, Action.RENEW, ME, 3, 50.0),
        (LeaseRecord(OTHER, 15, 50.0, 95.0, 3), 100.0, Action.STAND_BY, OTHER, None, None),
        (LeaseRecord(OTHER, 15, 50.0, 85.0, 3), 100.0, Action.ACQUIRE, ME, 4, 100.0),
        (LeaseRecord(OTHER, 15, 50.0, 85.0, 3), 99.9, Action.STAND_BY, OTHER, None, None),
        (LeaseRecord("", 15, 50.0, 99.0, 3), 100.0, Action.ACQUIRE, ME, 4, 100.0),
        (LeaseRecord(ME, 15, 50.0, 10.0, 3), 100.0, Action.RENEW, ME, 3, 50.0),
    ],
    ids=[
        "no lease: create it",
        "we hold it: renew, same term",
        "someone else holds a fresh lease: stand by",
        "someone else's lease expired: take it over, new term",
        "not expired one instant earlier",
        "released lease (empty holder): take it",
        "our own expired lease: renew",
    ],
)
def test_decide(  # noqa: PLR0917 - one parameter per table column
    current: LeaseRecord | None,
    now: float,
    action: Action,
    holder: str,
    transitions: int | None,
    acquire_time: float | None,
) -> None:
    decision = decide(current, ME, now, 15.0)
    assert decision.action is action
    assert decision.holder == holder
    if decision.record is None:
        assert action is Action.STAND_BY
        return
    assert decision.record.holder_identity == ME
    assert decision.record.renew_time == now
    assert decision.record.lease_transitions == transitions
    assert decision.record.acquire_time == acquire_time
    assert decision.record.lease_duration_seconds == 15


def test_lease_spec_round_trip() -> None:
    record = LeaseRecord(ME, 15, 1_700_000_000.123456, 1_700_000_010.5, 2)
    spec = to_lease_spec(record)
    assert spec["renewTime"] == "2023-11-14T22:13:30.500000Z"
    assert spec["holderIdentity"] == ME
    back = from_lease_spec(spec)
    assert back.holder_identity == ME
    assert back.renew_time == pytest.approx(record.renew_time)
    assert back.acquire_time == pytest.approx(record.acquire_time)
    assert back.lease_transitions == 2


def electors(clock: FakeClock) -> tuple[MemoryLeaseStore, LeaderElector, LeaderElector]:
    store = MemoryLeaseStore()
    a = LeaderElector(store, ElectionConfig("a"), clock=clock)
    b = LeaderElector(store, ElectionConfig("b"), clock=clock)
    return store, a, b


def test_one_leader_and_failover_after_the_lease_expires() -> None:
    clock = FakeClock()
    store, a, b = electors(clock)
    assert a.step() is True
    assert b.step() is False
    assert b.holder == "a"
    # a keeps renewing every retry period; b never gets in.
    for _ in range(10):
        clock.advance(2)
        assert a.step() is True
        assert b.step() is False
    # a dies; b takes over once the 15 s lease ran out.
    clock.advance(14)
    assert b.step() is False
    clock.advance(1)
    assert b.step() is True
    assert store.record is not None
    assert store.record.holder_identity == "b"
    assert store.record.lease_transitions == 1


def test_leader_steps_down_when_it_cannot_renew_within_the_deadline() -> None:
    clock = FakeClock()
    store, a, _ = electors(clock)
    assert a.step() is True
    store.fail = True
    clock.advance(9)
    assert a.step() is True  # still inside the 10 s renew deadline
    clock.advance(1)
    assert a.step() is False


def test_store_compare_and_swap() -> None:
    store = MemoryLeaseStore()
    assert store.create(LeaseRecord("x", 15, 0, 0)) is True
    assert store.create(LeaseRecord("y", 15, 0, 0)) is False
    assert store.update(LeaseRecord("y", 15, 0, 0), "0") is False
    assert store.update(LeaseRecord("y", 15, 0, 0), "1") is True


class RacingStore(MemoryLeaseStore):
    """Someone else writes between our read and our write."""

    def get(self) -> tuple[LeaseRecord, str] | None:
        got = super().get()
        self.version += 1
        return got


def test_losing_the_compare_and_swap_race_means_not_leading() -> None:
    clock = FakeClock()
    store = RacingStore()
    store.create(LeaseRecord("x", 15, 0, 0))  # expired long ago
    a = LeaderElector(store, ElectionConfig("a"), clock=clock)
    assert a.step() is False
    assert store.record is not None
    assert store.record.holder_identity == "x"


def test_run_calls_back_on_start_and_stop() -> None:
    clock = FakeClock()
    store, a, _ = electors(clock)
    seen: list[str] = []
    ticks = iter(range(100))

    def sleep(seconds: float) -> None:
        clock.advance(seconds)
        if next(ticks) == 3:
            store.fail = True

    a.run(lambda: False, lambda: seen.append("start"), lambda: seen.append("stop"), sleep=sleep)
    assert seen == ["start", "stop"]
