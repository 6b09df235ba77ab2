from __future__ import annotations

from kubelab.client.workqueue import WorkQueue


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_keys_are_deduplicated() -> None:
    q: WorkQueue[str] = WorkQueue()
    for key in ("a", "b", "a", "a"):
        q.add(key)
    assert len(q) == 2
    assert [q.get(timeout=0), q.get(timeout=0)] == ["a", "b"]
    assert q.get(timeout=0) is None


def test_key_added_while_processing_comes_back_after_done() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    assert q.get(timeout=0) == "a"
    q.add("a")  # a change arrives while a worker holds "a"
    assert q.get(timeout=0) is None  # never two workers on one key
    q.done("a")
    assert q.get(timeout=0) == "a"


def test_rate_limited_requeue_backs_off_exponentially() -> None:
    clock = FakeClock()
    q: WorkQueue[str] = WorkQueue(base_delay=1.0, clock=clock)
    q.add_rate_limited("a")
    assert q.get(timeout=0) is None
    clock.now = 1.0
    assert q.get(timeout=0) == "a"
    q.done("a")
    q.add_rate_limited("a")
    clock.now = 2.5
    assert q.get(timeout=0) is None  # second failure waits 2s
    clock.now = 3.0
    assert q.get(timeout=0) == "a"
    assert q.num_requeues("a") == 2
    q.forget("a")
    assert q.num_requeues("a") == 0


def test_shutdown_releases_waiters() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.shutdown()
    assert q.get() is None
    q.add("late")
    assert len(q) == 0
