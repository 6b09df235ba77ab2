"""The watch cache over a fake store: ordering, resume, the window and 410 for laggards."""

from __future__ import annotations

import json
import queue
from collections.abc import Iterator

import pytest

from controlplane.apiserver.storage import KV, EventType, RangeResult, StoreEvent
from controlplane.apiserver.watchcache import CachedEvent, ResourceCache
from kubelab.api.errors import Gone
from tests.support import wait_until

PREFIX = "/registry/configmaps/"


def kv(name: str, rev: int, data: str = "") -> KV:
    obj = {"metadata": {"name": name, "namespace": "default"}, "data": {"v": data}}
    return KV(f"{PREFIX}default/{name}", json.dumps(obj).encode(), rev, rev)


class FakeWatch:
    def __init__(self, feed: queue.Queue[list[StoreEvent] | None]) -> None:
        self.feed = feed

    def events(self) -> Iterator[list[StoreEvent]]:
        while (batch := self.feed.get()) is not None:
            yield batch

    def close(self) -> None:
        self.feed.put(None)


class FakeStore:
    """Just what the cache uses: one range (the initial list) and one watch."""

    def __init__(self, initial: list[KV], revision: int) -> None:
        self.initial = initial
        self.rev = revision
        self.feed: queue.Queue[list[StoreEvent] | None] = queue.Queue()
        self.watches: list[int] = []
        self.prev_kv: list[bool] = []

    def range(self, prefix: str, **_: object) -> RangeResult:
        return RangeResult(list(self.initial), False, len(self.initial), self.rev)

    def watch(self, prefix: str, start_revision: int, *, prev_kv: bool = True) -> FakeWatch:
        self.watches.append(start_revision)
        self.prev_kv.append(prev_kv)
        return FakeWatch(self.feed)

    def put(self, name: str, data: str = "", *, prev: KV | None = None) -> KV:
        self.rev += 1
        new = kv(name, self.rev, data)
        self.feed.put([StoreEvent(EventType.PUT, new, prev)])
        return new

    def delete(self, prev: KV) -> None:
        self.rev += 1
        gone = KV(prev.key, b"", self.rev, 0)
        self.feed.put([StoreEvent(EventType.DELETE, gone, prev)])


@pytest.fixture
def store() -> FakeStore:
    return FakeStore([kv("a", 3)], revision=5)


def make_cache(store: FakeStore, capacity: int = 100) -> ResourceCache:
    cache = ResourceCache(store, PREFIX, capacity=capacity)  # type: ignore[arg-type]
    cache.wait_ready()
    return cache


def test_initial_state_then_events_in_order(store: FakeStore) -> None:
    cache = make_cache(store)
    try:
        objects, revision = cache.snapshot()
        assert [o["metadata"]["name"] for o in objects] == ["a"]
        assert revision == 5
        assert store.watches == [6]  # one store watch, from the listed revision + 1
        sub = cache.subscribe(revision)
        b1 = store.put("b")
        store.put("b", "2", prev=b1)
        store.delete(kv("a", 3))
        seen: list[CachedEvent] = []

        def three() -> bool:
            seen.extend(sub.next(0.1))
            return len(seen) == 3

        wait_until(three, 5)
        assert [(e.type, e.obj["metadata"]["name"], e.revision) for e in seen] == [
            (EventType.PUT, "b", 6), (EventType.PUT, "b", 7), (EventType.DELETE, "a", 8),
        ]  # fmt: skip
        assert seen[2].obj["metadata"]["resourceVersion"] == "8"
        assert seen[1].prev is not None
        # a second subscriber from the middle sees only what came after, decoded once
        late = cache.subscribe(6)
        events = late.next(0.1)
        assert [e.revision for e in events] == [7, 8]
        assert events[0] is seen[1]
        assert events[0].encoded() is seen[1].encoded()
    finally:
        cache.stop()


def test_events_carry_the_previous_object_from_the_cache_not_the_store(
    store: FakeStore,
) -> None:
    cache = make_cache(store)
    try:
        assert store.prev_kv == [False]  # the store sends no previous values
        sub = cache.subscribe(5)
        store.put("a", "new")  # no prev from the store, as with prev_kv=False
        store.delete(kv("a", 6, "new"))
        seen: list[CachedEvent] = []

        def two() -> bool:
            seen.extend(sub.next(0.1))
            return len(seen) == 2

        wait_until(two, 5)
        put, gone = seen
        assert put.prev is not None
        assert put.prev["data"] == {"v": ""}  # the listed object, revision 3
        assert put.prev["metadata"]["resourceVersion"] == "3"
        assert put.obj["data"] == {"v": "new"}
        assert gone.prev is put.obj  # the state before the delete
        assert gone.obj["data"] == {"v": "new"}
        assert gone.obj["metadata"]["resourceVersion"] == "7"
        assert put.obj["metadata"]["resourceVersion"] == "6"  # the delete's copy, not the object
    finally:
        cache.stop()


def test_a_subscriber_behind_the_window_gets_gone(store: FakeStore) -> None:
    cache = make_cache(store, capacity=2)
    try:
        sub = cache.subscribe(5)
        for i in range(4):
            store.put(f"n{i}")
        wait_until(lambda: cache.revision == 9, 5)
        assert cache.floor == 7
        with pytest.raises(Gone):
            sub.next(0.1)
        assert [e.revision for e in cache.subscribe(7).next(0.1)] == [8, 9]
    finally:
        cache.stop()


def test_poll_does_not_wait_and_listeners_hear_of_each_applied_batch(store: FakeStore) -> None:
    cache = make_cache(store)
    heard: list[int] = []
    listener = lambda: heard.append(cache.revision)  # noqa: E731
    cache.add_listener(listener)
    try:
        sub = cache.subscribe(5)
        assert sub.poll() == []  # nothing new: answers at once
        store.put("b")
        wait_until(lambda: heard == [6], 5)
        assert [e.revision for e in sub.poll()] == [6]
        cache.remove_listener(listener)
        store.put("c")
        wait_until(lambda: cache.revision == 7, 5)
        assert heard == [6]
    finally:
        cache.stop()
