from __future__ import annotations

from node_agent.kubelet.backoff import BackOff, BackOffPolicy


def test_first_restart_is_immediate_then_delays_double_up_to_the_maximum() -> None:
    b = BackOff(BackOffPolicy(initial=10, maximum=40, reset_after=600))
    key = "uid/c"
    assert b.remaining(key, finished_at=100, now=100) == 0
    delays = []
    now = 100.0
    for _ in range(5):
        delays.append(b.next(key, now))
        now += 1
    assert delays == [10, 20, 40, 40, 40]


def test_remaining_counts_from_the_finish_time() -> None:
    b = BackOff(BackOffPolicy(initial=10, maximum=300))
    b.next("k", now=100)
    assert b.remaining("k", finished_at=105, now=106) == 9
    assert b.remaining("k", finished_at=105, now=115) == 0


def test_a_long_run_resets_the_back_off() -> None:
    b = BackOff(BackOffPolicy(initial=10, maximum=300, reset_after=600))
    for t in (0, 1, 2):
        b.next("k", now=t)
    assert b.delay("k") == 40
    b.note_run("k", started_at=10, finished_at=400)
    assert b.delay("k") == 40
    b.note_run("k", started_at=10, finished_at=700)
    assert b.delay("k") == 0
    assert b.next("k", now=700) == 10


def test_idle_entries_expire_after_twice_the_maximum() -> None:
    b = BackOff(BackOffPolicy(initial=10, maximum=60))
    b.next("k", now=0)
    b.next("k", now=1)
    assert b.remaining("k", finished_at=200, now=200) == 0  # idle 199 s > 120 s
    assert b.next("k", now=200) == 10


def test_forget_prefix_drops_a_pods_entries() -> None:
    b = BackOff()
    b.next("u1/a", now=0)
    b.next("u2/a", now=0)
    b.forget_prefix("u1/")
    assert b.delay("u1/a") == 0
    assert b.delay("u2/a") == 10
