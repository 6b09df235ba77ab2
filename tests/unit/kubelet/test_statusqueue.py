"""`StatusQueue`: the latest status per pod, one pod written at a time, pods in parallel."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from node_agent.kubelet.spec import changed_beyond_status
from node_agent.kubelet.statusqueue import StatusQueue
from tests.support import wait_until

pytestmark = pytest.mark.timeout(30)

Object = dict[str, Any]


def pod(uid: str) -> Object:
    return {"metadata": {"uid": uid, "name": uid}}


class GatedWriter:
    """Records writes; a write of a pod in `held` blocks until the test releases it."""

    def __init__(self) -> None:
        self.written: list[tuple[str, object]] = []
        self.held: set[str] = set()
        self.entered: set[str] = set()
        self.gate = threading.Event()
        self.lock = threading.Lock()

    def __call__(self, p: Object, status: Object) -> None:
        uid = p["metadata"]["uid"]
        with self.lock:
            self.entered.add(uid)
        if uid in self.held:
            self.gate.wait(10)
        with self.lock:
            self.written.append((uid, status["n"]))


def test_a_newer_status_replaces_a_queued_one_and_order_is_kept() -> None:
    w = GatedWriter()
    w.held.add("a")
    q = StatusQueue(w, workers=1)
    q.put("a", pod("a"), {"n": 1})
    wait_until(lambda: "a" in w.entered, 5)
    q.put("a", pod("a"), {"n": 2})  # waits behind the write in flight
    q.put("a", pod("a"), {"n": 3})  # replaces 2: only the latest matters
    assert q.idle_for() == 0.0
    w.gate.set()
    assert q.wait_idle(5)
    assert w.written == [("a", 1), ("a", 3)]
    q.stop()


def test_other_pods_are_written_while_one_is_slow() -> None:
    w = GatedWriter()
    w.held.add("slow")
    q = StatusQueue(w, workers=2)
    q.put("slow", pod("slow"), {"n": 1})
    wait_until(lambda: "slow" in w.entered, 5)
    for uid in ("b", "c", "d"):
        q.put(uid, pod(uid), {"n": 1})
    wait_until(lambda: len(w.written) == 3, 5, message="b, c, d written past the slow pod")
    assert {u for u, _ in w.written} == {"b", "c", "d"}
    assert not q.wait_idle(0.05)  # the slow one is still in flight
    w.gate.set()
    assert q.wait_idle(5)
    q.stop()


def test_one_pod_is_never_written_by_two_threads_at_once() -> None:
    active: set[str] = set()
    overlaps: list[str] = []
    lock = threading.Lock()
    done = []

    def write(p: Object, status: Object) -> None:
        uid = p["metadata"]["uid"]
        with lock:
            if uid in active:
                overlaps.append(uid)
            active.add(uid)
        threading.Event().wait(0.001)
        with lock:
            active.discard(uid)
            done.append((uid, status["n"]))

    q = StatusQueue(write, workers=4)
    for n in range(50):
        for uid in ("x", "y"):
            q.put(uid, pod(uid), {"n": n})
    assert q.wait_idle(10)
    assert overlaps == []
    for uid in ("x", "y"):
        seen = [n for u, n in done if u == uid]
        assert seen == sorted(seen)
        assert seen[-1] == 49  # the last status always lands
    q.stop()


def test_dropped_and_failed_writes() -> None:
    calls: list[str] = []

    def write(p: Object, status: Object) -> None:
        calls.append(p["metadata"]["uid"])
        if p["metadata"]["uid"] == "bad":
            raise RuntimeError("boom")

    w = GatedWriter()
    w.held.add("first")
    q = StatusQueue(w, workers=1)
    q.put("first", pod("first"), {"n": 1})
    wait_until(lambda: "first" in w.entered, 5)
    q.put("gone", pod("gone"), {"n": 1})
    q.drop("gone")
    w.gate.set()
    assert q.wait_idle(5)
    assert [u for u, _ in w.written] == ["first"]
    q.stop()
    q.put("late", pod("late"), {"n": 1})  # after stop: ignored
    assert q.idle_for() > 0.0

    q2 = StatusQueue(write, workers=1)
    q2.put("bad", pod("bad"), {"n": 1})
    q2.put("ok", pod("ok"), {"n": 1})
    assert q2.wait_idle(5)
    assert calls == ["bad", "ok"]  # a failing write does not stop the writer
    q2.stop()
    with pytest.raises(ValueError, match="workers=0"):
        StatusQueue(write, workers=0)


@pytest.mark.parametrize(
    ("old", "new", "changed"),
    [
        ({"spec": {"a": 1}, "status": {"phase": "Pending"}},
         {"spec": {"a": 1}, "status": {"phase": "Running"}}, False),
        ({"metadata": {"resourceVersion": "1"}, "spec": {}},
         {"metadata": {"resourceVersion": "2"}, "spec": {}}, False),
        ({"spec": {"nodeName": ""}}, {"spec": {"nodeName": "n1"}}, True),
        ({"metadata": {"labels": {"a": "1"}}}, {"metadata": {"labels": {"a": "2"}}}, True),
        ({"metadata": {}}, {"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}}, True),
    ],
    ids=["status-only", "rv-only", "spec", "labels", "deletion"],
)  # fmt: skip
def test_changed_beyond_status(old: Object, new: Object, changed: bool) -> None:
    assert changed_beyond_status(old, new) is changed


def test_events_wait_for_a_quiet_kubelet_but_not_for_ever() -> None:
    from node_agent.kubelet.apisource import EVENT_QUIET, ApiNode  # noqa: PLC0415

    api = ApiNode(client=FakeClient(), node_name="n1")  # type: ignore[arg-type]
    api.idle_for = lambda: 60.0
    t = time.monotonic()
    api._wait_quiet(30.0)  # nothing queued, nothing synced lately: well before the limit
    assert time.monotonic() - t < 10
    api.idle_for = lambda: 0.0
    t = time.monotonic()
    api._wait_quiet(0.3)  # syncing throughout: gives up at the limit
    assert time.monotonic() - t >= 0.3
    # Syncs end 0.2 s from now: the Event goes once the kubelet has been quiet for EVENT_QUIET.
    t = time.monotonic()
    api.idle_for = lambda: max(0.0, time.monotonic() - (t + 0.2))
    api._wait_quiet(30.0)
    assert 0.2 + EVENT_QUIET <= time.monotonic() - t < 10


def test_events_do_not_slip_into_a_short_pause_between_pods() -> None:
    from node_agent.kubelet.apisource import EVENT_QUIET, ApiNode  # noqa: PLC0415

    api = ApiNode(client=FakeClient(), node_name="n1")  # type: ignore[arg-type]
    # Idle for a moment every 0.1 s (pods arriving one after another), never for EVENT_QUIET.
    api.idle_for = lambda: (time.monotonic() % 0.1) / 2
    t = time.monotonic()
    api._wait_quiet(0.5)
    assert time.monotonic() - t >= 0.5
    assert EVENT_QUIET > 0.05


def test_a_backlog_of_events_waits_once_not_event_by_event(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from node_agent.kubelet import apisource  # noqa: PLC0415

    monkeypatch.setattr(apisource, "EVENT_DELAY_MAX", 0.3)
    client = FakeClient()
    api = apisource.ApiNode(client=client, node_name="n1")  # type: ignore[arg-type]
    api.idle_for = lambda: 0.0  # syncing throughout: never quiet
    t = time.monotonic()
    for i in range(5):
        api.event({"metadata": {"name": f"e{i}", "namespace": "default"}})
    wait_until(lambda: len(client.created) == 5, 10)
    took = [at - t for at, _ in client.created]
    assert took[0] >= 0.3  # the first waited for quiet, up to the limit
    assert took[-1] < 0.3 * 3  # the others had waited as long already: no 0.3 s each
    assert [e["metadata"]["name"] for _, e in client.created] == [f"e{i}" for i in range(5)]


def test_statusqueue_idle_for_counts_from_the_last_write() -> None:
    gate = threading.Event()

    def write(pod: Object, status: Object) -> None:
        gate.wait(5)

    q = StatusQueue(write, workers=1)
    q.put("a", {}, {})
    assert q.idle_for() == 0.0  # queued
    time.sleep(0.05)
    assert q.idle_for() == 0.0  # being written
    gate.set()
    assert q.wait_idle(5)
    assert 0.0 <= q.idle_for() < 1.0
    time.sleep(0.05)
    assert q.idle_for() >= 0.05
    q.put("b", {}, {})
    q.drop("b")  # dropped before a writer took it: idle again
    assert q.wait_idle(5)
    q.stop()


class FakeClient:
    """Enough of a client for ApiNode's informers to be built (they are never started), and
    for Events to be created."""

    def __init__(self) -> None:
        self.created: list[tuple[float, Object]] = []

    def create(self, resource: object, obj: Object, **_: object) -> Object:
        self.created.append((time.monotonic(), obj))
        return obj
