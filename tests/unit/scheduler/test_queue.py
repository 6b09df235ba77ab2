from __future__ import annotations

import pytest

from controlplane.scheduler.inmemory import make_pod
from controlplane.scheduler.queue import QueuedPod, SchedulingQueue
from tests.unit.scheduler.fakeclock import FakeClock


def fail(q: SchedulingQueue) -> QueuedPod:
    qp = q.pop()
    assert qp is not None
    q.add_unschedulable(qp)
    return qp


def test_pops_by_priority_then_arrival() -> None:
    clock = FakeClock()
    q = SchedulingQueue(clock)
    q.add(make_pod("a"))
    clock.advance(1)
    q.add(make_pod("b", priority=100))
    clock.advance(1)
    q.add(make_pod("c"))
    order = []
    while (qp := q.pop()) is not None:
        order.append(qp.key)
    assert order == ["default/b", "default/a", "default/c"]


def test_unschedulable_pod_waits_for_a_cluster_event() -> None:
    clock = FakeClock()
    q = SchedulingQueue(clock)
    q.add(make_pod("web"))
    fail(q)
    clock.advance(60)
    assert q.pop() is None
    assert q.pending()["unschedulable"] == ["default/web"]
    assert q.move_all("NodeAdd") == 1
    qp = q.pop()
    assert qp is not None
    assert qp.key == "default/web"
    assert qp.attempts == 2


def test_moved_pod_still_backing_off_waits_in_the_backoff_queue() -> None:
    clock = FakeClock()
    q = SchedulingQueue(clock, initial_backoff=1.0, max_backoff=10.0)
    q.add(make_pod("web"))
    fail(q)  # attempt 1 -> back-off 1 s
    q.move_all("NodeAdd")
    assert q.pending()["backoff"] == ["default/web"]
    assert q.pop() is None
    assert q.next_ready_in() == pytest.approx(1.0)
    clock.advance(1.0)
    assert q.pop() is not None


@pytest.mark.parametrize(
    ("attempts", "want"),
    [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 10.0), (9, 10.0)],
    ids=["1st", "2nd", "3rd", "4th", "capped", "stays capped"],
)
def test_backoff_doubles_up_to_the_maximum(attempts: int, want: float) -> None:
    q = SchedulingQueue(FakeClock(), initial_backoff=1.0, max_backoff=10.0)
    assert q.backoff_duration(QueuedPod(key="x", pod={}, attempts=attempts)) == want  # type: ignore[arg-type]


def test_event_during_the_cycle_sends_the_pod_to_backoff_not_the_pool() -> None:
    clock = FakeClock()
    q = SchedulingQueue(clock)
    q.add(make_pod("web"))
    qp = q.pop()
    assert qp is not None
    q.move_all("NodeAdd")  # arrives while the pod is being scheduled
    q.add_unschedulable(qp)
    assert q.pending()["backoff"] == ["default/web"]
    clock.advance(1.0)
    assert q.pop() is not None


def test_pool_is_flushed_after_max_unschedulable() -> None:
    clock = FakeClock()
    q = SchedulingQueue(clock, max_unschedulable=300.0)
    q.add(make_pod("web"))
    fail(q)
    clock.advance(299)
    assert q.pop() is None
    clock.advance(1)
    assert q.pop() is not None


def test_errors_go_to_backoff_whatever_the_cluster_does() -> None:
    clock = FakeClock()
    q = SchedulingQueue(clock)
    q.add(make_pod("web"))
    qp = q.pop()
    assert qp is not None
    q.add_backoff(qp)
    assert q.pop() is None
    clock.advance(1.0)
    assert q.pop() is not None


def test_spec_update_moves_an_unschedulable_pod_but_a_status_update_does_not() -> None:
    clock = FakeClock()
    q = SchedulingQueue(clock)
    pod = make_pod("web", cpu="8")
    q.add(pod)
    fail(q)
    clock.advance(30)
    with_status = make_pod("web", cpu="8")
    with_status["status"]["conditions"] = [{"type": "PodScheduled", "status": "False"}]
    with_status["metadata"]["resourceVersion"] = "7"
    q.update(with_status)
    assert q.pop() is None
    q.update(make_pod("web", cpu="1"))
    qp = q.pop()
    assert qp is not None
    assert qp.pod["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "1"


def test_deleted_pods_are_gone_from_every_pool() -> None:
    q = SchedulingQueue(FakeClock())
    q.add(make_pod("a"))
    q.add(make_pod("b"))
    fail(q)  # a -> pool
    q.delete("default/a")  # type: ignore[arg-type]
    q.delete("default/b")  # type: ignore[arg-type]
    q.move_all()
    assert q.pop() is None
    assert len(q) == 0


def test_adding_twice_keeps_one_entry() -> None:
    q = SchedulingQueue(FakeClock())
    q.add(make_pod("a"))
    q.add(make_pod("a"))
    assert q.pop() is not None
    assert q.pop() is None


def test_spec_change_during_the_attempt_retries_after_backoff() -> None:
    clock = FakeClock()
    q = SchedulingQueue(clock)
    q.add(make_pod("web", cpu="8"))
    qp = q.pop()
    assert qp is not None
    q.update(make_pod("web", cpu="1"))  # arrives while the old spec is being scheduled
    q.add_unschedulable(qp)
    assert q.pending()["backoff"] == ["default/web"]
